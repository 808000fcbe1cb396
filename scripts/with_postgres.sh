#!/usr/bin/env bash
# Run a command against a throw-away PostgreSQL server started here from Debian's binaries.
# The server is stopped by the process id recorded at start (never by name), even on failure.
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
ROOT=$(mktemp -d /tmp/labdb-pg.XXXXXX)
PORT=${LABDB_PG_PORT:-55432}
RUNAS=()
if [ "$(id -u)" = "0" ]; then
  chown postgres:postgres "$ROOT"
  RUNAS=(runuser -u postgres --)
fi
"${RUNAS[@]}" "$PGBIN/initdb" -D "$ROOT/data" -U labdb --auth=trust -E UTF8 >"$ROOT/initdb.log"
"${RUNAS[@]}" "$PGBIN/postgres" -D "$ROOT/data" -p "$PORT" -k "$ROOT" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off >"$ROOT/server.log" 2>&1 &
WRAPPER_PID=$!
PG_PID=""
stop() {
  # The postmaster's own pid (first line of postmaster.pid), not the runuser wrapper's.
  if [ -n "$PG_PID" ]; then
    kill -INT "$PG_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  wait "$WRAPPER_PID" 2>/dev/null || true
  rm -rf "$ROOT"
}
trap stop EXIT
for _ in $(seq 1 100); do
  "$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q && break
  sleep 0.1
done
"$PGBIN/pg_isready" -h 127.0.0.1 -p "$PORT" -q || { cat "$ROOT/server.log"; exit 1; }
PG_PID=$(head -n 1 "$ROOT/data/postmaster.pid")
"$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U labdb labdb
export DATABASE_URL="postgres://labdb@127.0.0.1:$PORT/labdb"
echo "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on port $PORT (pid $PG_PID)"
"$@"
