# shellcheck shell=bash
# Sourced by .ci/run (`source scripts/ci/services.sh`): start on 127.0.0.1 the services the
# production tests need (ml_assets_tests/production/) and stop them when the calling shell exits.
#
#   PostgreSQL    a throw-away cluster from Debian's postgresql (installed when missing)
#   Dask          a dask.distributed scheduler and two worker processes from .venv
#   S3            moto's server mode from .venv
#
# Each address is exported for the tests (ML_ASSETS_TEST_POSTGRES, ML_ASSETS_TEST_DASK_SCHEDULER,
# ML_ASSETS_TEST_S3_ENDPOINT). ML_ASSETS_SERVICES names the ones to start (default all three:
# "postgres dask s3"); ML_ASSETS_PG_ROOT is where PostgreSQL's versions are looked for. Under
# CI=true a service that cannot start fails the suite; elsewhere it is left unset and its tests
# skip, naming the variable. Every process is stopped by its process
# group (each starts under setsid) and the cluster's folder is removed.

_services_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_services_dir=$(mktemp -d /tmp/ml_assets_services.XXXXXX)
_services_pids=()
_services_pg_data=""
_services_pg_user=""

_services_log() { printf 'services: %s\n' "$*" >&2; }

_services_failed() {
  # A service that cannot start: fatal under CI, a skip reason elsewhere.
  _services_log "$1 could not start (log: $2)"
  if [ "${CI:-}" = "true" ]; then
    tail -n 20 "$2" >&2 || true
    exit 1
  fi
}

_services_free_port() {
  "$_services_root/.venv/bin/python" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_services_wait_port() {
  # Wait up to $2 seconds for a TCP listener on 127.0.0.1:$1.
  local port=$1 deadline=$((SECONDS + $2))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

_services_spawn() {
  # Start "$@" in a process group of its own, output to log $1; remember its pid.
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 < /dev/null &
  _services_pids+=("$!")
}

_services_as_owner() {
  # Run "$@" as the cluster's owner: the postgres user when we are root, else ourselves.
  if [ "$(id -u)" = 0 ]; then runuser -u "$_services_pg_user" -- "$@"; else "$@"; fi
}

_services_pg_bin() {
  # The newest installed PostgreSQL's bin folder, or nothing; never fails, so that
  # `bin=$(_services_pg_bin)` under `set -euo pipefail` reaches the install branch.
  local found=()
  shopt -s nullglob
  found=("${ML_ASSETS_PG_ROOT:-/usr/lib/postgresql}"/*/bin)
  shopt -u nullglob
  [ "${#found[@]}" -eq 0 ] || printf '%s\n' "${found[@]}" | sort -V | tail -n 1
}

_services_start_postgres() {
  local bin port log="$_services_dir/postgres.log" server_log password
  bin=$(_services_pg_bin)
  if [ -z "$bin" ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    _services_log "installing postgresql (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
      >"$log" 2>&1 || true
    bin=$(_services_pg_bin)
  fi
  [ -n "$bin" ] || { _services_failed "PostgreSQL (no /usr/lib/postgresql/*/bin)" "$log"; return; }
  # PostgreSQL refuses to run as root: as root the cluster belongs to the postgres user.
  _services_pg_user=$(id -un)
  [ "$(id -u)" = 0 ] && _services_pg_user=postgres
  _services_pg_data="$_services_dir/pgdata"
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s\n' "$password" > "$_services_dir/pgpass"
  chown -R "$_services_pg_user" "$_services_dir"
  port=$(_services_free_port)
  server_log="$_services_dir/pgdata.log"  # written by the cluster's owner
  if ! _services_as_owner "$bin/initdb" -D "$_services_pg_data" -U dagster \
      --pwfile="$_services_dir/pgpass" -A scram-sha-256 --no-sync -E UTF8 >"$log" 2>&1 \
    || ! _services_as_owner "$bin/pg_ctl" -D "$_services_pg_data" -w -t 30 \
      -l "$server_log" -o "-h 127.0.0.1 -p $port -k $_services_dir -c fsync=off -c full_page_writes=off" \
      start > /dev/null \
    || ! PGPASSWORD=$password "$bin/createdb" -h 127.0.0.1 -p "$port" -U dagster dagster >>"$log" 2>&1
  then
    cat "$server_log" >>"$log" 2>/dev/null || true
    _services_failed PostgreSQL "$log"
    return
  fi
  export ML_ASSETS_TEST_POSTGRES="postgresql://dagster:$password@127.0.0.1:$port/dagster"
  _services_log "PostgreSQL on 127.0.0.1:$port"
}

_services_start_dask() {
  local port log="$_services_dir/dask.log" venv="$_services_root/.venv/bin"
  port=$(_services_free_port)
  _services_spawn "$log" "$venv/dask" scheduler --host 127.0.0.1 --port "$port" --no-dashboard
  _services_wait_port "$port" 60 || { _services_failed "the Dask scheduler" "$log"; return; }
  local address="tcp://127.0.0.1:$port" worker
  for worker in 1 2; do
    # One single-threaded worker process each: a step per process, as on separate machines.
    _services_spawn "$_services_dir/dask-worker-$worker.log" "$venv/dask" worker "$address" \
      --host 127.0.0.1 --nworkers 1 --nthreads 1 --no-dashboard --name "ml-assets-$worker" \
      --local-directory "$_services_dir/dask-worker-$worker"
  done
  if ! "$venv/python" -c 'import sys, distributed
with distributed.Client(sys.argv[1], timeout=30) as client:
    client.wait_for_workers(2, timeout=90)' "$address" >>"$log" 2>&1; then
    _services_failed "the Dask workers" "$log"
    return
  fi
  export ML_ASSETS_TEST_DASK_SCHEDULER="$address"
  _services_log "Dask scheduler on $address with 2 workers"
}

_services_start_s3() {
  local port log="$_services_dir/moto.log"
  port=$(_services_free_port)
  _services_spawn "$log" "$_services_root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port"
  _services_wait_port "$port" 60 || { _services_failed "the moto S3 server" "$log"; return; }
  export ML_ASSETS_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  _services_log "S3 (moto) on $ML_ASSETS_TEST_S3_ENDPOINT"
}

ml_assets_stop_services() {
  # Stop every service this file started, by process group, and remove the cluster.
  local pid bin
  if [ -n "$_services_pg_data" ] && [ -e "$_services_pg_data/postmaster.pid" ]; then
    bin=$(_services_pg_bin)
    _services_as_owner "$bin/pg_ctl" -D "$_services_pg_data" -m immediate \
      stop > /dev/null 2>&1 || true
  fi
  for pid in "${_services_pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || true
  done
  for pid in "${_services_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$_services_dir"
}

# Chain onto any EXIT trap already set (scripts/ci/chromium.sh may have one).
_services_previous_trap=$(trap -p EXIT | sed -E "s/^trap -- '(.*)' EXIT$/\1/")
trap "${_services_previous_trap:+$_services_previous_trap; }ml_assets_stop_services" EXIT
[ -x "$_services_root/.venv/bin/dask" ] || bash "$_services_root/scripts/setup.sh" --dev
for _services_name in ${ML_ASSETS_SERVICES:-postgres dask s3}; do
  case "$_services_name" in
    postgres) _services_start_postgres ;;
    dask) _services_start_dask ;;
    s3) _services_start_s3 ;;
    *) _services_log "unknown service $_services_name (ML_ASSETS_SERVICES)"; exit 2 ;;
  esac
done
