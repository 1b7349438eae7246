#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for Casebook's tests: `start DIR` initialises a cluster in
# DIR (initdb, as an unprivileged user when run as root), starts it on a Unix socket in DIR
# only (no TCP listener; the socket directory is mode 700) and prints the URL of its
# `postgres` database for CASEBOOK_TEST_POSTGRES; `stop DIR` stops it. Debian's `postgresql`
# package provides the binaries (scripts/install-deps.sh installs it).
#
#   url="$(bash scripts/pg-cluster.sh start /tmp/casebook-pg)"
#   CASEBOOK_TEST_POSTGRES="$url" cargo test -p casebook-server
#   bash scripts/pg-cluster.sh stop /tmp/casebook-pg
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
action="$1"
dir="$2"
port="${CASEBOOK_PG_PORT:-5433}"

bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "PostgreSQL's binaries are not installed (run scripts/install-deps.sh)" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: run it as `postgres` (the Debian package's user).
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  as_owner=(runuser -u postgres --)
fi

case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      "${as_owner[@]}" "$bindir/initdb" -D "$dir/data" -U casebook -A trust -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if ! "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
      "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -p $port -c listen_addresses='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=500" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    fi
    echo "postgresql://casebook@/postgres?host=$dir&port=$port"
    ;;
  stop)
    if [ -f "$dir/data/PG_VERSION" ]; then
      "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
  *) usage ;;
esac
