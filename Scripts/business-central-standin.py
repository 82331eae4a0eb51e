#!/usr/bin/env python3
"""A stand-in for the parts of Business Central's API v2.0 and Microsoft Entra ID that Arbiter's
business_central connector uses, for tests and for integrators' dry runs. Python standard
library only.

It follows the documented behaviour:
  - Tokens (Microsoft identity platform, client credentials):
    `POST /{tenant}/oauth2/v2.0/token` with `grant_type=client_credentials`, `client_id`,
    `client_secret` and `scope` in the form -> {"token_type": "Bearer", "expires_in",
    "access_token"}; a wrong client is 401 {"error": "invalid_client"}
    (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow).
  - API requests carry `Authorization: Bearer <token>`; a missing, unknown or expired one is 401.
  - `salesCreditMemos` under `/v2.0/{tenant}/{environment}/api/v2.0/companies({id})/`
    (https://learn.microsoft.com/en-us/dynamics365/business-central/dev-itpro/api-reference/v2.0/resources/dynamics_salescreditmemo):
      GET  salesCreditMemos?$filter=externalDocumentNumber eq 'X'  -> {"value": [...]}
      GET  salesCreditMemos?$filter=creditMemoDate ge 2026-12-01 and creditMemoDate le 2026-12-31&$top=N&$skip=M
           -> the documents dated in that range, in the order they were made, a page at a time (OData $top/$skip)
      POST salesCreditMemos  (with `salesCreditMemoLines`, a deep insert) -> 201, the document,
           status "Draft"; an unknown customerNumber is 400; externalDocumentNumber over 35
           characters is 400
      GET  salesCreditMemos({id})  -> the document; 404 when there is none
      POST salesCreditMemos({id})/Microsoft.NAV.post  -> 204; the draft becomes "Open" with a
           posted number; posting a posted document is 400
    Errors are {"error": {"code", "message"}}.

Controls, not part of Business Central:
  POST /_control/fail {"status": 503, "times": 2, "path": "Microsoft.NAV.post"}  the next N API requests (whose path contains `path`, if given) get that status
  POST /_control/expire        every issued token expires now
  POST /_control/drop {"times": 1}  the next N creations are applied, then the connection closes unanswered
  POST /_control/set {"external_document_number": "…", "fields": {"status": "Canceled"}}  changes a document
  POST /_control/add {"document": {...}}  adds a document as if made in Business Central by hand
  GET  /_control/state         documents, token requests, API requests

Usage: business-central-standin.py --client-id ID --client-secret SECRET [--customers C10000,C20000] [--token-ttl 3600] [--port 0]
"""
import argparse
import json
import re
import secrets
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
DOCUMENTS = {}    # id -> document
TOKENS = {}       # token -> expiry
STATE = {"fail": None, "drop": 0, "token_requests": 0, "api_requests": 0, "draft": 1000, "posted": 104000}
API = re.compile(r"^/v2\.0/[^/]+/[^/]+/api/v2\.0/companies\(([^)]+)\)/salesCreditMemos(?:\(([0-9a-f-]+)\))?(/Microsoft\.NAV\.post)?$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=None):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; odata.metadata=minimal")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, code, message):
        return self.reply(status, {"error": {"code": code, "message": message}})

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def token(self):
        form = urllib.parse.parse_qs(self.body().decode())
        with LOCK:
            STATE["token_requests"] += 1
        value = lambda key: (form.get(key) or [None])[0]
        if value("grant_type") != "client_credentials":
            return self.reply(400, {"error": "unsupported_grant_type"})
        if value("client_id") != self.server.client_id or value("client_secret") != self.server.client_secret:
            return self.reply(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
        token = secrets.token_urlsafe(24)
        with LOCK:
            TOKENS[token] = time.time() + self.server.token_ttl
        return self.reply(200, {"token_type": "Bearer", "expires_in": self.server.token_ttl, "ext_expires_in": self.server.token_ttl,
                                "access_token": token})

    def api(self, method):
        raw = self.body()
        path, _, query = self.path.partition("?")
        with LOCK:
            STATE["api_requests"] += 1
            fail = STATE["fail"]
            if fail and fail["times"] > 0 and fail.get("path", "") in path:
                fail["times"] -= 1
                return self.error(fail["status"], "Injected", "told to fail")
        auth = self.headers.get("Authorization", "")
        with LOCK:
            valid = auth.startswith("Bearer ") and TOKENS.get(auth[7:], 0) > time.time()
        if not valid:
            return self.error(401, "Authentication_InvalidCredentials", "The server has rejected the client credentials.")
        m = API.match(path)
        if not m:
            return self.error(404, "BadRequest_NotFound", "The request URI is not valid.")
        company, document_id, post = m.group(1), m.group(2), m.group(3)
        if company != self.server.company:
            return self.error(404, "BadRequest_NotFound", "The company does not exist.")
        if post:
            if method != "POST":
                return self.error(405, "BadRequest_MethodNotAllowed", "Use POST")
            with LOCK:
                document = DOCUMENTS.get(document_id)
                if document is None:
                    return self.error(404, "Internal_RecordNotFound", "The Sales Header does not exist.")
                if document["status"] != "Draft":
                    return self.error(400, "Internal_ApplicationError", "The document is already posted.")
                STATE["posted"] += 1
                document.update({"status": "Open", "number": f"PS-CR{STATE['posted']}", "postingDate": time.strftime("%Y-%m-%d")})
            return self.reply(204)
        if document_id:
            with LOCK:
                document = DOCUMENTS.get(document_id)
            return self.reply(200, document) if document else self.error(404, "Internal_RecordNotFound", "The record does not exist.")
        if method == "GET":
            wanted = None
            params = urllib.parse.parse_qs(query)
            text = (params.get("$filter") or [""])[0]
            match = re.fullmatch(r"externalDocumentNumber eq '([^']*)'", text)
            dates = re.fullmatch(r"creditMemoDate ge (\d{4}-\d{2}-\d{2}) and creditMemoDate le (\d{4}-\d{2}-\d{2})", text)
            if text and not match and not dates:
                return self.error(400, "BadRequest", f"Unsupported filter: {text}")
            if match:
                wanted = match.group(1)
            with LOCK:
                found = [d for d in DOCUMENTS.values() if wanted is None or d["externalDocumentNumber"] == wanted]
            if dates:
                found = [d for d in found if dates.group(1) <= d.get("creditMemoDate", "") <= dates.group(2)]
            skip = int((params.get("$skip") or ["0"])[0])
            top = params.get("$top")
            found = found[skip:skip + int(top[0])] if top else found[skip:]
            return self.reply(200, {"value": found})
        if method != "POST":
            return self.error(405, "BadRequest_MethodNotAllowed", "Use GET or POST")
        try:
            given = json.loads(raw or b"{}")
        except ValueError:
            return self.error(400, "BadRequest", "Invalid JSON")
        external = given.get("externalDocumentNumber", "")
        if len(external) > 35:
            return self.error(400, "Application_StringExceededLength",
                              f"The length of the string is {len(external)}, but it must be less than or equal to 35 characters.")
        if given.get("customerNumber") not in self.server.customers:
            return self.error(400, "Internal_RecordNotFound", f"The Customer does not exist. Identification fields and values: No.='{given.get('customerNumber')}'")
        lines = given.get("salesCreditMemoLines") or []
        total = round(sum(float(l.get("unitPrice", 0)) * float(l.get("quantity", 1)) for l in lines), 2)
        with LOCK:
            STATE["draft"] += 1
            document = {"id": str(uuid.uuid4()), "number": str(STATE["draft"]), "externalDocumentNumber": external,
                        "customerNumber": given["customerNumber"], "currencyCode": given.get("currencyCode", ""),
                        "creditMemoDate": given.get("creditMemoDate", time.strftime("%Y-%m-%d")), "status": "Draft",
                        "totalAmountIncludingTax": total, "salesCreditMemoLines": lines}
            DOCUMENTS[document["id"]] = document
            drop = STATE["drop"] > 0
            if drop:
                STATE["drop"] -= 1
        if drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        return self.reply(201, document)

    def control(self, method):
        given = json.loads(self.body() or b"{}") if method == "POST" else {}
        with LOCK:
            if self.path == "/_control/state":
                return self.reply(200, {"documents": list(DOCUMENTS.values()), "token_requests": STATE["token_requests"],
                                        "api_requests": STATE["api_requests"]})
            if self.path == "/_control/fail":
                STATE["fail"] = {"status": int(given.get("status", 503)), "times": int(given.get("times", 1)), "path": given.get("path", "")}
            elif self.path == "/_control/expire":
                for token in TOKENS:
                    TOKENS[token] = 0
            elif self.path == "/_control/drop":
                STATE["drop"] = int(given.get("times", 1))
            elif self.path == "/_control/set":
                found = [d for d in DOCUMENTS.values() if d["externalDocumentNumber"] == given.get("external_document_number")]
                if not found:
                    return self.reply(404, {"error": "no such document"})
                found[0].update(given.get("fields") or {})
            elif self.path == "/_control/add":
                document = dict(given.get("document") or {})
                document.setdefault("id", str(uuid.uuid4()))
                DOCUMENTS[document["id"]] = document
            else:
                return self.reply(404, {"error": "no such control"})
        return self.reply(200, {"ok": True})

    def do_GET(self):
        return self.control("GET") if self.path.startswith("/_control/") else self.api("GET")

    def do_POST(self):
        if self.path.startswith("/_control/"):
            return self.control("POST")
        if re.fullmatch(r"/[^/]+/oauth2/v2\.0/token", self.path.split("?", 1)[0]):
            return self.token()
        return self.api("POST")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--company", default="11111111-2222-3333-4444-555555555555")
    parser.add_argument("--customers", default="C10000,C20000")
    parser.add_argument("--token-ttl", type=int, default=3600)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.client_id, server.client_secret, server.token_ttl = args.client_id, args.client_secret, args.token_ttl
    server.company = args.company
    server.customers = set(c.strip() for c in args.customers.split(",") if c.strip())
    print(f"business central stand-in listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
