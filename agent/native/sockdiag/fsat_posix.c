// The *at(2) calls the userfs walk needs and Node has no API for (Node-API, C, POSIX: built into the
// Linux and the macOS addon). A folder opened once is then named by its descriptor: every component
// below it is opened relative to that very folder with O_NOFOLLOW, so swapping a parent for a
// symbolic link after it was checked changes nothing (agent/src/userfs/walk.ts). Linux has the same
// effect through /proc/self/fd/N/<name>; macOS has no such names, so this is its only way.
//
// openat(dirfd, name, flags, mode) -> fd; renameat(dirfd, from, to); unlinkat(dirfd, name).
// `name` is one path component (no "/"), `flags` the platform's O_* values as Node's fs.constants
// gives them. Failures throw an Error whose `code` is the errno name (ELOOP, ENOENT, ...), as Node's
// own fs errors carry, so the walk classifies both alike.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <node_api.h>

#include "fsat_posix.h"

static const char *errno_name(int e) {
  switch (e) {
    case ENOENT: return "ENOENT";
    case ELOOP: return "ELOOP";
    case ENOTDIR: return "ENOTDIR";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EEXIST: return "EEXIST";
    case EISDIR: return "EISDIR";
    case ENXIO: return "ENXIO";
    case EMLINK: return "EMLINK";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EXDEV: return "EXDEV";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case EBUSY: return "EBUSY";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case EIO: return "EIO";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, const char *what, int e) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(e));
  napi_throw_error(env, errno_name(e), message);
  return NULL;
}

// One path component: non-empty, no "/", not "." or "..", under NAME_MAX.
static int read_component(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok || len == 0 || len >= cap - 1) return 0;
  if (strlen(out) != len || strchr(out, '/') != NULL || strcmp(out, ".") == 0 || strcmp(out, "..") == 0) return 0;
  return 1;
}

#define COMPONENT_MAX 256

static napi_value js_openat(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t dirfd = -1, flags = 0, mode = 0;
  char name[COMPONENT_MAX + 1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 || napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
      dirfd < 0 || !read_component(env, argv[1], name, sizeof name) || napi_get_value_int32(env, argv[2], &flags) != napi_ok ||
      napi_get_value_int32(env, argv[3], &mode) != napi_ok || mode < 0 || mode > 07777) {
    napi_throw_type_error(env, NULL, "openat(dirfd, name, flags, mode): dirfd >= 0, name one path component, flags an integer, mode 0-07777");
    return NULL;
  }
  int fd;
  do fd = openat(dirfd, name, flags | O_CLOEXEC, (mode_t)mode);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return throw_errno(env, "openat", errno);
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

static napi_value js_renameat(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t dirfd = -1;
  char from[COMPONENT_MAX + 1], to[COMPONENT_MAX + 1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
      dirfd < 0 || !read_component(env, argv[1], from, sizeof from) || !read_component(env, argv[2], to, sizeof to)) {
    napi_throw_type_error(env, NULL, "renameat(dirfd, from, to): dirfd >= 0, from and to one path component each");
    return NULL;
  }
  if (renameat(dirfd, from, dirfd, to) != 0) return throw_errno(env, "renameat", errno);
  return NULL;
}

static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t dirfd = -1;
  char name[COMPONENT_MAX + 1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || napi_get_value_int32(env, argv[0], &dirfd) != napi_ok ||
      dirfd < 0 || !read_component(env, argv[1], name, sizeof name)) {
    napi_throw_type_error(env, NULL, "unlinkat(dirfd, name): dirfd >= 0, name one path component");
    return NULL;
  }
  if (unlinkat(dirfd, name, 0) != 0) return throw_errno(env, "unlinkat", errno);
  return NULL;
}

int register_fsat(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {{"openat", js_openat}, {"renameat", js_renameat}, {"unlinkat", js_unlinkat}};
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn) != napi_ok) return 0;
    if (napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok) return 0;
  }
  return 1;
}
