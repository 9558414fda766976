{
  # One addon, one C file per OS: the kernel calls the daemon needs that Node has no API for.
  # Linux: sock_diag lookups for identify/ and SO_PEERCRED for the local API (sockdiag.c; the
  # executables build the same file, installer/src/executables/sockdiag.ts). macOS: LOCAL_PEERCRED
  # (peercred_darwin.c). Windows: the loopback TCP peer's token and processes started as a user
  # (peercred_win.c), with host_api_win.c taking the Node-API functions from the running executable
  # (a renamed node.exe in the single-file executable). Each file is compiled only on its own OS.
  # The executables' build compiles the same files without node-gyp (installer/src/executables/addon.ts).
  "targets": [
    {
      "target_name": "sockdiag",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["sockdiag.c", "fsat_posix.c"],
          "cflags": ["-O2", "-Wall", "-Wextra"]
        }],
        ["OS=='mac'", {
          "sources": ["peercred_darwin.c", "fsat_posix.c"],
          "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall", "-Wextra"] }
        }],
        ["OS=='win'", {
          "sources": ["peercred_win.c", "host_api_win.c"],
          "defines": ["_WIN32_WINNT=0x0A00"],
          "libraries": ["advapi32.lib", "ws2_32.lib", "iphlpapi.lib"]
        }]
      ]
    }
  ]
}
