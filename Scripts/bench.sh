#!/usr/bin/env bash
# Benchmarks. `Scripts/bench.sh engine`: policy evaluations per second through the engine's
# Swift API (marshalling both ways, pooled states, limits on), one thread then all cores.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/deps.sh
case "${1:-}" in
    engine)
        swift build -c release --product arbiter-bench
        exec .build/release/arbiter-bench engine --policy Policies/credit_thresholds.lua "${@:2}"
        ;;
    *)
        echo "usage: Scripts/bench.sh engine [--seconds N]" >&2
        exit 2
        ;;
esac
