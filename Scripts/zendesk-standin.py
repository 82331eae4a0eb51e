#!/usr/bin/env python3
"""A stand-in for the parts of the Zendesk Support API that Arbiter's answers use, for tests
and for integrators' dry runs. Python standard library only.

It follows Zendesk's documented behaviour:
  - API-token authentication: `Authorization: Basic base64("{email}/token:{token}")`; anything
    else is 401 {"error": "Couldn't authenticate you"}
    (https://developer.zendesk.com/api-reference/introduction/security-and-auth/).
  - Update Ticket, `PUT /api/v2/tickets/{id}.json` with `{"ticket": {...}}`: `comment` adds a
    comment (`public: false` makes it an internal note), `additional_tags` adds tags to the
    ticket's own, `tags` replaces them, `status` sets it; the answer is 200
    `{"ticket": {...}, "audit": {"id", "ticket_id", "created_at", "events": [...]}}`. A closed
    ticket cannot be updated: 422 RecordInvalid "Status: closed prevents ticket update"
    (https://developer.zendesk.com/api-reference/ticketing/tickets/tickets/#update-ticket).
  - Show Ticket, `GET /api/v2/tickets/{id}.json`; an unknown ticket is 404
    {"error": "RecordNotFound", "description": "Not found"}.
  - List Comments, `GET /api/v2/tickets/{id}/comments.json?sort_order=asc|desc` (oldest first by
    default) -> {"comments": [...], "next_page", "previous_page", "count"}
    (https://developer.zendesk.com/api-reference/ticketing/tickets/ticket_comments/#list-comments).
  - Rate limits: 429 with `Retry-After` in seconds
    (https://developer.zendesk.com/api-reference/introduction/rate-limits/).

Tickets 1-99999 exist (status "open", no comments) until closed. Controls, not part of Zendesk:
  POST /_control/fail  {"status": 503, "times": 2, "retry_after": 0}  the next N API requests get that status
  POST /_control/drop  {"times": 1}  the next N updates are applied, then the connection is closed unanswered
  POST /_control/close {"ticket": "123"}  the ticket is closed
  GET  /_control/state  every ticket touched, with its comments and tags, and the request count

Usage: zendesk-standin.py --email agent@example.com --token TOKEN [--port 0] [--port-file FILE]
The port it listens on is printed and, with --port-file, written to FILE once it listens.
"""
import argparse
import base64
import datetime
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
TICKETS = {}          # id -> {"id", "status", "tags", "comments": [...]}
CONTROL = {"fail": None, "drop": 0, "requests": 0, "next_id": 1000}


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticket(tid):
    """The ticket, made on first use; None for an id no ticket has."""
    if not (1 <= tid <= 99999):
        return None
    if tid not in TICKETS:
        TICKETS[tid] = {"id": tid, "status": "open", "tags": [], "comments": []}
    return TICKETS[tid]


