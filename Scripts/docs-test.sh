#!/usr/bin/env bash
# Runs the getting-started walkthrough against a real `arbiter serve` and checks that every
# command in README.md and docs/ names a CLI command and options, an API method and path, or a
# script that exists (Scripts/docs-test.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${DOCS_TEST_PORT:-18095}"
source Scripts/test-server.sh
echo "$ADMIN_KEY" > "$DATA/admin.key"
if ! ARBITER_URL="http://127.0.0.1:$PORT" ARBITER_DATA="$DATA" python3 Scripts/docs-test.py "$BIN"; then
    echo "--- server log" >&2
    tail -30 "$DATA/server.log" >&2
    exit 1
fi
