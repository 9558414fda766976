// The Windows calls the daemon needs and Node has no API for (Node-API, C, Windows only). Built with
// MSVC by binding.gyp on Windows, and with Debian's mingw-w64 cross compiler by the executables'
// build (installer/src/executables/addon.ts), together with host_api_win.c, which takes the Node-API
// functions from the running executable (a renamed node.exe) instead of importing "node.exe".
//
// tcpPeer(family, peerAddr, peerPort, ownAddr, ownPort) -> { pid, sid, user?, privileged } | null:
//   who is on the other end of a loopback TCP connection the daemon accepted. The kernel's TCP
//   table (GetExtendedTcpTable) names the process that owns the peer's end (its local end is the
//   peer address, its remote end the daemon's); that process's primary token names the account
//   (TokenUser -> SID, LookupAccountSidW -> DOMAIN\name) and whether it is LocalSystem or elevated
//   (TokenElevation). A process started after the connection was made is not its owner (the owner
//   exited and its id was reused): refused. Nothing the client chooses (image name, command line,
//   window title) enters the answer. null when the table has no such connection (the client left).
// tcpOwnerPid(family, localAddr, localPort, remoteAddr, remotePort) -> number | null: the process
//   owning the connection with exactly that local and remote end (the CLI asks it about the daemon's
//   end of its own connection, to know it reached the service and not a process squatting the port).
// servicePid(name) -> number | null: the process id the service control manager gives for a running
//   service (null when it is not running).
// spawnAsUser(sid, application, commandLine, environment) -> { pid, stdin, stdout, stderr }: starts
//   a process as the user with that SID, under the token of the user's own logon session
//   (WTSQueryUserToken: the user's ordinary, filtered token, never an elevated one), with three
//   anonymous pipes as its standard handles and no other handle of the daemon inherited
//   (PROC_THREAD_ATTRIBUTE_HANDLE_LIST). The parent's ends come back as descriptors of Node's own C
//   runtime for net.Socket({ fd }). Throws when the user has no logon session: file work for a user
//   who is not signed in to Windows is refused, never done as SYSTEM.
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <iphlpapi.h>
#include <sddl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wtsapi32.h>

#include <node_api.h>

// wtsapi32.dll is neither a KnownDLL nor loaded by node.exe: imported statically, the loader would
// look for it first in the addon's own (temporary) folder (Node loads addons with
// LOAD_WITH_ALTERED_SEARCH_PATH). Taken from System32 only, when first needed.
typedef BOOL(WINAPI *wts_enumerate_sessions)(HANDLE, DWORD, DWORD, PWTS_SESSION_INFOW *, DWORD *);
typedef BOOL(WINAPI *wts_query_user_token)(ULONG, PHANDLE);
typedef void(WINAPI *wts_free_memory)(PVOID);
static struct {
  wts_enumerate_sessions enumerate_sessions;
  wts_query_user_token query_user_token;
  wts_free_memory free_memory;
} wts;

static BOOL load_wtsapi(void) {
  if (wts.free_memory) return TRUE;
  HMODULE dll = LoadLibraryExW(L"wtsapi32.dll", NULL, LOAD_LIBRARY_SEARCH_SYSTEM32);
  if (!dll) return FALSE;
  wts.enumerate_sessions = (wts_enumerate_sessions)(void *)GetProcAddress(dll, "WTSEnumerateSessionsW");
  wts.query_user_token = (wts_query_user_token)(void *)GetProcAddress(dll, "WTSQueryUserToken");
  wts.free_memory = (wts_free_memory)(void *)GetProcAddress(dll, "WTSFreeMemory");
  if (!wts.enumerate_sessions || !wts.query_user_token || !wts.free_memory) {
    wts.free_memory = NULL;
    SetLastError(ERROR_PROC_NOT_FOUND);
    return FALSE;
  }
  return TRUE;
}

int heimdall_open_osfhandle(HANDLE handle);  // host_api_win.c (MSVC builds: see binding.gyp)

static napi_value fail(napi_env env, const char *what) {
  char message[200];
  snprintf(message, sizeof message, "%s failed: Windows error %lu", what, (unsigned long)GetLastError());
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value utf16_to_js(napi_env env, const wchar_t *text) {
  napi_value out;
  napi_create_string_utf16(env, (const char16_t *)text, NAPI_AUTO_LENGTH, &out);
  return out;
}

static int read_port(napi_env env, napi_value v, uint16_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 65535) || d != (double)(int)d) return 0;
  *out = (uint16_t)d;
  return 1;
}

static int read_address(napi_env env, napi_value v, int family, unsigned char out[16]) {
  char text[INET6_ADDRSTRLEN + 1];
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, text, sizeof text, &len) != napi_ok || len >= sizeof text - 1) return 0;
  return inet_pton(family, text, out) == 1;
}

