// Windows only: the Node-API functions (and libuv's uv_open_osfhandle) the addon calls, taken from
// the process that loads it, not from a DLL named node.exe.
//
// A Node-API addon normally imports its napi_* functions from "node.exe" (node.lib) and relies on
// a delay-load hook to redirect that import to the host when the executable has another name. The
// single-file executable is node.exe renamed (heimdall-win-x64.exe): an ordinary import of
// "node.exe" would make the loader look for a file of that name on the DLL search path, fail, or
// worse load whichever node.exe it finds there (a planted one). So the addon imports nothing from
// Node at all: when the loader attaches it, DllMain resolves every function below with
// GetProcAddress(GetModuleHandle(NULL), name) (the running executable exports them, node.exe and
// its renamed copies alike) and refuses to load if any is missing. `objdump -p` of the built DLL
// shows only system DLLs imported (test/installer/windows-addon.test.ts).
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

// Plain declarations: this file defines the functions itself, as forwarders.
#define NAPI_EXTERN
#include <node_api.h>

// X(return type, name, (parameters), (arguments))
#define HOST_FUNCTIONS(X)                                                                                              \
  X(napi_status, napi_get_cb_info,                                                                                     \
    (napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *this_arg, void **data),        \
    (env, info, argc, argv, this_arg, data))                                                                           \
  X(napi_status, napi_throw_error, (napi_env env, const char *code, const char *msg), (env, code, msg))                \
  X(napi_status, napi_throw_type_error, (napi_env env, const char *code, const char *msg), (env, code, msg))           \
  X(napi_status, napi_create_object, (napi_env env, napi_value *result), (env, result))                                \
  X(napi_status, napi_create_function,                                                                                 \
    (napi_env env, const char *name, size_t length, napi_callback cb, void *data, napi_value *result),                 \
    (env, name, length, cb, data, result))                                                                             \
  X(napi_status, napi_set_named_property, (napi_env env, napi_value object, const char *name, napi_value value),       \
    (env, object, name, value))                                                                                        \
  X(napi_status, napi_create_uint32, (napi_env env, uint32_t value, napi_value *result), (env, value, result))         \
  X(napi_status, napi_create_int32, (napi_env env, int32_t value, napi_value *result), (env, value, result))            \
  X(napi_status, napi_get_boolean, (napi_env env, bool value, napi_value *result), (env, value, result))               \
  X(napi_status, napi_get_null, (napi_env env, napi_value *result), (env, result))                                     \
  X(napi_status, napi_create_string_utf16, (napi_env env, const char16_t *str, size_t length, napi_value *result),     \
    (env, str, length, result))                                                                                        \
  X(napi_status, napi_get_value_int32, (napi_env env, napi_value value, int32_t *result), (env, value, result))        \
  X(napi_status, napi_get_value_double, (napi_env env, napi_value value, double *result), (env, value, result))        \
  X(napi_status, napi_get_value_string_utf8, (napi_env env, napi_value value, char *buf, size_t size, size_t *result), \
    (env, value, buf, size, result))                                                                                   \
  X(napi_status, napi_get_value_string_utf16,                                                                          \
    (napi_env env, napi_value value, char16_t *buf, size_t size, size_t *result), (env, value, buf, size, result))

#define DECLARE_POINTER(ret, name, params, args) static ret(NAPI_CDECL *host_##name) params;
HOST_FUNCTIONS(DECLARE_POINTER)

#define DEFINE_FORWARDER(ret, name, params, args) \
  ret NAPI_CDECL name params { return host_##name args; }
HOST_FUNCTIONS(DEFINE_FORWARDER)

// libuv's, exported by node.exe: wraps a HANDLE in a C runtime descriptor of node's own (statically
// linked) runtime, which net.Socket({ fd }) accepts. The addon's own C runtime has other descriptors.
static int(__cdecl *host_uv_open_osfhandle)(HANDLE handle);

int heimdall_open_osfhandle(HANDLE handle) { return host_uv_open_osfhandle(handle); }

static BOOL resolve_host_functions(void) {
  HMODULE host = GetModuleHandleW(NULL);
  if (!host) return FALSE;
#define RESOLVE(ret, name, params, args)                                  \
  host_##name = (ret(NAPI_CDECL *) params)(void *)GetProcAddress(host, #name); \
  if (!host_##name) return FALSE;
  HOST_FUNCTIONS(RESOLVE)
  host_uv_open_osfhandle = (int(__cdecl *)(HANDLE))(void *)GetProcAddress(host, "uv_open_osfhandle");
  return host_uv_open_osfhandle != NULL;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved) {
  (void)reserved;
  if (reason != DLL_PROCESS_ATTACH) return TRUE;
  DisableThreadLibraryCalls(instance);
  // FALSE makes LoadLibrary (process.dlopen) fail: a host without Node-API gets no half-working addon.
  if (!resolve_host_functions()) {
    SetLastError(ERROR_PROC_NOT_FOUND);
    return FALSE;
  }
  return TRUE;
}
