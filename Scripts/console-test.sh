#!/usr/bin/env bash
# Drives the reviewer console in headless Chromium against a real `arbiter serve` (temporary
# data directory, shipped policies): sign-in, claim, approve, reject, approval limit, lower
# amount, sign-out. Screenshots go to $SCREENSHOTS (default .build/console-screenshots).
# Needs a built `arbiter` (Scripts/test.sh builds it) and Chromium; installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/deps.sh --browser

BIN="$(swift build --show-bin-path)/arbiter"
[ -x "$BIN" ] || swift build --product arbiter
SCREENSHOTS="${SCREENSHOTS:-$PWD/.build/console-screenshots}"
PORT="${CONSOLE_TEST_PORT:-18091}"
DATA="$(mktemp -d)"
ADMIN_KEY="console-test-admin-$(date +%s%N)"
rm -rf "$SCREENSHOTS"

ARBITER_ADMIN_KEY="$ADMIN_KEY" "$BIN" serve --data-dir "$DATA" --port "$PORT" >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
if ! python3 Scripts/console-test.py --base-url "http://127.0.0.1:$PORT" --admin-key "$ADMIN_KEY" --screenshots "$SCREENSHOTS"; then
    echo "--- server log" >&2
    tail -50 "$DATA/server.log" >&2
    exit 1
fi
