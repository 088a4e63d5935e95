#!/bin/sh
# A private MariaDB server for the tests: own datadir, unix socket and a free
# 127.0.0.1 port, run as the current user (root included), a test database
# and a user with a password.
#
#   mariadb_server.sh start DIR    initialise DIR once, start the server, print the DSN
#                                  (also written to DIR/dsn)
#   mariadb_server.sh stop DIR     stop the server (SIGTERM, then SIGKILL), keep the data
#   mariadb_server.sh kill DIR     SIGKILL the server (a crash), keep the data
#   mariadb_server.sh destroy DIR  stop and delete DIR
# HA_SYNC_MARIADB_OPTS adds mariadbd options (e.g. a bigger buffer pool for perf/flush_bench).
#
#   mariadb_server.sh run CMD...   when HA_SYNC_TEST_MYSQL_DSN is unset: start a server in a
#                                  temporary DIR, export HA_SYNC_TEST_MYSQL_DSN,
#                                  HA_SYNC_TEST_MARIADB_DIR and HA_SYNC_TEST_MARIADB_CTL (this
#                                  script), run CMD, destroy DIR; exit with CMD's status.
#                                  When it is set, just run CMD against that server.
#
# Needs Debian's mariadb-server (mariadb-install-db, mariadbd, mariadb, mariadb-admin).
set -eu

SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

find_bin() {
  for name in "$@"; do
    for d in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
      if [ -x "$d/$name" ]; then echo "$d/$name"; return 0; fi
    done
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  echo "mariadb_server.sh: none of '$*' is installed (apt-get install mariadb-server)" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

server_pid() {
  [ -f "$1/mysqld.pid" ] && cat "$1/mysqld.pid" 2>/dev/null || true
}

is_running() {
  pid=$(server_pid "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

start() {
  dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  mariadbd=$(find_bin mariadbd mysqld)
  client=$(find_bin mariadb mysql)
  admin=$(find_bin mariadb-admin mysqladmin)
  user_opt=""
  if [ "$(id -u)" = 0 ]; then user_opt="--user=root"; fi
  # unix socket paths are limited to 107 bytes: keep the socket short.
  if [ ! -f "$dir/socket" ]; then
    mktemp -d /tmp/ha-mdb.XXXXXX > "$dir/socket.dir"
    echo "$(cat "$dir/socket.dir")/mysqld.sock" > "$dir/socket"
  fi
  sock=$(cat "$dir/socket")
  mkdir -p "$(dirname "$sock")"
  if [ ! -d "$dir/data/mysql" ]; then
    install_db=$(find_bin mariadb-install-db mysql_install_db)
    rm -rf "$dir/data"
    if ! "$install_db" --no-defaults --datadir="$dir/data" $user_opt \
        --auth-root-authentication-method=normal --skip-test-db \
        > "$dir/install.log" 2>&1; then
      cat "$dir/install.log" >&2
      return 1
    fi
  fi
  if is_running "$dir"; then
    cat "$dir/dsn"
    return 0
  fi
  attempt=0
  while :; do
    attempt=$((attempt + 1))
    [ -f "$dir/port" ] || free_port > "$dir/port"
    port=$(cat "$dir/port")
    # Small, quick server; InnoDB keeps its default durability (a commit is
    # on disk when COMMIT returns), which the exactly-once tests rely on.
    "$mariadbd" --no-defaults --datadir="$dir/data" $user_opt \
      --socket="$sock" --port="$port" --bind-address=127.0.0.1 \
      --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
      --skip-name-resolve --innodb-buffer-pool-size=256M --innodb-log-file-size=256M \
      --max-connections=200 --skip-log-bin ${HA_SYNC_MARIADB_OPTS:-} \
      > /dev/null 2>&1 &
    server=$!
    tries=0
    started=1
    until "$admin" --no-defaults --socket="$sock" -uroot ping > /dev/null 2>&1; do
      tries=$((tries + 1))
      if ! kill -0 "$server" 2>/dev/null || [ $tries -gt 600 ]; then
        started=0
        break
      fi
      sleep 0.1
    done
    [ $started = 1 ] && break
    # The free port may have been taken between choosing and binding it:
    # before the DSN is published, choose another one.
    if [ $attempt -lt 3 ] && [ ! -f "$dir/dsn" ] && grep -q "already in use" "$dir/error.log" 2>/dev/null; then
      kill -KILL "$server" 2>/dev/null || true
      rm -f "$dir/port"
      continue
    fi
    echo "mariadb_server.sh: server did not start; $dir/error.log:" >&2
    tail -20 "$dir/error.log" >&2
    return 1
  done
  if [ ! -f "$dir/dsn" ]; then
    pass="t0p:S3cr@t-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    "$client" --no-defaults --socket="$sock" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS ha_sync_test;
CREATE USER IF NOT EXISTS 'hasync'@'127.0.0.1' IDENTIFIED BY '$pass';
CREATE USER IF NOT EXISTS 'hasync'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL PRIVILEGES ON \`ha_sync%\`.* TO 'hasync'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`ha_sync%\`.* TO 'hasync'@'localhost';
SQL
    echo "hasync:$pass@tcp(127.0.0.1:$port)/ha_sync_test" > "$dir/dsn"
  fi
  cat "$dir/dsn"
}

stop() {
  dir=$1
  pid=$(server_pid "$dir")
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  tries=0
  while kill -0 "$pid" 2>/dev/null; do
    tries=$((tries + 1))
    if [ $tries -gt 300 ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    sleep 0.1
  done
  rm -f "$dir/mysqld.pid"
}

kill_server() {
  dir=$1
  pid=$(server_pid "$dir")
  [ -n "$pid" ] || return 0
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
  rm -f "$dir/mysqld.pid"
}

destroy() {
  dir=$1
  [ -d "$dir" ] || return 0
  stop "$dir"
  if [ -f "$dir/socket.dir" ]; then rm -rf "$(cat "$dir/socket.dir")"; fi
  rm -rf "$dir"
}

run() {
  if [ -n "${HA_SYNC_TEST_MYSQL_DSN:-}" ]; then
    exec "$@"
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/ha-sync-mariadb.XXXXXX")
  trap 'destroy "$dir"' EXIT
  trap 'exit 130' INT TERM
  HA_SYNC_TEST_MYSQL_DSN=$(start "$dir")
  HA_SYNC_TEST_MARIADB_DIR=$dir
  HA_SYNC_TEST_MARIADB_CTL=$SELF
  export HA_SYNC_TEST_MYSQL_DSN HA_SYNC_TEST_MARIADB_DIR HA_SYNC_TEST_MARIADB_CTL
  status=0
  "$@" || status=$?
  return $status
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start "$1" ;;
  stop) stop "$1" ;;
  kill) kill_server "$1" ;;
  destroy) destroy "$1" ;;
  run) run "$@" ;;
  *)
    echo "usage: mariadb_server.sh start|stop|kill|destroy DIR | run CMD..." >&2
    exit 64
    ;;
esac
