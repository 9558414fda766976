// The Linux kernel calls the daemon needs and Node has no API for (Node-API, C, Linux only).
//
// lookupTcp: asks the kernel for exactly one TCP socket by its 4-tuple over NETLINK_SOCK_DIAG.
// /proc/net/tcp makes the kernel walk every bucket of the TCP hash (262,144 on a large machine)
// for each read; a SOCK_DIAG_BY_FAMILY request without NLM_F_DUMP is answered by a single hash
// lookup (inet_diag_find_one_icsk), which takes microseconds whatever the table size.
//
// lookupTcp(family: 4 | 6, localAddr, localPort, remoteAddr, remotePort)
//   -> { uid, inode } for an ESTABLISHED socket with that local and remote end, null when the
//      kernel has none (or only a TIME_WAIT / orphaned one), and throws on any other failure so
//      the caller can fall back to /proc/net/tcp.
//
// peerCred(fd) -> { pid, uid, gid }: getsockopt(SO_PEERCRED) on a connected unix socket, the
//   credentials the kernel recorded when the peer called connect(). Nothing the peer chooses (its
//   process name, argv, environment) enters the answer; throws with the errno text on failure.
// userName(uid) -> string | null: getpwuid_r, so users from NSS (LDAP, sssd) resolve like local ones.
// openat, renameat, unlinkat: fsat_posix.c (shared with macOS).
// mallocTrim() -> boolean: glibc's malloc_trim(0), true when it gave memory back to the kernel.
//   Memory the process frees (a burst of TLS connections closing) stays in glibc's arenas, counted
//   in RSS, until something trims them; free() only returns the top of a heap. Absent when the
//   addon is built against another C library (musl has no malloc_trim): callers treat it as unavailable.
// mallocInfo() -> { arenaBytes, mmapBytes, inUseBytes, freeBytes, releasableBytes }: glibc's
//   mallinfo2(), for measuring what malloc holds (docs/performance.md). Absent without glibc 2.33.
#define _GNU_SOURCE  // struct ucred
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <node_api.h>

#include "fsat_posix.h"

#define TCP_STATE_ESTABLISHED 1

struct lookup_result {
  int found;
  unsigned uid;
  unsigned inode;
};

// 0 on success (result->found tells whether a socket was there), or a negative errno.
static int query_kernel(int family, const void *local, uint16_t lport, const void *remote, uint16_t rport,
                        struct lookup_result *result) {
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 req;
  } msg;
  memset(&msg, 0, sizeof msg);
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST;  // no NLM_F_DUMP: the single-socket lookup
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = (uint8_t)family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = 1u << TCP_STATE_ESTABLISHED;
  msg.req.id.idiag_sport = htons(lport);
  msg.req.id.idiag_dport = htons(rport);
  memcpy(msg.req.id.idiag_src, local, family == AF_INET ? 4 : 16);
  memcpy(msg.req.id.idiag_dst, remote, family == AF_INET ? 4 : 16);
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -errno;
  // The answer is immediate; a timeout only guards against a kernel that never answers.
  struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  int rc = 0;
  if (sendto(fd, &msg, sizeof msg, 0, (struct sockaddr *)&kernel, sizeof kernel) != (ssize_t)sizeof msg) {
    rc = -errno;
    goto done;
  }
  long buf[2048 / sizeof(long)];  // aligned for nlmsghdr
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n < 0) {
    rc = -errno;
    goto done;
  }
  result->found = 0;
  for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
    if (h->nlmsg_type == NLMSG_ERROR) {
      const struct nlmsgerr *err = NLMSG_DATA(h);
      if (h->nlmsg_len < NLMSG_LENGTH(sizeof *err)) { rc = -EPROTO; goto done; }
      // ENOENT: no such socket. Anything else is a real failure the caller should know about.
      rc = err->error == -ENOENT || err->error == 0 ? 0 : err->error;
      goto done;
    }
    if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
      const struct inet_diag_msg *m = NLMSG_DATA(h);
      // The exact lookup ignores idiag_states and also finds TIME_WAIT sockets (inode 0).
      if (m->idiag_state == TCP_STATE_ESTABLISHED && m->idiag_inode != 0) {
        result->found = 1;
        result->uid = m->idiag_uid;
        result->inode = m->idiag_inode;
      }
      goto done;
    }
  }
  rc = -EPROTO;
done:
  close(fd);
  return rc;
}

static int read_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return 0;
  return len < cap - 1;
}

static int read_port(napi_env env, napi_value v, uint16_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || !(d >= 0 && d <= 65535) || d != (double)(int)d) return 0;
  *out = (uint16_t)d;
  return 1;
}

