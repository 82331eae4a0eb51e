#!/usr/bin/env python3
"""A stand-in for the parts of NetSuite's REST web services that Arbiter's netsuite connector
uses, for tests and for integrators' dry runs. Python standard library only.

It follows NetSuite's documented behaviour:
  - OAuth 2.0 client credentials: `POST /services/rest/auth/oauth2/v1/token` with
    `grant_type=client_credentials` and the client authenticated by HTTP Basic (or client_id and
    client_secret in the form) -> {"access_token", "token_type": "bearer", "expires_in"}; a wrong
    client is 401 {"error": "invalid_client"} (RFC 6749 §5.2). NetSuite's own machine-to-machine
    flow signs a JWT client assertion with a certificate instead of a secret; the token this
    stand-in issues is used the same way.
  - Requests carry `Authorization: Bearer <token>`; a missing, unknown or expired token is 401
    with NetSuite's error body ({"type", "title": "Unauthorized", "status": 401, "o:errorDetails"}).
  - Upsert by external id: `PUT /services/rest/record/v1/{creditMemo|customerRefund}/eid:{id}`
    creates the record, or updates the one with that external id, and answers `204 No Content`
    with `Location: .../record/v1/{type}/{internal id}`
    (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545222128.html).
    External ids take letters, digits, `_` and `-` only; another character is 400. A body whose
    customer (`entity` or `customer`) is not a known customer is 400 with "Invalid Field Value".
  - `GET /services/rest/record/v1/{type}/eid:{id}` and `/{type}/{internal id}` read a record; an
    unknown one is 404.

Controls, not part of NetSuite:
  POST /_control/fail {"status": 503, "times": 2}   the next N record requests get that status
  POST /_control/expire                             every issued token expires now
  POST /_control/drop {"times": 1}                  the next N upserts are applied, then the connection closes unanswered
  POST /_control/set {"type": "creditMemo", "external_id": "…", "fields": {"status": "Voided"}}
                                                    changes a stored record (as a user in NetSuite would)
  GET  /_control/state                              records, token requests, record requests

Usage: netsuite-standin.py --client-id ID --client-secret SECRET [--customers 100,101] [--token-ttl 3600] [--port 0]
"""
import argparse
import base64
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RECORDS = {}            # (type, internal id) -> record
BY_EXTERNAL = {}        # (type, external id) -> internal id
TOKENS = {}             # token -> expiry (epoch seconds)
STATE = {"fail": None, "drop": 0, "token_requests": 0, "record_requests": 0, "next_id": 5000}
TYPES = {"creditMemo", "customerRefund"}
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]+$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/vnd.oracle.resource+json; type=error" if status >= 400 else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, title, detail, code):
        return self.reply(status, {"type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5." + str(status - 399),
                                   "title": title, "status": status,
                                   "o:errorDetails": [{"detail": detail, "o:errorCode": code}]})

    def raw_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def token(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode() if length else "")
        client_id = (form.get("client_id") or [None])[0]
        client_secret = (form.get("client_secret") or [None])[0]
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                client_id, client_secret = urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
            except ValueError:
                pass
        with LOCK:
            STATE["token_requests"] += 1
        if (form.get("grant_type") or [None])[0] != "client_credentials":
            return self.reply(400, {"error": "unsupported_grant_type"})
        if client_id != self.server.client_id or client_secret != self.server.client_secret:
            return self.reply(401, {"error": "invalid_client"})
        token = secrets.token_urlsafe(24)
        with LOCK:
            TOKENS[token] = time.time() + self.server.token_ttl
        return self.reply(200, {"access_token": token, "token_type": "bearer", "expires_in": self.server.token_ttl})

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return False
        with LOCK:
            expiry = TOKENS.get(auth[7:])
        return expiry is not None and expiry > time.time()

    def record_request(self, method):
        with LOCK:
            STATE["record_requests"] += 1
            fail = STATE["fail"]
            if fail and fail["times"] > 0:
                fail["times"] -= 1
                self.raw_body()
                return self.error(fail["status"], "Injected failure", "told to fail", "UNEXPECTED_ERROR")
        if not self.authorized():
            self.raw_body()
            return self.error(401, "Unauthorized", "Invalid login attempt. For more details, see the Login Audit Trail.", "INVALID_LOGIN")
        m = re.fullmatch(r"/services/rest/record/v1/(\w+)/(eid:)?([^/?]+)", self.path.split("?", 1)[0])
        if not m or m.group(1) not in TYPES:
            self.raw_body()
            return self.error(404, "Not Found", "Record type or path not found", "NONEXISTENT_ID")
        kind, by_external, key = m.group(1), bool(m.group(2)), urllib.parse.unquote(m.group(3))
        if method == "GET":
            with LOCK:
                internal = BY_EXTERNAL.get((kind, key)) if by_external else (int(key) if key.isdigit() else None)
                record = RECORDS.get((kind, internal))
            if record is None:
                return self.error(404, "Record not found", f"The record instance does not exist.", "NONEXISTENT_ID")
            return self.reply(200, record)
        if method != "PUT" or not by_external:
            self.raw_body()
            return self.error(405, "Method Not Allowed", "Use PUT with eid: to upsert", "METHOD_NOT_ALLOWED")
        if not EXTERNAL_ID.match(key):
            self.raw_body()
            return self.error(400, "Bad Request", f"Invalid external ID '{key}'.", "INVALID_ID")
        try:
            body = json.loads(self.raw_body() or b"{}")
        except ValueError:
            return self.error(400, "Bad Request", "Invalid JSON", "INVALID_CONTENT")
        customer = (body.get("entity") or body.get("customer") or {}).get("id")
        if str(customer) not in self.server.customers:
            return self.error(400, "Bad Request", f"Invalid Field Value {customer} for the following field: entity", "INVALID_FLD_VALUE")
        with LOCK:
            internal = BY_EXTERNAL.get((kind, key))
            if internal is None:
                STATE["next_id"] += 1
                internal = STATE["next_id"]
                BY_EXTERNAL[(kind, key)] = internal
            record = dict(RECORDS.get((kind, internal), {}))
            record.update(body)
            record.update({"id": str(internal), "externalId": key, "status": record.get("status", "Open"),
                           "tranId": record.get("tranId", f"{'CM' if kind == 'creditMemo' else 'RF'}{internal}")})
            RECORDS[(kind, internal)] = record
            drop = STATE["drop"] > 0
            if drop:
                STATE["drop"] -= 1
        if drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        base = f"http://{self.headers.get('Host')}"
        return self.reply(204, None, {"Location": f"{base}/services/rest/record/v1/{kind}/{internal}"})

    def control(self, method):
        body = json.loads(self.raw_body() or b"{}") if method == "POST" else {}
        with LOCK:
            if self.path == "/_control/state":
                records = {f"{kind}/{internal}": record for (kind, internal), record in RECORDS.items()}
                return self.reply(200, {"records": records, "token_requests": STATE["token_requests"],
                                        "record_requests": STATE["record_requests"]})
            if self.path == "/_control/fail":
                STATE["fail"] = {"status": int(body.get("status", 503)), "times": int(body.get("times", 1))}
            elif self.path == "/_control/expire":
                for token in TOKENS:
                    TOKENS[token] = 0
            elif self.path == "/_control/drop":
                STATE["drop"] = int(body.get("times", 1))
            elif self.path == "/_control/set":
                internal = BY_EXTERNAL.get((body.get("type"), body.get("external_id")))
                if internal is None:
                    return self.reply(404, {"error": "no such record"})
                RECORDS[(body["type"], internal)].update(body.get("fields") or {})
            else:
                return self.reply(404, {"error": "no such control"})
        return self.reply(200, {"ok": True})

    def do_GET(self):
        if self.path.startswith("/_control/"):
            return self.control("GET")
        return self.record_request("GET")

    def do_POST(self):
        if self.path.startswith("/_control/"):
            return self.control("POST")
        if self.path.split("?", 1)[0] == "/services/rest/auth/oauth2/v1/token":
            return self.token()
        self.raw_body()
        return self.error(405, "Method Not Allowed", "POST is not used for upserts", "METHOD_NOT_ALLOWED")

    def do_PUT(self):
        return self.record_request("PUT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--customers", default="100,101,102", help="the customers' internal ids, comma-separated")
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.client_id, server.client_secret, server.token_ttl = args.client_id, args.client_secret, args.token_ttl
    server.customers = set(c.strip() for c in args.customers.split(",") if c.strip())
    print(f"netsuite stand-in listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