struct tcp_end {
  int family;  // AF_INET or AF_INET6
  unsigned char local[16], remote[16];
  uint16_t lport, rport;  // host byte order
};

// Reads (family, localAddr, localPort, remoteAddr, remotePort) from argv.
static int read_ends(napi_env env, napi_callback_info info, struct tcp_end *end, const char *usage) {
  size_t argc = 5;
  napi_value argv[5];
  int32_t family = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_int32(env, argv[0], &family) != napi_ok || (family != 4 && family != 6)) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  end->family = family == 4 ? AF_INET : AF_INET6;
  if (!read_address(env, argv[1], end->family, end->local) || !read_port(env, argv[2], &end->lport) ||
      !read_address(env, argv[3], end->family, end->remote) || !read_port(env, argv[4], &end->rport)) {
    napi_throw_type_error(env, NULL, usage);
    return 0;
  }
  return 1;
}

// The owner of the connection with exactly these ends: 1 found, 0 none, -1 on failure (GetLastError).
// `created` is the connection's creation time (FILETIME units; 0 when the table does not say).
static int find_owner(const struct tcp_end *end, DWORD *pid, ULONGLONG *created) {
  TCP_TABLE_CLASS table_class = TCP_TABLE_OWNER_MODULE_CONNECTIONS;
  DWORD size = 0, rc;
  void *table = NULL;
  // The table grows between the size query and the read when connections open meanwhile: retry.
  for (int attempt = 0; attempt < 4; attempt++) {
    rc = GetExtendedTcpTable(table, &size, FALSE, end->family, table_class, 0);
    if (rc == NO_ERROR) break;
    if (rc != ERROR_INSUFFICIENT_BUFFER) {
      free(table);
      SetLastError(rc);
      return -1;
    }
    free(table);
    size += 4096;
    table = malloc(size);
    if (!table) {
      SetLastError(ERROR_NOT_ENOUGH_MEMORY);
      return -1;
    }
  }
  if (rc != NO_ERROR) {
    free(table);
    SetLastError(rc);
    return -1;
  }
  int found = 0;
  u_short lport = htons(end->lport), rport = htons(end->rport);
  if (end->family == AF_INET) {
    const MIB_TCPTABLE_OWNER_MODULE *t = table;
    for (DWORD i = 0; i < t->dwNumEntries && !found; i++) {
      const MIB_TCPROW_OWNER_MODULE *r = &t->table[i];
      if (r->dwState == MIB_TCP_STATE_ESTAB && (u_short)r->dwLocalPort == lport && (u_short)r->dwRemotePort == rport &&
          memcmp(&r->dwLocalAddr, end->local, 4) == 0 && memcmp(&r->dwRemoteAddr, end->remote, 4) == 0) {
        *pid = r->dwOwningPid;
        *created = (ULONGLONG)r->liCreateTimestamp.QuadPart;
        found = 1;
      }
    }
  } else {
    const MIB_TCP6TABLE_OWNER_MODULE *t = table;
    for (DWORD i = 0; i < t->dwNumEntries && !found; i++) {
      const MIB_TCP6ROW_OWNER_MODULE *r = &t->table[i];
      if (r->dwState == MIB_TCP_STATE_ESTAB && (u_short)r->dwLocalPort == lport && (u_short)r->dwRemotePort == rport &&
          memcmp(r->ucLocalAddr, end->local, 16) == 0 && memcmp(r->ucRemoteAddr, end->remote, 16) == 0) {
        *pid = r->dwOwningPid;
        *created = (ULONGLONG)r->liCreateTimestamp.QuadPart;
        found = 1;
      }
    }
  }
  free(table);
  return found;
}

static napi_value tcp_owner_pid(napi_env env, napi_callback_info info) {
  struct tcp_end end;
  if (!read_ends(env, info, &end, "tcpOwnerPid(family 4 | 6, localAddr, localPort 0-65535, remoteAddr, remotePort 0-65535)")) return NULL;
  DWORD pid = 0;
  ULONGLONG created = 0;
  int found = find_owner(&end, &pid, &created);
  if (found < 0) return fail(env, "GetExtendedTcpTable");
  napi_value out;
  if (found) napi_create_uint32(env, pid, &out);
  else napi_get_null(env, &out);
  return out;
}

