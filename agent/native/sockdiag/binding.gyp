{
  # One addon, one C file per OS: the kernel calls the daemon needs that Node has no API for.
  # Linux: sock_diag lookups for identify/ and SO_PEERCRED for the local API (sockdiag.c; the
  # executables build the same file, installer/src/executables/sockdiag.ts). macOS: LOCAL_PEERCRED
  # (peercred_darwin.c). Windows: the named pipe client's token (peercred_win.c). Each file is
  # compiled only on its own OS.
  "targets": [
    {
      "target_name": "sockdiag",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["sockdiag.c"],
          "cflags": ["-O2", "-Wall", "-Wextra"]
        }],
        ["OS=='mac'", {
          "sources": ["peercred_darwin.c"],
          "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall", "-Wextra"] }
        }],
        ["OS=='win'", {
          "sources": ["peercred_win.c"],
          "libraries": ["advapi32.lib"]
        }]
      ]
    }
  ]
}
