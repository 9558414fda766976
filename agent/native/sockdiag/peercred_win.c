// The Windows call the daemon needs and Node has no API for (Node-API, C, Windows only; built by
// binding.gyp on Windows alone).
//
// pipeClient(handle) -> { pid, sid, user, privileged }: who is on the other end of a connected named
//   pipe instance, from the kernel: GetNamedPipeClientProcessId, then that process's primary token
//   (OpenProcessToken): the account SID (TokenUser), its DOMAIN\name (LookupAccountSidW), and whether
//   it is LocalSystem or an elevated token (TokenElevation). `handle` is the pipe's HANDLE as a
//   number. Nothing the client chooses (its image name, command line) enters the answer.
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <sddl.h>
#include <stdio.h>

#include <node_api.h>

static napi_value fail(napi_env env, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s failed: Windows error %lu", what, (unsigned long)GetLastError());
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value utf16_to_js(napi_env env, const wchar_t *text) {
  napi_value out;
  napi_create_string_utf16(env, (const char16_t *)text, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value pipe_client(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t raw = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &raw) != napi_ok || raw <= 0) {
    napi_throw_type_error(env, NULL, "pipeClient(handle): handle must be a positive integer");
    return NULL;
  }
  HANDLE pipe = (HANDLE)(intptr_t)raw;
  ULONG client_pid = 0;
  if (!GetNamedPipeClientProcessId(pipe, &client_pid)) return fail(env, "GetNamedPipeClientProcessId");
  HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, client_pid);
  if (!process) return fail(env, "OpenProcess");
  HANDLE token = NULL;
  BOOL ok = OpenProcessToken(process, TOKEN_QUERY, &token);
  CloseHandle(process);
  if (!ok) return fail(env, "OpenProcessToken");

  napi_value result = NULL;
  BYTE user_buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
  DWORD size = 0;
  TOKEN_ELEVATION elevation = {0};
  wchar_t *sid_text = NULL;
  if (!GetTokenInformation(token, TokenUser, user_buf, sizeof user_buf, &size)) {
    fail(env, "GetTokenInformation(TokenUser)");
    goto done;
  }
  if (!GetTokenInformation(token, TokenElevation, &elevation, sizeof elevation, &size)) {
    fail(env, "GetTokenInformation(TokenElevation)");
    goto done;
  }
  PSID sid = ((TOKEN_USER *)user_buf)->User.Sid;
  if (!ConvertSidToStringSidW(sid, &sid_text)) {
    fail(env, "ConvertSidToStringSidW");
    goto done;
  }
  wchar_t name[257], domain[257], qualified[515];
  DWORD name_len = 257, domain_len = 257;
  SID_NAME_USE use;
  BOOL named = LookupAccountSidW(NULL, sid, name, &name_len, domain, &domain_len, &use);
  BOOL system = IsWellKnownSid(sid, WinLocalSystemSid);

  napi_value pid, privileged;
  napi_create_object(env, &result);
  napi_create_uint32(env, client_pid, &pid);
  napi_get_boolean(env, system || elevation.TokenIsElevated, &privileged);
  napi_set_named_property(env, result, "pid", pid);
  napi_set_named_property(env, result, "sid", utf16_to_js(env, sid_text));
  if (named) {
    _snwprintf_s(qualified, 515, _TRUNCATE, L"%s\\%s", domain, name);
    napi_set_named_property(env, result, "user", utf16_to_js(env, qualified));
  }
  napi_set_named_property(env, result, "privileged", privileged);
done:
  if (sid_text) LocalFree(sid_text);
  CloseHandle(token);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  if (napi_create_function(env, "pipeClient", NAPI_AUTO_LENGTH, pipe_client, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "pipeClient", fn) != napi_ok) return NULL;
  return exports;
}
