{
  # Linux only: the sock_diag netlink interface does not exist elsewhere, and other platforms
  # identify processes another way (agent/src/identify/darwin.ts, windows.ts).
  "targets": [
    {
      "target_name": "sockdiag",
      "conditions": [
        ["OS=='linux'", {
          "sources": ["sockdiag.c"],
          "cflags": ["-O2", "-Wall", "-Wextra"]
        }]
      ]
    }
  ]
}
