#!/usr/bin/env bash
# Drives the console in headless Chromium against a real `arbiter serve` (temporary data
# directory, shipped policies, Scripts/erp-receiver.py as the ERP): a reviewer's sign-in, claim,
# approve, reject, approval limit, lower amount, sign-out; an operator's dashboard and retry of a
# dead letter; an auditor's trail, a case's story and an export verified offline; finance publishing
# a version (a failing test, a compile error at its line, then fixed), proposing it and a second
# policy admin approving it (maker-checker on), after which the next event is decided by it. Screenshots go to $SCREENSHOTS (default .build/console-screenshots).
# Needs a built `arbiter` (Scripts/test.sh builds it) and Chromium; installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/deps.sh --browser

SCREENSHOTS="${SCREENSHOTS:-$PWD/.build/console-screenshots}"
PORT="${CONSOLE_TEST_PORT:-18091}"
ERP_PORT="${CONSOLE_TEST_ERP_PORT:-18094}"
rm -rf "$SCREENSHOTS"
# The ERP: Scripts/erp-receiver.py, told by the test to refuse an action (a dead letter for the operator).
export ARBITER_ERP_SECRET="console-test-erp-secret-0123"
python3 Scripts/erp-receiver.py --port "$ERP_PORT" --secret "$ARBITER_ERP_SECRET" >/dev/null 2>&1 &
ERP=$!
SERVE_ARGS="--erp-url http://127.0.0.1:$ERP_PORT --erp-max-attempts 2 --erp-max-delay-s 1 --require-policy-approval"
source Scripts/test-server.sh
trap 'kill $SERVER $ERP 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
if ! python3 Scripts/console-test.py --base-url "http://127.0.0.1:$PORT" --admin-key "$ADMIN_KEY" --screenshots "$SCREENSHOTS" \
        --erp-url "http://127.0.0.1:$ERP_PORT" --arbiter "$BIN"; then
    echo "--- server log" >&2
    tail -50 "$DATA/server.log" >&2
    exit 1
fi
