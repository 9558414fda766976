#!/usr/bin/env bash
# The first ten minutes, checked the way a new user meets them. Outside the test suite (it runs the
# test command's set-up, so inside the suite it would recurse); .ci/run calls it.
#
# Clones this repository into a fresh folder and puts only Node 20 (from the npm registry) on PATH.
# Then, with the README's Quickstart commands taken from the README itself:
#   1. each entry point run by Node 20 names the Node it found, the one it needs and the fix;
#   2. the demo command, run until it prints its instructions, stopped with SIGINT to the process the
#      command starts: every process exits and the demo's work folder (its keys) is gone;
#   3. the demo command again, stopped with SIGTERM: the same, and no set-up work done twice;
#   4. the test command's set-up step.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/heimdall-first-run-XXXXXX")"
session=""

fail() {
  printf 'first-run check FAILED: %s\n' "$*" >&2
  exit 1
}
cleanup() {
  if [ -n "$session" ]; then pkill -KILL -s "$session" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The README's Quickstart block: its first command starts the demo, its second runs the tests.
quickstart_command() {
  awk '/^## Quickstart/ { q = 1 } q && /^```sh/ { b = 1; next } b && /^```/ { exit } b { print }' "$src/README.md" | sed -n "${1}p"
}
demo_cmd="$(quickstart_command 1)"
test_cmd="$(quickstart_command 2)"
[ -n "$demo_cmd" ] && [ -n "$test_cmd" ] || fail "README.md's Quickstart has no \`\`\`sh block with the demo and test commands"
echo "first-run check: demo command \"$demo_cmd\", test command \"$test_cmd\""

# Node 20 from the npm registry, and npm run by it: nothing newer is found first on PATH.
npm install --no-save --no-package-lock --no-audit --no-fund --loglevel=error --prefix "$work/node20" node@20 >/dev/null
node20="$(ls -d "$work"/node20/node_modules/node/node_modules/node-linux-*/bin/node | head -n 1)"
"$node20" -e 'process.exit(process.versions.node.startsWith("20.") ? 0 : 1)' || fail "node@20 from the npm registry is $("$node20" --version)"
npm_cli="$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js"
mkdir -p "$work/bin"
ln -s "$node20" "$work/bin/node"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$node20" "$npm_cli" >"$work/bin/npm"
chmod +x "$work/bin/npm"
export PATH="$work/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
unset npm_config_nodedir NPM_CONFIG_NODEDIR HEIMDALL_NODE HEIMDALL_NODE_FROM_PATH || true
[ "$(node --version)" = "$("$node20" --version)" ] || fail "PATH does not start with Node 20"

git clone --quiet --no-hardlinks "$src" "$work/heimdall"
cd "$work/heimdall"

# 1. Old Node is named, not stack-traced.
for entry in bin/heimdall.js bin/heimdall-gateway.js bin/heimdall-mdm.js; do
  if out="$(node "$entry" version 2>&1)"; then fail "$entry ran on Node 20: $out"; fi
  case "$out" in
    *"found Node $(node --version)"*"needs Node 22.18 or newer"*"Fix: npm run setup"*) ;;
    *) fail "$entry on Node 20 did not say which Node it found, which it needs and the fix: $out" ;;
  esac
  case "$out" in *"    at "*) fail "$entry on Node 20 printed a stack trace: $out" ;; esac
done
echo "first-run check: bin/ entry points name Node 20 and the fix"

# Runs the demo command in a session of its own, waits for its instructions, sends $1 to the process
# the command started, and checks that the whole session exited and the work folder is gone.
run_demo_and_stop() {
  local signal="$1" log="$work/demo-$1.log" pid dir i
  setsid bash -c "exec $demo_cmd" >"$log" 2>&1 </dev/null &
  pid=$!
  session="$pid"
  for i in $(seq 1 900); do
    grep -q 'Press Ctrl-C to stop' "$log" && break
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$log" >&2; fail "the demo command exited before printing its instructions"; }
    sleep 1
  done
  grep -q 'Press Ctrl-C to stop' "$log" || { tail -n 40 "$log" >&2; fail "the demo printed no instructions in 900 s"; }
  dir="$(grep -o "${TMPDIR:-/tmp}/heimdall-demo-[A-Za-z0-9]*" "$log" | head -n 1)"
  [ -n "$dir" ] && [ -d "$dir" ] || fail "the demo did not say where its work folder is"
  kill "-$signal" "$pid"
  for i in $(seq 1 120); do
    pgrep -s "$session" >/dev/null || break
    sleep 0.5
  done
  if pgrep -s "$session" >/dev/null; then
    ps -o pid,args -s "$session" >&2 || true
    fail "processes of the demo were still running 60 s after SIG$signal"
  fi
  session=""
  [ ! -e "$dir" ] || fail "the demo left its work folder $dir (keys included) after SIG$signal"
  grep -q "deleted its work folder $dir" "$log" || fail "the demo did not say it deleted $dir"
  echo "first-run check: SIG$signal to \"$demo_cmd\" stopped every process and deleted $dir"
}

# 2. The first run sets everything up.
run_demo_and_stop INT
grep -q 'fetching Node 22 from the npm registry' "$work/demo-INT.log" || fail "the first demo run did not fetch Node 22 (was Node 20 really the only one?)"
# 3. The second does no set-up work.
run_demo_and_stop TERM
if grep -E 'fetching Node 22|installing the npm dependencies' "$work/demo-TERM.log"; then fail "the second demo run did set-up work again"; fi

# 4. The test command's set-up step (the tests themselves run in .ci/run, once).
case "$test_cmd" in
  "npm test") npm run setup ;;
  *) fail "the README's test command changed to \"$test_cmd\": teach this check its set-up step" ;;
esac
echo "first-run check: passed"
