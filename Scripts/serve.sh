#!/usr/bin/env bash
# Installs what is missing, builds in release mode and runs Arbiter on its embedded SQLite
# database (./data/arbiter.sqlite) with the policies in ./Policies.
# Extra arguments go to `arbiter serve` (e.g. --port 9090).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/deps.sh
swift build -c release --product arbiter
exec .build/release/arbiter serve --data-dir data --policies Policies "$@"
