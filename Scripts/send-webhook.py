#!/usr/bin/env python3
"""Signs a webhook fixture as the vendor would and sends it to Arbiter (standard library only).

    Scripts/send-webhook.py stripe|zendesk|basic|hmac FIXTURE.json --secret SECRET [--url http://127.0.0.1:8080/v1/inbound/<vendor>]
                                                      [--timestamp UNIX] [--fresh-id] [--invocation-id ID] [--header NAME]

stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` as documented at
https://docs.stripe.com/webhooks#verify-manually (with --fresh-id, the event's id is replaced by
a new one so that it is not a retry, and `created` is set to now).
zendesk: `X-Zendesk-Webhook-Signature: <base64 HMAC-SHA256 of "<timestamp><body>">` with
`X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601) as documented at
https://developer.zendesk.com/documentation/webhooks/verifying/, and a new
`X-Zendesk-Webhook-Invocation-Id` (or --invocation-id, to send a retry).
basic (mapped sources such as Chargebee, which authenticates its webhooks with HTTP Basic):
`Authorization: Basic base64(<secret>)`, the secret being `user:password`; --fresh-id gives the
body's top-level `id` a new value.
hmac (mapped sources that sign the body): `<--header, default X-Signature>: sha256=<hex
HMAC-SHA256 of the body>`.
The body is otherwise sent byte for byte as in the file. Prints the status and Arbiter's
answer; exits 1 on a status >= 400.
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def zendesk_headers(body: bytes, secret: str, timestamp: int, invocation: str) -> dict:
    at = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(secret.encode(), at.encode() + body, hashlib.sha256).digest()
    return {"X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(), "X-Zendesk-Webhook-Signature-Timestamp": at,
            "X-Zendesk-Webhook-Id": "01GZ8BBXT4JE4YF2P2C1X8XK2A", "X-Zendesk-Webhook-Invocation-Id": invocation,
            "User-Agent": "Zendesk Webhook"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vendor", choices=["stripe", "zendesk", "basic", "hmac"])
    parser.add_argument("fixture")
    parser.add_argument("--secret", required=True, help="the source's signing secret")
    parser.add_argument("--url", help="default http://127.0.0.1:8080/v1/inbound/<vendor>")
    parser.add_argument("--timestamp", type=int, help="the signature's time (default now)")
    parser.add_argument("--fresh-id", action="store_true", help="stripe: a new event id and created time, so it is not a retry")
    parser.add_argument("--invocation-id", help="zendesk: the invocation id (default a new one)")
    parser.add_argument("--header", default="X-Signature", help="hmac: the header that carries the signature")
    args = parser.parse_args()

    with open(args.fixture, "rb") as f:
        body = f.read()
    if args.fresh_id and args.vendor in ("stripe", "basic"):
        event = json.loads(body)
        event["id"] = ("evt_" if args.vendor == "stripe" else "ev_") + uuid.uuid4().hex[:24]
        if args.vendor == "stripe":
            event["created"] = int(time.time())
        body = json.dumps(event).encode()
    timestamp = args.timestamp if args.timestamp is not None else int(time.time())
    url = args.url or f"http://127.0.0.1:8080/v1/inbound/{args.vendor}"
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if args.vendor == "stripe":
        headers["User-Agent"] = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
        headers["Stripe-Signature"] = stripe_signature(body, args.secret, timestamp)
    elif args.vendor == "zendesk":
        headers.update(zendesk_headers(body, args.secret, timestamp, args.invocation_id or str(uuid.uuid4())))
    elif args.vendor == "basic":
        headers["Authorization"] = "Basic " + base64.b64encode(args.secret.encode()).decode()
    else:
        headers[args.header] = "sha256=" + hmac.new(args.secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(response.status, response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode())
        return 1


if __name__ == "__main__":
    sys.exit(main())
