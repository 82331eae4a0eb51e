#!/usr/bin/env python3
"""A small ERP stand-in for integrators: receives Arbiter's approved actions and prints them.

Python standard library only. For every POST it checks what a real ERP integration must check:

  * Arbiter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>
    (401 when it does not verify, or when t is more than --max-skew seconds away: replays)
  * Idempotency-Key: present and equal to the action's "id" (400 otherwise); a key seen before
    gets 409 with the reference given the first time (Arbiter counts 409 as delivered)

and answers 201 {"reference": "ERP-000001"} for a new action. It can be told to misbehave, from
the command line or while running (POST /_control with the same names as JSON):

  --fail-status 503 --fail-count 3   the next 3 actions get a 503 (any status: 400, 429, 500, ...)
  --retry-after 2                    send Retry-After: 2 with failures (use with 429)
  --delay-ms 1500                    wait before answering (longer than --erp-timeout-ms: a time-out)
  --drop-count 2                     close the next 2 connections without answering

Example:
  python3 Scripts/erp-receiver.py --port 9090 --secret "$ARBITER_ERP_SECRET"
  curl -X POST localhost:9090/_control -d '{"fail_status": 500, "fail_count": 5}'
"""
import argparse
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

state_lock = threading.Lock()
state = {"fail_status": 0, "fail_count": 0, "retry_after": None, "delay_ms": 0, "drop_count": 0}
seen = {}          # idempotency key -> reference
counter = [0]


def verify(secret, header, body, max_skew):
    """True when the signature header is valid for body and recent enough."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False, "malformed Arbiter-Signature header"
    if abs(time.time() - t) > max_skew:
        return False, f"signature time {t} is more than {max_skew} s away"
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        return False, "signature does not match (wrong secret, or the body was changed)"
    return True, ""


def money(action):
    if "amount_minor" not in action:
        return ""
    minor = int(action["amount_minor"])
    return f"{minor // 100}.{minor % 100:02d} {action.get('currency', '')}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "erp-receiver"

    def log_message(self, *args):
        pass

    def reply(self, status, payload=None, headers=None):
        body = json.dumps(payload or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/_control":
            changes = json.loads(body or b"{}")
            with state_lock:
                state.update({k: v for k, v in changes.items() if k in state})
                now = dict(state)
            print(f"control: {now}", flush=True)
            return self.reply(200, now)

        with state_lock:
            drop = state["drop_count"] > 0
            if drop:
                state["drop_count"] -= 1
            delay = state["delay_ms"]
            fail = state["fail_status"] if state["fail_count"] > 0 else 0
            if fail:
                state["fail_count"] -= 1
            retry_after = state["retry_after"]
        if drop:
            print("dropping the connection", flush=True)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if delay:
            time.sleep(delay / 1000)

        ok, why = verify(self.server.secret, self.headers.get("Arbiter-Signature", ""), body, self.server.max_skew)
        if not ok:
            print(f"REFUSED: {why}", flush=True)
            return self.reply(401, {"error": why})
        key = self.headers.get("Idempotency-Key", "")
        try:
            action = json.loads(body)
        except ValueError:
            return self.reply(400, {"error": "body is not JSON"})
        if not key or key != action.get("id"):
            return self.reply(400, {"error": "Idempotency-Key must be the action's id"})
        if fail:
            print(f"failing {action.get('type')} {key} with {fail}", flush=True)
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            return self.reply(fail, {"error": f"told to fail with {fail}"}, headers)
        with state_lock:
            if key in seen:
                reference, duplicate = seen[key], True
            else:
                counter[0] += 1
                reference, duplicate = f"ERP-{counter[0]:06d}", False
                seen[key] = reference
        if duplicate:
            print(f"duplicate {key} (already {reference}): 409", flush=True)
            return self.reply(409, {"reference": reference, "error": "already received"})
        detail = action.get("memo") or action.get("feature") or action.get("reason") or ""
        print(f"{reference}  {action.get('type', '?'):<22} {money(action):>16}  {action.get('account_id', '')}  "
              f"{action.get('correlation_id', '')}  {detail}", flush=True)
        return self.reply(201, {"reference": reference})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--secret", default=os.environ.get("ARBITER_ERP_SECRET"), help="the shared signing secret")
    parser.add_argument("--max-skew", type=int, default=300)
    parser.add_argument("--fail-status", type=int, default=0)
    parser.add_argument("--fail-count", type=int, default=0)
    parser.add_argument("--retry-after", type=int)
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--drop-count", type=int, default=0)
    args = parser.parse_args()
    if not args.secret:
        parser.error("--secret (or ARBITER_ERP_SECRET) is required to verify signatures")
    state.update(fail_status=args.fail_status, fail_count=args.fail_count, retry_after=args.retry_after,
                 delay_ms=args.delay_ms, drop_count=args.drop_count)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.secret = args.secret
    server.max_skew = args.max_skew
    print(f"ERP receiver on http://{args.host}:{args.port}/ (any path); Ctrl-C to stop", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
