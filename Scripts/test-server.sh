# Sourced by the browser and contract tests: starts a real `arbiter serve` on $PORT with a
# temporary data directory and the shipped policies, waits until it is ready, and stops it and
# removes the directory when the calling script exits. Sets BIN, DATA, ADMIN_KEY, SERVER.
BIN="$(swift build --show-bin-path)/arbiter"
[ -x "$BIN" ] || swift build --product arbiter
DATA="$(mktemp -d)"
ADMIN_KEY="test-admin-$(date +%s%N)"
# SERVE_ARGS: more options for `arbiter serve` (the console test's ERP stand-in).
ARBITER_ADMIN_KEY="$ADMIN_KEY" "$BIN" serve --data-dir "$DATA" --port "$PORT" ${SERVE_ARGS:-} >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
