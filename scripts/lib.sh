# Shell helpers the scripts share. Source it: `. "$(dirname "$0")/lib.sh"`.
# shellcheck shell=bash

# A TCP port on 127.0.0.1 that nothing listens on right now. Only for an address that must stay
# closed, or for tools that need the port before they start; a server under test gets PORT=0 and
# reports what it bound (listening_port), so no other process can take its port in between.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# scratch_for_app: sets WORK to a new temporary directory and APP_PID to empty; on exit, the process
# APP_PID names (the app under test, once the caller starts it) is stopped and WORK removed.
scratch_for_app() {
  WORK=$(mktemp -d)
  APP_PID=
  trap stop_app_and_remove_scratch EXIT
}
stop_app_and_remove_scratch() {
  if [[ -n $APP_PID ]] && kill -0 "$APP_PID" 2>/dev/null; then kill "$APP_PID"; wait "$APP_PID" || true; fi
  rm -rf "$WORK"
}

# logged_port LOG FIELD: the `"FIELD":N` of the JSON line a service started with PORT=0 and
# ADMIN_PORT=0 logs once listening (its LOG_FORMAT=json output must reach LOG, at info level for its
# startup module). Waits up to 10 s.
logged_port() {
  local log=$1 field=$2 port
  for _ in $(seq 1 100); do
    port=$(port_in_log "$log" "$field")
    if [[ -n $port ]]; then
      echo "$port"
      return 0
    fi
    sleep 0.1
  done
  echo "$(basename "$0"): no $field in $log within 10 s" >&2
  return 1
}

# port_in_log LOG FIELD: the `"FIELD":N` in LOG as it is now, or nothing (no wait, no error).
port_in_log() {
  grep -o "\"$2\":[1-9][0-9]*" "$1" 2>/dev/null | head -n 1 | cut -d: -f2 || true
}

# listening_port LOG: the public port; admin_port LOG: the admin port (probes and /metrics).
listening_port() { logged_port "$1" port; }
admin_port() { logged_port "$1" admin_port; }

# wait_ready URL [PID]: polls URL (a service's /readyz on its admin port, or a peer's only route)
# every 0.1 s until it answers 2xx; fails after 10 s, or at once when process PID has exited.
wait_ready() {
  local url=$1 pid=${2:-}
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      echo "$(basename "$0"): the process serving $url exited (its error is above)" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "$(basename "$0"): $url did not become ready within 10 s" >&2
  return 1
}

# seed_http PORT N [TITLE]: N tasks created through the API on PORT, titled "TITLE 0" to "TITLE N-1"
# (default "seed task"), each answered 201.
seed_http() {
  python3 - "$1" "$2" "${3:-seed task}" <<'PY'
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for n in range(int(sys.argv[2])):
    body = json.dumps({"title": f"{sys.argv[3]} {n}"})
    conn.request("POST", "/api/tasks", body, {"Content-Type": "application/json"})
    res = conn.getresponse()
    res.read()
    assert res.status == 201, res.status
PY
}

# cpu_ticks PID: the CPU time the process has used (user + system, all threads), in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# rust_test_totals LOG: "PASSED FAILED", the sums over every `test result:` line of cargo test's
# output in LOG (every test binary it ran).
rust_test_totals() { awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d %d\n", passed, failed }' "$1"; }

# mean NUMBERS...: their mean, rounded to a whole number.
mean() { printf '%s\n' "$@" | awk '{ s += $1 } END { printf "%.0f", s / NR }'; }

# The headless browser for the end-to-end test: $CHROMIUM if set, else Debian's chromium, else a
# Chrome or Chromium already on the machine (GitHub's Ubuntu runners ship google-chrome, and
# Ubuntu's own chromium package is only a snap shim). Prints nothing when none is found.
find_browser() {
  local candidate
  for candidate in "${CHROMIUM:-}" /usr/bin/chromium /usr/bin/google-chrome /usr/bin/chromium-browser; do
    if [[ -n $candidate && -x $candidate ]]; then
      echo "$candidate"
      return 0
    fi
  done
}

# image_pins REV FILE: the `images:` entries of FILE (an overlay's kustomization.yaml) at git revision
# REV ("" = the index), as one canonical JSON line ("null" when FILE has none or does not exist there).
# The deploys of an environment are the successive values of this, whatever the commit messages say.
image_pins() {
  git show "$1:$2" 2>/dev/null | yaml_py 'd = yaml.safe_load(sys.stdin) or {}; print(json.dumps(d.get("images"), sort_keys=True))' ||
    echo null
}

# only_images_differ A B FILE: true when FILE (an overlay's kustomization.yaml) differs between the two
# git revisions at most in its `images:` block, the one block the release and promotion bots edit.
# A revision of "" means the index.
only_images_differ() {
  local a b
  a=$(git show "$1:$3" 2>/dev/null | without_images) || return 1
  b=$(git show "$2:$3" 2>/dev/null | without_images) || return 1
  [[ -n $a && $a == "$b" ]]
}

# without_images: the YAML document on stdin without its `images` key, in a canonical form.
without_images() {
  yaml_py 'd = yaml.safe_load(sys.stdin) or {}; d.pop("images", None); print(json.dumps(d, sort_keys=True))'
}

# yaml_py CODE: runs CODE (with json, sys and yaml imported) under a Python that has PyYAML:
# $GITOPS_PYTHON, the repo's .tools/venv, or python3.
yaml_py() {
  local py
  for py in "${GITOPS_PYTHON:-}" "$(git rev-parse --show-toplevel 2>/dev/null)/.tools/venv/bin/python" python3; do
    if [[ -n $py ]] && "$py" -c 'import yaml' 2>/dev/null; then
      "$py" -c "import json, sys, yaml; $1"
      return
    fi
  done
  echo "$(basename "$0"): no Python with PyYAML (set GITOPS_PYTHON)" >&2
  return 1
}
