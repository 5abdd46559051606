#!/usr/bin/env bash
# A throw-away S3 server (moto's standalone server) for the object-store tests.
#
#   .ci/s3.sh start s3.env     # writes the export lines below to s3.env
#   .ci/s3.sh start            # or prints them
#   .ci/s3.sh stop
#
# Listens on 127.0.0.1 on a free port; the lines are
#   export GRISTMILL_TEST_S3_ENDPOINT=http://127.0.0.1:PORT
#   export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...
#   export AWS_DEFAULT_REGION=us-east-1
# (throw-away test credentials: moto accepts any). Installs moto[server] into the Python
# that runs the tests ($PYTHON, default .venv/bin/python, else python3) when it is missing.
# State lives in $GRISTMILL_S3_STATE (default /tmp/gristmill-ci-s3.state) so that `stop`
# finds the server again.
set -euo pipefail

STATE_FILE="${GRISTMILL_S3_STATE:-/tmp/gristmill-ci-s3.state}"
cd "$(dirname "$0")/.."
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

log() { echo "s3.sh: $*" >&2; }

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local env_file="${1:-}"
  if [[ -f "$STATE_FILE" ]]; then
    log "a server from $STATE_FILE is still registered; run '$0 stop' first"
    exit 1
  fi
  if ! "$PYTHON" -c 'import moto.server, flask' 2>/dev/null; then
    log "moto[server] is missing; installing it with $PYTHON -m pip"
    "$PYTHON" -m pip install -q "moto[server]>=5" >&2
  fi
  local port dir
  port="$(free_port)"
  dir="$(mktemp -d /tmp/gristmill-s3.XXXXXX)"
  "$PYTHON" -m moto.server -H 127.0.0.1 -p "$port" >"$dir/server.log" 2>&1 &
  local pid=$!
  printf 'S3PID=%q\nS3DIR=%q\n' "$pid" "$dir" > "$STATE_FILE"
  for _ in $(seq 1 100); do
    if "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" \
        2>/dev/null; then
      break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$dir/server.log" >&2; rm -f "$STATE_FILE"; log "moto_server exited"; exit 1
    fi
    sleep 0.1
  done
  local endpoint="http://127.0.0.1:$port"
  local lines
  lines="export GRISTMILL_TEST_S3_ENDPOINT=$endpoint
export AWS_ENDPOINT_URL=$endpoint
export AWS_ACCESS_KEY_ID=gristmill-test
export AWS_SECRET_ACCESS_KEY=gristmill-test-secret
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true"
  log "moto S3 server (pid $pid) on $endpoint, log in $dir/server.log"
  if [[ -n "$env_file" ]]; then
    echo "$lines" > "$env_file"
    log "wrote the endpoint and test credentials to $env_file"
  else
    echo "$lines"
  fi
}

stop() {
  if [[ ! -f "$STATE_FILE" ]]; then
    log "nothing to stop ($STATE_FILE is absent)"
    return 0
  fi
  # shellcheck disable=SC1090
  source "$STATE_FILE"
  kill "$S3PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$S3PID" 2>/dev/null || break; sleep 0.1; done
  rm -rf "$S3DIR" "$STATE_FILE"
  log "stopped the S3 server (pid $S3PID)"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop ;;
  *) echo "usage: $0 start [ENV_FILE] | stop" >&2; exit 2 ;;
esac
