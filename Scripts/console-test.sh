#!/usr/bin/env bash
# Drives the reviewer console in headless Chromium against a real `arbiter serve` (temporary
# data directory, shipped policies): sign-in, claim, approve, reject, approval limit, lower
# amount, sign-out. Screenshots go to $SCREENSHOTS (default .build/console-screenshots).
# Needs a built `arbiter` (Scripts/test.sh builds it) and Chromium; installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/deps.sh --browser

SCREENSHOTS="${SCREENSHOTS:-$PWD/.build/console-screenshots}"
PORT="${CONSOLE_TEST_PORT:-18091}"
rm -rf "$SCREENSHOTS"
source Scripts/test-server.sh
if ! python3 Scripts/console-test.py --base-url "http://127.0.0.1:$PORT" --admin-key "$ADMIN_KEY" --screenshots "$SCREENSHOTS"; then
    echo "--- server log" >&2
    tail -50 "$DATA/server.log" >&2
    exit 1
fi
