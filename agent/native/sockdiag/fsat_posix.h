// fsat_posix.c: openat, renameat and unlinkat for the userfs walk, added to a module's exports.
#ifndef HEIMDALL_FSAT_POSIX_H
#define HEIMDALL_FSAT_POSIX_H
#include <node_api.h>
// 1 on success; 0 with a pending exception.
int register_fsat(napi_env env, napi_value exports);
#endif
