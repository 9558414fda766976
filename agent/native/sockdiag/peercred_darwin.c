// The macOS kernel calls the daemon needs and Node has no API for (Node-API, C, macOS only; built by
// binding.gyp on macOS alone). The same JavaScript surface as sockdiag.c's peer functions:
//
// peerCred(fd) -> { pid, uid, gid }: the credentials the kernel recorded when the peer connected to
//   the unix socket, LOCAL_PEERCRED (struct xucred: effective uid and groups) and LOCAL_PEERPID;
//   getpeereid(3) is a wrapper of the same call. Nothing the peer chooses enters the answer.
// userName(uid) -> string | null: getpwuid_r, so directory (Open Directory, AD) users resolve too.
// openat, renameat, unlinkat: fsat_posix.c, for the userfs walk that follows no symbolic link.
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/ucred.h>
#include <sys/un.h>

#include <node_api.h>

#include "fsat_posix.h"

static napi_value throw_errno(napi_env env, const char *what) {
  char message[128];
  snprintf(message, sizeof message, "%s failed: %s", what, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static napi_value peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "peerCred(fd): fd must be a non-negative integer");
    return NULL;
  }
  struct xucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERCRED, &cred, &len) != 0) return throw_errno(env, "LOCAL_PEERCRED");
  if (cred.cr_version != XUCRED_VERSION || cred.cr_ngroups < 1) {
    napi_throw_error(env, NULL, "LOCAL_PEERCRED answered an xucred of an unknown version");
    return NULL;
  }
  pid_t peer_pid = 0;
  len = sizeof peer_pid;
  if (getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &peer_pid, &len) != 0) return throw_errno(env, "LOCAL_PEERPID");
  napi_value out, pid, uid, gid;
  napi_create_object(env, &out);
  napi_create_int32(env, peer_pid, &pid);
  napi_create_uint32(env, cred.cr_uid, &uid);
  napi_create_uint32(env, cred.cr_groups[0], &gid);
  napi_set_named_property(env, out, "pid", pid);
  napi_set_named_property(env, out, "uid", uid);
  napi_set_named_property(env, out, "gid", gid);
  return out;
}

static napi_value user_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  double d = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_double(env, argv[0], &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    napi_throw_type_error(env, NULL, "userName(uid): uid must be an integer 0-4294967295");
    return NULL;
  }
  napi_value out;
  struct passwd pw, *found = NULL;
  size_t cap = 16384;
  for (;;) {
    char *buf = malloc(cap);
    if (!buf) {
      napi_throw_error(env, NULL, "userName: out of memory");
      return NULL;
    }
    int rc = getpwuid_r((uid_t)(uint32_t)d, &pw, buf, cap, &found);
    if (rc == ERANGE && cap < (1u << 20)) {
      free(buf);
      cap *= 4;
      continue;
    }
    if (rc == 0 && found && found->pw_name) napi_create_string_utf8(env, found->pw_name, NAPI_AUTO_LENGTH, &out);
    else napi_get_null(env, &out);
    free(buf);
    return out;
  }
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  if (napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, peer_cred, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "peerCred", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "userName", NAPI_AUTO_LENGTH, user_name, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "userName", fn) != napi_ok) return NULL;
  if (!register_fsat(env, exports)) return NULL;
  return exports;
}