// { pid, sid, user?, privileged } from the process's primary token; NULL with an exception thrown.
static napi_value describe_process(napi_env env, DWORD pid, ULONGLONG connection_created) {
  HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (!process) return fail(env, "OpenProcess");
  FILETIME created, exited, kernel, user;
  if (!GetProcessTimes(process, &created, &exited, &kernel, &user)) {
    CloseHandle(process);
    return fail(env, "GetProcessTimes");
  }
  ULONGLONG process_created = ((ULONGLONG)created.dwHighDateTime << 32) | created.dwLowDateTime;
  if (connection_created != 0 && process_created > connection_created) {
    CloseHandle(process);
    napi_throw_error(env, NULL, "the process that made the connection is gone and its id now names a newer process");
    return NULL;
  }
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

  napi_value pid_value, privileged;
  napi_create_object(env, &result);
  napi_create_uint32(env, pid, &pid_value);
  napi_get_boolean(env, system || elevation.TokenIsElevated, &privileged);
  napi_set_named_property(env, result, "pid", pid_value);
  napi_set_named_property(env, result, "sid", utf16_to_js(env, sid_text));
  if (named) {
    _snwprintf(qualified, 514, L"%ls\\%ls", domain, name);
    qualified[514] = 0;
    napi_set_named_property(env, result, "user", utf16_to_js(env, qualified));
  }
  napi_set_named_property(env, result, "privileged", privileged);
done:
  if (sid_text) LocalFree(sid_text);
  CloseHandle(token);
  return result;
}

static napi_value tcp_peer(napi_env env, napi_callback_info info) {
  struct tcp_end end;
  if (!read_ends(env, info, &end, "tcpPeer(family 4 | 6, peerAddr, peerPort 0-65535, ownAddr, ownPort 0-65535)")) return NULL;
  DWORD pid = 0;
  ULONGLONG created = 0;
  int found = find_owner(&end, &pid, &created);
  if (found < 0) return fail(env, "GetExtendedTcpTable");
  if (!found) {
    napi_value none;
    napi_get_null(env, &none);
    return none;
  }
  return describe_process(env, pid, created);
}

static int read_utf16(napi_env env, napi_value v, wchar_t **out, size_t *length) {
  size_t len = 0;
  if (napi_get_value_string_utf16(env, v, NULL, 0, &len) != napi_ok || len > 32766) return 0;
  *out = calloc(len + 2, sizeof(wchar_t));  // two NULs: an environment block ends with an empty string
  if (!*out) return 0;
  if (napi_get_value_string_utf16(env, v, (char16_t *)*out, len + 1, &len) != napi_ok) {
    free(*out);
    *out = NULL;
    return 0;
  }
  if (length) *length = len;
  return 1;
}

static napi_value service_pid(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  wchar_t *name = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !read_utf16(env, argv[0], &name, NULL)) {
    napi_throw_type_error(env, NULL, "servicePid(name): name must be a string");
    return NULL;
  }
  napi_value out;
  napi_get_null(env, &out);
  SC_HANDLE manager = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
  if (!manager) {
    free(name);
    return fail(env, "OpenSCManagerW");
  }
  SC_HANDLE service = OpenServiceW(manager, name, SERVICE_QUERY_STATUS);
  free(name);
  if (service) {
    SERVICE_STATUS_PROCESS status;
    DWORD needed = 0;
    if (QueryServiceStatusEx(service, SC_STATUS_PROCESS_INFO, (BYTE *)&status, sizeof status, &needed) &&
        status.dwCurrentState == SERVICE_RUNNING && status.dwProcessId != 0) {
      napi_create_uint32(env, status.dwProcessId, &out);
    }
    CloseServiceHandle(service);
  }
  CloseServiceHandle(manager);
  return out;
}

// The primary token of `sid`'s logon session (an active one first); NULL when the user has none.
static HANDLE session_token_for(PSID sid) {
  WTS_SESSION_INFOW *sessions = NULL;
  DWORD count = 0;
  if (!load_wtsapi() || !wts.enumerate_sessions(WTS_CURRENT_SERVER_HANDLE, 0, 1, &sessions, &count)) return NULL;
  HANDLE chosen = NULL;
  for (int pass = 0; pass < 2 && !chosen; pass++) {
    for (DWORD i = 0; i < count && !chosen; i++) {
      if (pass == 0 && sessions[i].State != WTSActive) continue;
      HANDLE token = NULL;
      if (!wts.query_user_token(sessions[i].SessionId, &token)) continue;
      BYTE user_buf[SECURITY_MAX_SID_SIZE + sizeof(TOKEN_USER)];
      DWORD size = 0;
      if (GetTokenInformation(token, TokenUser, user_buf, sizeof user_buf, &size) &&
          EqualSid(((TOKEN_USER *)user_buf)->User.Sid, sid)) {
        chosen = token;
      } else {
        CloseHandle(token);
      }
    }
  }
  wts.free_memory(sessions);
  if (!chosen) SetLastError(ERROR_NO_SUCH_LOGON_SESSION);
  return chosen;
}

static void close_all(HANDLE *handles, int n) {
  for (int i = 0; i < n; i++)
    if (handles[i]) CloseHandle(handles[i]);
}