def next_id():
    CONTROL["next_id"] += 1
    return CONTROL["next_id"]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def authorized(self):
        expected = "Basic " + base64.b64encode(f"{self.server.email}/token:{self.server.token}".encode()).decode()
        return self.headers.get("Authorization") == expected

    def api(self, method):
        """The Zendesk API: authentication, injected failures, then the endpoint."""
        with LOCK:
            CONTROL["requests"] += 1
            fail = CONTROL["fail"]
            if fail and fail["times"] > 0:
                fail["times"] -= 1
                headers = {"Retry-After": str(fail.get("retry_after", 0))} if fail["status"] == 429 else {}
                return self.reply(fail["status"], {"error": "injected failure"}, headers)
        if not self.authorized():
            return self.reply(401, {"error": "Couldn't authenticate you"})
        path = self.path.split("?", 1)[0]
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        m = re.fullmatch(r"/api/v2/tickets/(\d+)\.json", path)
        if m and method == "GET":
            with LOCK:
                t = ticket(int(m.group(1)))
                if t is None:
                    return self.reply(404, {"error": "RecordNotFound", "description": "Not found"})
                return self.reply(200, {"ticket": {k: v for k, v in t.items() if k != "comments"}})
        if m and method == "PUT":
            return self.update(int(m.group(1)))
        m = re.fullmatch(r"/api/v2/tickets/(\d+)/comments\.json", path)
        if m and method == "GET":
            with LOCK:
                t = ticket(int(m.group(1)))
                if t is None:
                    return self.reply(404, {"error": "RecordNotFound", "description": "Not found"})
                comments = list(t["comments"])
            if "sort_order=desc" in query:
                comments.reverse()
            return self.reply(200, {"comments": comments, "next_page": None, "previous_page": None, "count": len(comments)})
        return self.reply(404, {"error": "InvalidEndpoint", "description": "Not found"})

    def update(self, tid):
        given = self.body()
        if not isinstance(given, dict) or not isinstance(given.get("ticket"), dict):
            return self.reply(400, {"error": "Unprocessable Entity", "description": "ticket is required"})
        change = given["ticket"]
        with LOCK:
            t = ticket(tid)
            if t is None:
                return self.reply(404, {"error": "RecordNotFound", "description": "Not found"})
            if t["status"] == "closed":
                return self.reply(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                        "details": {"status": [{"description": "Status: closed prevents ticket update"}]}})
            events = []
            comment = change.get("comment")
            if isinstance(comment, dict) and (comment.get("body") or comment.get("html_body")):
                body = comment.get("body") or comment.get("html_body")
                made = {"id": next_id(), "type": "Comment", "author_id": 1, "body": body, "plain_body": body,
                        "public": bool(comment.get("public", True)), "created_at": now()}
                t["comments"].append(made)
                events.append({"id": next_id(), "type": "Comment", "body": body, "public": made["public"]})
            if isinstance(change.get("tags"), list):
                t["tags"] = sorted(set(change["tags"]))
            if isinstance(change.get("additional_tags"), list):
                t["tags"] = sorted(set(t["tags"]) | set(change["additional_tags"]))
            if change.get("status"):
                t["status"] = change["status"]
            audit = {"id": next_id(), "ticket_id": tid, "created_at": now(), "author_id": 1, "events": events}
            drop = CONTROL["drop"] > 0
            if drop:
                CONTROL["drop"] -= 1
            answer = {"ticket": {k: v for k, v in t.items() if k != "comments"}, "audit": audit}
        if drop:
            # Applied, never answered: as when the connection is lost after Zendesk made the change.
            self.close_connection = True
            self.connection.shutdown(2)
            return
        return self.reply(200, answer)

    def control(self, method):
        given = self.body() if method == "POST" else {}
        with LOCK:
            if self.path == "/_control/state":
                return self.reply(200, {"tickets": {str(k): v for k, v in TICKETS.items()}, "requests": CONTROL["requests"]})
            if self.path == "/_control/fail":
                CONTROL["fail"] = {"status": int(given.get("status", 503)), "times": int(given.get("times", 1)),
                                   "retry_after": int(given.get("retry_after", 0))}
            elif self.path == "/_control/drop":
                CONTROL["drop"] = int(given.get("times", 1))
            elif self.path == "/_control/close":
                t = ticket(int(given.get("ticket", 0)))
                if t is None:
                    return self.reply(404, {"error": "no such ticket"})
                t["status"] = "closed"
            else:
                return self.reply(404, {"error": "no such control"})
        return self.reply(200, {"ok": True})

    def do_GET(self):
        return self.control("GET") if self.path.startswith("/_control/") else self.api("GET")

    def do_POST(self):
        return self.control("POST") if self.path.startswith("/_control/") else self.api("POST")

    def do_PUT(self):
        return self.api("PUT")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--email", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.email, server.token = args.email, args.token
    port = server.server_address[1]
    print(f"zendesk stand-in listening on http://127.0.0.1:{port}", flush=True)
    if args.port_file:
        temporary = args.port_file + ".tmp"
        with open(temporary, "w") as f:
            f.write(str(port))
        os.rename(temporary, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
