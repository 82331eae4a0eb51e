#!/usr/bin/env bash
# Benchmarks.
#   Scripts/bench.sh engine [--seconds N]   policy evaluations per second through the engine's
#                                           Swift API (marshalling, pooled states, limits on)
#   Scripts/bench.sh http [--seconds N]     durable decisions per second over HTTP: a release
#                                           server on a temporary database, 64 connections,
#                                           credit requests over 10,000 accounts; then the
#                                           SQLite ceiling for the same rows in batched commits
#     [--database postgres --instances N]   the same first on SQLite (one instance, for
#                                           comparison), then on a throwaway PostgreSQL cluster
#                                           (fsync on) with N instances, the connections spread
#                                           over them; the last line ends instances=N backend=postgres
#   Scripts/bench.sh inbound [--seconds N]  signed Stripe invoice.payment_failed webhooks to
#                                           /v1/inbound/stripe over 64 connections (each a new
#                                           message for a synced customer), then the canonical
#                                           POST /v1/events load in the same run; last line
#                                           inbound messages_per_s=… p99_ms=… http_events_per_s=…
#   Scripts/bench.sh erp [--mode live]      ERP delivery: 20,000 approved credits over 1,000
#                                           accounts delivered by the dispatcher over HTTP (signed)
#                                           to a receiver in the same process; by default all are
#                                           committed first (the dispatcher alone), with
#                                           --mode live they are committed while it delivers
#   Scripts/bench.sh backtest [--events N]  200,000 stored credit requests (by default) replayed
#                                           through a candidate credit_thresholds on every core
#   Scripts/bench.sh limits                 how far past its time limit a hostile evaluation runs:
#                                           expensive instructions, a full heap, bulk C work
#   Scripts/bench.sh scrape                 /metrics and /readyz with 1,000,000 outbox actions and
#                                           100,000 review items (and the counts they used to run)
#   Scripts/bench.sh reconcile [--actions N] 1,000,000 money actions (by default) reconciled against an
#                                           ERP export of about as many rows with 1 % of each exception
#                                           class; last line reconcile rows_per_s=… peak_rss_mb=…
#   Scripts/bench.sh export [--rows N]      1,000,000 audit entries (by default) exported with a
#                                           signed manifest, then verified as verify-export does
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/deps.sh
case "${1:-}" in
    engine)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench engine --policy Policies/credit_thresholds.lua "${@:2}"
        ;;
    http|inbound)
        mode=$1
        swift build -c release --product arbiter
        swift build -c release --product arbiter-bench
        backend=sqlite
        instances=1
        rest=()
        while [ $# -gt 1 ]; do
            case "$2" in
                --database) backend=$3; shift 2 ;;
                --instances) instances=$3; shift 2 ;;
                *) rest+=("$2"); shift ;;
            esac
        done
        [ "$backend" = sqlite ] || [ "$backend" = postgres ] || { echo "--database is sqlite or postgres" >&2; exit 2; }
        data=$(mktemp -d)
        port=${BENCH_PORT:-18080}
        admin="bench-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        stripe_secret="whsec_bench_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        servers=()
        cluster=""
        cleanup() {
            for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
            servers=()
            [ -n "$cluster" ] && Scripts/postgres.sh stop "$cluster"
            cluster=""
            rm -rf "$data"
        }
        trap cleanup EXIT
        # Starts one instance per port from $1 (a database URL, or empty for SQLite); sets $urls.
        start() {
            urls=""
            for i in $(seq 0 $((instances - 1))); do
                local p=$((port + i))
                mkdir -p "$data/$i"
                ARBITER_ADMIN_KEY=$admin ARBITER_STRIPE_WEBHOOK_SECRET=$stripe_secret .build/release/arbiter serve --data-dir "$data/$i" --policies Policies --port "$p" \
                    ${1:+--database "$1"} > "$data/server-$i.log" 2>&1 &
                servers+=($!)
                for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$p/readyz" > /dev/null && break; sleep 0.1; done
                urls="$urls${urls:+,}http://127.0.0.1:$p"
            done
        }
        if [ "$mode" = inbound ]; then
            [ "$backend" = sqlite ] || { echo "bench.sh inbound runs on SQLite" >&2; exit 2; }
            start ""
            .build/release/arbiter-bench inbound --server "$urls" --admin-key "$admin" --stripe-secret "$stripe_secret" "${rest[@]}"
        elif [ "$backend" = postgres ]; then
            echo "== SQLite, one instance (for comparison)"
            instances_wanted=$instances
            instances=1
            start ""
            .build/release/arbiter-bench http --server "$urls" --admin-key "$admin" "${rest[@]}" --label "instances=1 backend=sqlite"
            for pid in "${servers[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
            servers=()
            instances=$instances_wanted
            echo "== PostgreSQL, $instances instances"
            cluster=$(Scripts/postgres.sh start --durable)
            runuser -u postgres -- psql -q -h "$cluster" -c "CREATE DATABASE bench" postgres
            start "postgres://postgres@/bench?host=$cluster"
            .build/release/arbiter-bench http --server "$urls" --admin-key "$admin" "${rest[@]}" \
                --label "instances=$instances backend=postgres"
        else
            start ""
            .build/release/arbiter-bench http --server "$urls" --admin-key "$admin" "${rest[@]}"
        fi
        ;;
    erp)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench erp --mode backlog "${@:2}"
        ;;
    scrape)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench scrape "${@:2}"
        ;;
    limits)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench limits "${@:2}"
        ;;
    export)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench export "${@:2}"
        ;;
    reconcile)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench reconcile "${@:2}"
        ;;
    backtest)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench backtest "${@:2}"
        ;;
    *)
        echo "usage: Scripts/bench.sh engine|http|erp|backtest|export|limits|scrape [options]" >&2
        exit 2
        ;;
esac