static napi_value lookup_tcp(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) {
    napi_throw_type_error(env, NULL, "lookupTcp(family, localAddr, localPort, remoteAddr, remotePort)");
    return NULL;
  }
  int32_t family_number = 0;
  char local_text[INET6_ADDRSTRLEN + 1], remote_text[INET6_ADDRSTRLEN + 1];
  uint16_t lport, rport;
  if (napi_get_value_int32(env, argv[0], &family_number) != napi_ok || (family_number != 4 && family_number != 6) ||
      !read_string(env, argv[1], local_text, sizeof local_text) || !read_port(env, argv[2], &lport) ||
      !read_string(env, argv[3], remote_text, sizeof remote_text) || !read_port(env, argv[4], &rport)) {
    napi_throw_type_error(env, NULL, "lookupTcp: family must be 4 or 6, addresses strings, ports 0-65535");
    return NULL;
  }
  int family = family_number == 4 ? AF_INET : AF_INET6;
  unsigned char local[16], remote[16];
  if (inet_pton(family, local_text, local) != 1 || inet_pton(family, remote_text, remote) != 1) {
    napi_throw_type_error(env, NULL, "lookupTcp: an address is not valid for the family");
    return NULL;
  }

  struct lookup_result result = {0};
  int rc = query_kernel(family, local, lport, remote, rport, &result);
  if (rc < 0) {
    char message[128];
    snprintf(message, sizeof message, "sock_diag lookup failed: %s", strerror(-rc));
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  napi_value out;
  if (!result.found) {
    napi_get_null(env, &out);
    return out;
  }
  napi_value uid, inode;
  napi_create_object(env, &out);
  napi_create_uint32(env, result.uid, &uid);
  napi_create_uint32(env, result.inode, &inode);
  napi_set_named_property(env, out, "uid", uid);
  napi_set_named_property(env, out, "inode", inode);
  return out;
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
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    char message[128];
    snprintf(message, sizeof message, "SO_PEERCRED failed: %s", strerror(errno));
    napi_throw_error(env, NULL, message);
    return NULL;
  }
  napi_value out, pid, uid, gid;
  napi_create_object(env, &out);
  napi_create_int32(env, cred.pid, &pid);
  napi_create_uint32(env, cred.uid, &uid);
  napi_create_uint32(env, cred.gid, &gid);
  napi_set_named_property(env, out, "pid", pid);
  napi_set_named_property(env, out, "uid", uid);
  napi_set_named_property(env, out, "gid", gid);
  return out;
}

static napi_value user_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  uint32_t uid = 0;
  double d = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_double(env, argv[0], &d) != napi_ok || !(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    napi_throw_type_error(env, NULL, "userName(uid): uid must be an integer 0-4294967295");
    return NULL;
  }
  uid = (uint32_t)d;
  napi_value out;
  struct passwd pw, *found = NULL;
  size_t cap = 16384;
  for (;;) {
    char *buf = malloc(cap);
    if (!buf) {
      napi_throw_error(env, NULL, "userName: out of memory");
      return NULL;
    }
    int rc = getpwuid_r((uid_t)uid, &pw, buf, cap, &found);
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

#ifdef __GLIBC__
static napi_value malloc_trim_fn(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  napi_get_boolean(env, malloc_trim(0) == 1, &out);
  return out;
}

#if __GLIBC_PREREQ(2, 33)
static napi_value malloc_info_fn(napi_env env, napi_callback_info info) {
  (void)info;
  struct mallinfo2 mi = mallinfo2();
  napi_value out;
  napi_create_object(env, &out);
  const struct {
    const char *name;
    size_t value;
  } fields[] = {
      {"arenaBytes", mi.arena},         // obtained with sbrk and mmap'd heaps of the arenas
      {"mmapBytes", mi.hblkhd},         // large blocks mmap'd one by one (freed straight back)
      {"inUseBytes", mi.uordblks},      // allocated and not freed
      {"freeBytes", mi.fordblks},       // freed, kept by malloc (what a trim can return, page-wise)
      {"releasableBytes", mi.keepcost}, // the free top of the main heap
  };
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    napi_value v;
    napi_create_double(env, (double)fields[i].value, &v);
    napi_set_named_property(env, out, fields[i].name, v);
  }
  return out;
}
#endif
#endif

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {{"lookupTcp", lookup_tcp}, {"peerCred", peer_cred}, {"userName", user_name}};
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, functions[i].name, fn) != napi_ok) return NULL;
  }
  if (!register_fsat(env, exports)) return NULL;
#ifdef __GLIBC__
  static const struct {
    const char *name;
    napi_callback fn;
  } glibc_functions[] = {
      {"mallocTrim", malloc_trim_fn},
#if __GLIBC_PREREQ(2, 33)
      {"mallocInfo", malloc_info_fn},
#endif
  };
  for (size_t i = 0; i < sizeof glibc_functions / sizeof glibc_functions[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, glibc_functions[i].name, NAPI_AUTO_LENGTH, glibc_functions[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, glibc_functions[i].name, fn) != napi_ok) return NULL;
  }
#endif
  return exports;
}