static napi_value spawn_as_user(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  wchar_t *sid_text = NULL, *application = NULL, *command_line = NULL, *environment = NULL;
  size_t env_len = 0;
  napi_value result = NULL;
  PSID sid = NULL;
  HANDLE token = NULL;
  // [0..2]: the child's stdin read end, stdout write end, stderr write end; [3..5]: the parent's ends.
  HANDLE pipes[6] = {0};
  LPPROC_THREAD_ATTRIBUTE_LIST attributes = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || !read_utf16(env, argv[0], &sid_text, NULL) ||
      !read_utf16(env, argv[1], &application, NULL) || !read_utf16(env, argv[2], &command_line, NULL) ||
      !read_utf16(env, argv[3], &environment, &env_len)) {
    napi_throw_type_error(env, NULL, "spawnAsUser(sid, application, commandLine, environment): four strings, each under 32,767 characters");
    goto done;
  }
  if (env_len < 2 || environment[env_len - 1] != 0) {
    napi_throw_type_error(env, NULL, "spawnAsUser: environment must be NAME=value entries each ended by a NUL character");
    goto done;
  }
  if (!ConvertStringSidToSidW(sid_text, &sid)) {
    fail(env, "ConvertStringSidToSidW");
    goto done;
  }
  token = session_token_for(sid);
  if (!token) {
    fail(env, "finding a Windows logon session of that user (WTSQueryUserToken)");
    goto done;
  }
  SECURITY_ATTRIBUTES inheritable = {sizeof inheritable, NULL, TRUE};
  if (!CreatePipe(&pipes[0], &pipes[3], &inheritable, 0) || !CreatePipe(&pipes[4], &pipes[1], &inheritable, 0) ||
      !CreatePipe(&pipes[5], &pipes[2], &inheritable, 0)) {
    fail(env, "CreatePipe");
    goto done;
  }
  for (int i = 3; i < 6; i++) SetHandleInformation(pipes[i], HANDLE_FLAG_INHERIT, 0);

  SIZE_T attr_size = 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &attr_size);
  attributes = malloc(attr_size);
  if (!attributes || !InitializeProcThreadAttributeList(attributes, 1, 0, &attr_size) ||
      !UpdateProcThreadAttribute(attributes, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, pipes, 3 * sizeof(HANDLE), NULL, NULL)) {
    fail(env, "limiting the inherited handles (PROC_THREAD_ATTRIBUTE_HANDLE_LIST)");
    goto done;
  }
  STARTUPINFOEXW startup;
  memset(&startup, 0, sizeof startup);
  startup.StartupInfo.cb = sizeof startup;
  startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  startup.StartupInfo.hStdInput = pipes[0];
  startup.StartupInfo.hStdOutput = pipes[1];
  startup.StartupInfo.hStdError = pipes[2];
  // "": the process gets a window station of its own logon session rather than the service's,
  // whose security would not let the user's process initialise.
  startup.StartupInfo.lpDesktop = L"";
  startup.lpAttributeList = attributes;
  PROCESS_INFORMATION child;
  if (!CreateProcessAsUserW(token, application, command_line, NULL, NULL, TRUE,
                            CREATE_NO_WINDOW | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT, environment, NULL,
                            &startup.StartupInfo, &child)) {
    fail(env, "CreateProcessAsUserW");
    goto done;
  }
  CloseHandle(child.hThread);
  CloseHandle(child.hProcess);
  close_all(pipes, 3);
  memset(pipes, 0, 3 * sizeof(HANDLE));

  int fds[3];
  for (int i = 0; i < 3; i++) {
    fds[i] = heimdall_open_osfhandle(pipes[3 + i]);
    if (fds[i] < 0) {
      // The child then reads end-of-file on stdin and exits; the descriptors made so far leak (rare).
      napi_throw_error(env, NULL, "spawnAsUser: no C runtime descriptor for a pipe (uv_open_osfhandle)");
      goto done;
    }
    pipes[3 + i] = NULL;  // owned by Node's descriptor now
  }
  napi_value pid, in, out, err;
  napi_create_object(env, &result);
  napi_create_uint32(env, child.dwProcessId, &pid);
  napi_create_int32(env, fds[0], &in);
  napi_create_int32(env, fds[1], &out);
  napi_create_int32(env, fds[2], &err);
  napi_set_named_property(env, result, "pid", pid);
  napi_set_named_property(env, result, "stdin", in);
  napi_set_named_property(env, result, "stdout", out);
  napi_set_named_property(env, result, "stderr", err);
done:
  close_all(pipes, 6);
  if (attributes) {
    DeleteProcThreadAttributeList(attributes);
    free(attributes);
  }
  if (token) CloseHandle(token);
  if (sid) LocalFree(sid);
  free(sid_text);
  free(application);
  free(command_line);
  free(environment);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {{"tcpPeer", tcp_peer}, {"tcpOwnerPid", tcp_owner_pid}, {"servicePid", service_pid}, {"spawnAsUser", spawn_as_user}};
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
