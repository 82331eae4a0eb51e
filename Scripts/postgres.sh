#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for tests, on a Unix socket only (no TCP port: parallel runs
# do not collide). Debian's `postgresql` package; initdb refuses to run as root, so the cluster
# runs as the `postgres` user in a temporary directory.
#   Scripts/postgres.sh start [--durable]  prints the directory (the socket is DIR/.s.PGSQL.5432);
#                                          --durable keeps fsync on (benchmarks of durable writes)
#   Scripts/postgres.sh stop DIR           stops it and removes the directory
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
as_postgres() {
    if [ "$(id -un)" = postgres ]; then "$@"; elif [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}
case "${1:-}" in
    start)
        [ -x "$BIN/initdb" ] || bash "$(dirname "$0")/deps.sh" --postgres >&2
        dir=$(mktemp -d)
        chmod 755 "$dir"
        chown postgres "$dir" 2>/dev/null || true
        as_postgres "$BIN/initdb" -D "$dir/data" --locale=C -E UTF8 -A trust >/dev/null
        # fsync off for tests: they hold test data only. A durability benchmark keeps it on (and
        # synchronous_commit, the default): a commit waits for the WAL on disk.
        fsync=off
        [ "${2:-}" = --durable ] && fsync=on
        as_postgres "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
            -o "-k $dir -c listen_addresses='' -c fsync=$fsync -c max_connections=500" -w start >/dev/null
        echo "$dir"
        ;;
    stop)
        dir=${2:?usage: postgres.sh stop DIR}
        as_postgres "$BIN/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null 2>&1 || true
        rm -rf "$dir"
        ;;
    *)
        echo "usage: Scripts/postgres.sh start | stop DIR" >&2
        exit 2
        ;;
esac
