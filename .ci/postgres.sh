#!/usr/bin/env bash
# A throw-away PostgreSQL server for the metadata store contract tests.
#
#   eval "$(.ci/postgres.sh start)"     # prints: export GRISTMILL_TEST_DB_URL=...
#   .ci/postgres.sh start url.env       # or writes that line to url.env
#   .ci/postgres.sh stop
#
# Installs Debian's postgresql package when the server binaries are missing, initialises a
# cluster in a temporary directory (owned by the `postgres` user when run as root, since
# PostgreSQL refuses to run as root), listens on 127.0.0.1 on a free port and creates the
# database gristmill_test. State lives in $GRISTMILL_PG_STATE (default
# /tmp/gristmill-ci-postgres.state) so that `stop` finds the cluster again.
set -euo pipefail

STATE_FILE="${GRISTMILL_PG_STATE:-/tmp/gristmill-ci-postgres.state}"
DB_NAME="gristmill_test"
DB_USER="gristmill"

log() { echo "postgres.sh: $*" >&2; }

find_bindir() {
  if command -v pg_ctl >/dev/null && command -v postgres >/dev/null && command -v initdb >/dev/null; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  local newest
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$newest" && -x "$newest/pg_ctl" && -x "$newest/initdb" ]]; then
    echo "$newest"
  fi
}

install_server() {
  log "PostgreSQL server binaries not found; installing Debian's postgresql package"
  local sudo=""
  [[ "$(id -u)" -ne 0 ]] && sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql >&2
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local url_file="${1:-}"
  if [[ -f "$STATE_FILE" ]]; then
    log "a server from $STATE_FILE is still registered; run '$0 stop' first"
    exit 1
  fi
  local bindir
  bindir="$(find_bindir)"
  if [[ -z "$bindir" ]]; then
    install_server
    bindir="$(find_bindir)"
    [[ -n "$bindir" ]] || { log "no pg_ctl/initdb after installing postgresql"; exit 1; }
  fi

  local run_as=() owner
  owner="$(id -un)"
  if [[ "$(id -u)" -eq 0 ]]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql \
      --shell /bin/bash postgres
    owner="postgres"
    run_as=(runuser -u postgres --)
  fi

  local root port password
  root="$(mktemp -d /tmp/gristmill-pg.XXXXXX)"
  port="$(free_port)"
  password="$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
  mkdir -p "$root/data" "$root/socket"
  printf '%s\n' "$password" > "$root/pwfile"
  chown -R "$owner" "$root"
  chmod 700 "$root"

  log "initdb in $root/data with $bindir"
  "${run_as[@]}" "$bindir/initdb" -D "$root/data" -U "$DB_USER" --pwfile="$root/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >"$root/initdb.log"
  rm -f "$root/pwfile"
  printf 'PGROOT=%q\nPGBIN=%q\nPGOWNER=%q\nPGPORT=%q\n' "$root" "$bindir" "$owner" "$port" \
    > "$STATE_FILE"

  # fsync off: the cluster is thrown away, and the tests run faster.
  "${run_as[@]}" "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $root/socket -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" >&2 \
    || { cat "$root/server.log" >&2; exit 1; }
  "${run_as[@]}" "$bindir/createdb" -h "$root/socket" -p "$port" -U "$DB_USER" "$DB_NAME"

  local line="export GRISTMILL_TEST_DB_URL=postgresql+psycopg://$DB_USER:$password@127.0.0.1:$port/$DB_NAME"
  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, data in $root"
  if [[ -n "$url_file" ]]; then
    echo "$line" > "$url_file"
    log "wrote GRISTMILL_TEST_DB_URL to $url_file"
  else
    echo "$line"
  fi
}

stop() {
  if [[ ! -f "$STATE_FILE" ]]; then
    log "nothing to stop ($STATE_FILE is absent)"
    return 0
  fi
  # shellcheck disable=SC1090
  source "$STATE_FILE"
  local run_as=()
  [[ "$(id -u)" -eq 0 && "$PGOWNER" != "root" ]] && run_as=(runuser -u "$PGOWNER" --)
  if [[ -d "$PGROOT/data" ]]; then
    "${run_as[@]}" "$PGBIN/pg_ctl" -D "$PGROOT/data" -m fast -w stop >&2 || true
  fi
  rm -rf "$PGROOT" "$STATE_FILE"
  log "stopped and removed $PGROOT"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  *) echo "usage: $0 start [URL_FILE] | stop" >&2; exit 2 ;;
esac
