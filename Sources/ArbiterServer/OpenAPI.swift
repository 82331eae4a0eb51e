/// The OpenAPI 3.1 document served at `/openapi.yaml`. Tests hold the server's real responses
/// to it (OpenAPIConformanceTests): every documented operation is exercised, every response
/// seen must be documented with its status, and its body must match the schema.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.1.0
info:
  title: Arbiter
  version: 0.10.0
  description: |
    Policy and approval service. Support and billing systems send events; finance's Lua
    policies decide approve, review or reject; every step lands in a hash-chained audit trail.
    Every /v1 route needs `Authorization: Bearer <key>`; errors are application/problem+json
    (an unexpected failure is a 500 problem; nothing was acknowledged, and events may be sent again).
    Money is always an integer `amount_minor` with an ISO 4217 `currency`.
servers:
  - url: http://127.0.0.1:8080
security:
  - apiKey: []
tags:
  - name: events
  - name: decisions
  - name: accounts
  - name: reviews
  - name: policies
  - name: audit
  - name: delivery
    description: |
      Approved actions go to the ERP through one connector. HTTP: `POST` of the action's JSON
      (an `ErpPayload`) with `Idempotency-Key: <action id>` and
      `Arbiter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the shared secret>`;
      2xx is delivered (the `reference` field of a JSON answer is kept), 409 is delivered (the ERP
      already has the key), 408/429/5xx/time-outs/connection errors are retried with exponential
      backoff and jitter (429 honours Retry-After), other 4xx are dead letters. File: one line
      `{"idempotency_key", "action": ErpPayload}` per action in `actions-YYYY-MM-DD.ndjson`, fsynced.
  - name: keys
  - name: operations
paths:
  /healthz:
    get:
      tags: [operations]
      summary: Liveness
      security: []
      responses:
        "200":
          description: The process runs.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Health" }
  /readyz:
    get:
      tags: [operations]
      summary: Readiness (database reachable, policies loaded)
      security: []
      responses:
        "200":
          description: Ready.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Ready" }
        "503":
          description: Not ready; `checks` says what is missing.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Ready" }
  /metrics:
    get:
      tags: [operations]
      summary: Prometheus metrics (text format)
      description: |
        arbiter_events_total{type}, arbiter_decisions_total{outcome,queue},
        arbiter_policy_evaluation_seconds{policy} (histogram), arbiter_policy_errors_total{policy},
        arbiter_http_request_duration_seconds{method,route,status} (histogram),
        arbiter_commit_batch_events (histogram of decisions per database commit),
        arbiter_decision_retries_total (events decided again: their account changed meanwhile),
        arbiter_policy_breaker_open_policies{policy,version} (1 while a breaker is open),
        arbiter_policy_breaker_openings_total{policy}.
      security: []
      responses:
        "200":
          description: Metrics.
          content:
            text/plain:
              schema: { type: string }
  /openapi.yaml:
    get:
      tags: [operations]
      summary: This document
      security: []
      responses:
        "200":
          description: The OpenAPI document.
          content:
            application/yaml:
              schema: { type: string }
  /v1/events:
    post:
      tags: [events]
      summary: Submit an event and get the decision (role submitter)
      description: |
        Validates the envelope and its payload against the catalog, evaluates every active
        policy bound to the type in priority order, combines (reject > review > approve; a
        policy error is review in `policy-errors`; an approval over a guardrail ceiling is
        review in `guardrail`) and stores event, decision, review item or outbox actions and
        audit entries in one transaction before answering. Decisions for one account are made
        one at a time. The same `source` + `id` again returns the original response with
        `Idempotent-Replayed: true` (same body) or 409 (different body).
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/EventEnvelope" }
      responses:
        "201":
          description: Decided and durable (or replayed).
          headers:
            Idempotent-Replayed:
              description: "`true` when this is the stored response of an earlier identical submission."
              schema: { type: string, enum: ["true"] }
          content:
            application/json:
              schema: { $ref: "#/components/schemas/EventDecision" }
        "400": { $ref: "#/components/responses/Problem" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
        "413": { $ref: "#/components/responses/Problem" }
        "415": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
        "500": { $ref: "#/components/responses/Problem" }
        "503": { $ref: "#/components/responses/Problem" }
  /v1/events/{id}:
    get:
      tags: [events]
      summary: An event as stored, with its decision id (roles submitter, reviewer, auditor, operator, policy_admin)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200":
          description: The event.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/StoredEvent" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/decisions:
    get:
      tags: [decisions]
      summary: Decisions, oldest first, in pages
      parameters:
        - { name: account_id, in: query, schema: { type: string } }
        - { name: outcome, in: query, schema: { type: string, enum: [approve, review, reject, recorded] } }
        - { name: from, in: query, description: "decided at or after (RFC 3339)", schema: { type: string, format: date-time } }
        - { name: to, in: query, description: "decided before (RFC 3339)", schema: { type: string, format: date-time } }
        - { name: cursor, in: query, description: "`next_cursor` of the previous page", schema: { type: string } }
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 500, default: 50 } }
      responses:
        "200":
          description: One page.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/DecisionPage" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/decisions/{id}:
    get:
      tags: [decisions]
      summary: A decision with every policy's verdict and the context it was made against
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200":
          description: The decision.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/StoredDecision" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/accounts/{id}:
    get:
      tags: [accounts]
      summary: The account snapshot (status unknown if never seen) and history aggregates
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200":
          description: Snapshot and history.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/AccountView" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
    put:
      tags: [accounts]
      summary: Replace the snapshot from CRM/billing sync (role sync or operator; a submitter may not change what policies trust)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/AccountSync" }
      responses:
        "200":
          description: Stored; the snapshot and history.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/AccountView" }
        "400": { $ref: "#/components/responses/Problem" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/audit:
    get:
      tags: [audit]
      summary: Audit entries, oldest first (auditor) — e.g. the whole story of one correlation id
      parameters:
        - { name: after_seq, in: query, schema: { type: integer, minimum: 0 } }
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 500, default: 100 } }
        - { name: kind, in: query, schema: { type: string } }
        - { name: actor, in: query, schema: { type: string } }
        - { name: subject, in: query, schema: { type: string } }
        - { name: correlation_id, in: query, schema: { type: string } }
      responses:
        "200":
          description: A page of entries; `next_cursor` is the `after_seq` of the next page (null on the last).
          content:
            application/json:
              schema:
                type: object
                required: [items, next_cursor]
                additionalProperties: false
                properties:
                  items: { type: array, items: { $ref: "#/components/schemas/AuditEntry" } }
                  next_cursor: { type: [string, "null"] }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/audit/verify:
    get:
      tags: [audit]
      summary: Recompute the whole hash chain on the server (auditor)
      responses:
        "200":
          description: Intact (entries, last hash) or the first broken entry and why.
          content:
            application/json:
              schema:
                type: object
                required: [status]
                additionalProperties: false
                properties:
                  status: { type: string, enum: [intact, broken] }
                  entries: { type: integer }
                  last_hash: { type: string }
                  seq: { type: integer }
                  reason: { type: string }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
  /v1/audit/checkpoint:
    get:
      tags: [audit]
      summary: The newest signed checkpoint of the audit chain's head (auditor)
      description: |
        Signed at start, every 5 minutes while the head moves, and at shutdown. Keep copies
        outside the service; `arbiter audit verify --db FILE --checkpoint SAVED.json` fails when
        the log no longer holds that entry with that hash (entries removed from its end).
      responses:
        "200":
          description: The checkpoint.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/AuditCheckpoint" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/exports:
    post:
      tags: [audit]
      summary: Export decisions or audit entries to a file with a signed manifest (auditor)
      description: |
        `audit`: entries with `at` in [from, to) in seq order. `decisions`: decisions with
        `decided_at` in [from, to), oldest first, each with its event, reasons, actions (with
        decimal amounts), every policy's name, version hash, outcome and reasons, review decisions,
        ERP deliveries and its `decision.made` audit entry; configured fields masked
        (`hmac-sha256:<hex>`). `jsonl`: one canonical JSON object per line; `csv`: RFC 4180 with a
        header, nested values as JSON text, text cells starting with = + - @ tab CR or ' get one
        leading '. Streamed from one read transaction to `<data dir>/exports/<id>/`; the directory
        appears only once the file and `manifest.json` are written and synced. 201 when it
        finished within the request's wait, 202 (poll GET /v1/exports/{id}) when it runs on. At
        most two exports run at a time (409). The manifest is signed with Ed25519 over its
        canonical JSON without `signature` (see GET /v1/exports/public-key);
        `arbiter audit verify-export DIR --public-key FILE` checks it offline.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [kind, from, to]
              additionalProperties: false
              properties:
                kind: { type: string, enum: [decisions, audit] }
                from: { type: string }
                to: { type: string }
                format: { type: string, enum: [jsonl, csv] }
                filters:
                  type: object
                  description: audit exports take actor and kind; decision exports outcome, queue, policy, account_id and actor (the submitter's key id).
                  additionalProperties: false
                  properties:
                    actor: { type: string }
                    kind: { type: string }
                    outcome: { type: string, enum: [approve, review, reject, recorded] }
                    queue: { type: string }
                    policy: { type: string }
                    account_id: { type: string }
      responses:
        "201": { $ref: "#/components/responses/Export" }
        "202": { $ref: "#/components/responses/Export" }
        "400": { $ref: "#/components/responses/Problem" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
        "500": { $ref: "#/components/responses/Problem" }
  /v1/exports/{id}:
    get:
      tags: [audit]
      summary: An export's status and manifest (auditor)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200": { $ref: "#/components/responses/Export" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/exports/{id}/manifest:
    get:
      tags: [audit]
      summary: The signed manifest (auditor)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200":
          description: The manifest.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/ExportManifest" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/exports/{id}/file:
    get:
      tags: [audit]
      summary: The export file, streamed (auditor)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200":
          description: One canonical JSON object per line (jsonl) or RFC 4180 CSV with a header (csv).
          content:
            application/x-ndjson:
              schema: { type: string }
            text/csv; charset=utf-8; header=present:
              schema: { type: string }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/exports/public-key:
    get:
      tags: [audit]
      summary: The Ed25519 public key export manifests are signed with (auditor)
      responses:
        "200":
          description: '`public_key` is `ed25519:<base64 of the 32 raw bytes>`, as `arbiter audit public-key` prints it.'
          content:
            application/json:
              schema:
                type: object
                required: [algorithm, public_key, key_id]
                additionalProperties: false
                properties:
                  algorithm: { type: string, enum: [Ed25519] }
                  public_key: { type: string }
                  key_id: { type: string, description: first 16 hex characters of SHA-256 of the raw public key }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
  /v1/keys:
    post:
      tags: [keys]
      summary: Create an API key (admin); the secret is shown once
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name, role]
              properties:
                name: { type: string }
                role: { $ref: "#/components/schemas/Role" }
                approval_limits:
                  type: [object, "null"]
                  description: "reviewers: the most money one approval may move, by ISO 4217 currency (minor units); money in another currency cannot be approved. Absent: no limit."
                  additionalProperties: { type: integer, minimum: 0 }
      responses:
        "201":
          description: Created.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/CreatedKey" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
    get:
      tags: [keys]
      summary: List API keys (admin; no secrets)
      responses:
        "200":
          description: Every key.
          content:
            application/json:
              schema:
                type: object
                required: [keys]
                additionalProperties: false
                properties:
                  keys: { type: array, items: { $ref: "#/components/schemas/Key" } }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
  /v1/keys/{id}/revoke:
    post:
      tags: [keys]
      summary: Revoke an API key (admin)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200":
          description: Revoked.
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Key" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/queues:
    get:
      tags: [reviews]
      summary: Every review queue with its waiting count, oldest age and overdue count (reviewer, auditor, operator)
      responses:
        "200":
          description: The queues with waiting items, and every configured queue.
          content:
            application/json:
              schema:
                type: object
                required: [queues]
                additionalProperties: false
                properties:
                  queues: { type: array, items: { $ref: "#/components/schemas/QueueSummary" } }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
  /v1/queues/{name}/items:
    get:
      tags: [reviews]
      summary: A queue's items, oldest first (default; the waiting ones)
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { name: state, in: query, schema: { type: string, enum: [open, claimed, escalated, approved, rejected, decided] } }
        - { name: cursor, in: query, schema: { type: string } }
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 500 } }
      responses:
        "200":
          description: One page.
          content:
            application/json:
              schema:
                type: object
                required: [queue, items, next_cursor]
                additionalProperties: false
                properties:
                  queue: { type: string }
                  items: { type: array, items: { $ref: "#/components/schemas/ReviewSummary" } }
                  next_cursor: { type: [string, "null"] }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/reviews/{id}:
    get:
      tags: [reviews]
      summary: A review item with its event, context as evaluated, reasons, proposed actions, approvals and history
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200": { $ref: "#/components/responses/Review" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/reviews/{id}/claim:
    post:
      tags: [reviews]
      summary: Claim the item (reviewer) for the configured claim time; claiming your own claim renews it
      description: 403 when you submitted the request or already approved it; 409 when someone else holds a live claim or the item is decided.
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200": { $ref: "#/components/responses/Review" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/reviews/{id}/release:
    post:
      tags: [reviews]
      summary: Release your claim (an admin may release anyone's)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200": { $ref: "#/components/responses/Review" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/reviews/{id}/approve:
    post:
      tags: [reviews]
      summary: Approve, optionally a lower amount (the money actions are scaled down; higher is refused)
      description: |
        Decided only by the claimer while a claim holds; an unclaimed item by any reviewer. Refused
        (403) for the submitter, over the reviewer's approval limit, or a second approval by the
        same reviewer. With approvals_required 2, the first approval releases the claim and the item
        waits for a different reviewer; the final approval queues the actions for the ERP in the
        same transaction.
      parameters:
        - { $ref: "#/components/parameters/Id" }
      requestBody:
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                comment: { type: string, maxLength: 2000 }
                amount_minor: { type: integer, minimum: 1, description: "at most the proposed total" }
      responses:
        "200": { $ref: "#/components/responses/Review" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/reviews/{id}/reject:
    post:
      tags: [reviews]
      summary: Reject with a comment (required)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [comment]
              additionalProperties: false
              properties:
                comment: { type: string, minLength: 1, maxLength: 2000 }
      responses:
        "200": { $ref: "#/components/responses/Review" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/reviews/{id}/assign:
    post:
      tags: [reviews]
      summary: Give the item's claim to another reviewer (admin)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [reviewer]
              additionalProperties: false
              properties:
                reviewer: { type: string, description: "the reviewer key's id" }
                comment: { type: string }
      responses:
        "200": { $ref: "#/components/responses/Review" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/actions:
    get:
      tags: [delivery]
      summary: Outbox actions in queue order (operator, auditor)
      parameters:
        - { name: status, in: query, schema: { type: string, enum: [pending, delivered, dead, cancelled] } }
        - { name: account_id, in: query, schema: { type: string } }
        - { name: cursor, in: query, schema: { type: string } }
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 500 } }
      responses:
        "200":
          description: One page.
          content:
            application/json:
              schema:
                type: object
                required: [items, next_cursor]
                additionalProperties: false
                properties:
                  items: { type: array, items: { $ref: "#/components/schemas/OutboxAction" } }
                  next_cursor: { type: [string, "null"] }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/actions/{id}:
    get:
      tags: [delivery]
      summary: One action with every delivery attempt, and the dead letter holding it back if any
      parameters:
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200": { $ref: "#/components/responses/Action" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/actions/{id}/retry:
    post:
      tags: [delivery]
      summary: Put a dead letter back in line, due now, with a fresh set of attempts (operator)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      requestBody:
        content:
          application/json:
            schema:
              type: object
              additionalProperties: false
              properties:
                comment: { type: string }
      responses:
        "200": { $ref: "#/components/responses/Action" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/actions/{id}/cancel:
    post:
      tags: [delivery]
      summary: Never send a pending or dead action; its account's line moves on (operator; comment required)
      parameters:
        - { $ref: "#/components/parameters/Id" }
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [comment]
              additionalProperties: false
              properties:
                comment: { type: string, minLength: 1 }
      responses:
        "200": { $ref: "#/components/responses/Action" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/policies:
    post:
      tags: [policies]
      summary: Publish a policy version (policy_admin) — compiled in the sandbox and tested before it is stored, as a draft
      description: |
        The Lua source as `text/x-lua`, or JSON `{"source", "tests"?}` with tests in the format of
        Policies/tests (`{"cases": [...]}`). The version is the SHA-256 of the source: publishing
        the same source again returns the existing version (200). 422 names the compile error
        (`source`) or every failing case (`tests.<case name>`); nothing is stored then.
      requestBody:
        required: true
        content:
          text/x-lua:
            schema: { type: string }
          application/json:
            schema:
              type: object
              required: [source]
              additionalProperties: false
              properties:
                source: { type: string }
                tests: { type: object }
      responses:
        "200": { $ref: "#/components/responses/PolicyVersion" }
        "201": { $ref: "#/components/responses/PolicyVersion" }
        "400": { $ref: "#/components/responses/Problem" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
    get:
      tags: [policies]
      summary: Every policy with its active version, shadow version and drafts
      responses:
        "200":
          description: The policies.
          content:
            application/json:
              schema:
                type: object
                required: [policies]
                additionalProperties: false
                properties:
                  policies:
                    type: array
                    items:
                      type: object
                      required: [name, active_version, shadow_version, drafts, versions, pending_activation]
                      additionalProperties: false
                      properties:
                        pending_activation:
                          type: [object, "null"]
                          description: a proposed change (activate, rollback, deactivate) waiting for a second policy admin (maker-checker)
                        name: { type: string }
                        active_version: { type: [string, "null"] }
                        shadow_version: { type: [string, "null"] }
                        drafts: { type: array, items: { type: string } }
                        versions: { type: integer }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/versions:
    get:
      tags: [policies]
      summary: A policy's versions, newest first
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
      responses:
        "200":
          description: The versions.
          content:
            application/json:
              schema:
                type: object
                required: [name, versions]
                additionalProperties: false
                properties:
                  name: { type: string }
                  versions: { type: array, items: { $ref: "#/components/schemas/PolicyVersionSummary" } }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/versions/{version}:
    get:
      tags: [policies]
      summary: One version with its source, tests, who published it and its status history
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { name: version, in: path, required: true, schema: { type: string } }
      responses:
        "200": { $ref: "#/components/responses/PolicyVersion" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/versions/{version}/activate:
    post:
      tags: [policies]
      summary: Make this version the active one (policy_admin) for every evaluation that starts after the commit
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { name: version, in: path, required: true, schema: { type: string } }
      responses:
        "200": { $ref: "#/components/responses/PolicyChange" }
        "202": { $ref: "#/components/responses/PolicyProposal" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/versions/{version}/approve:
    post:
      tags: [policies]
      summary: Maker-checker — a second, different policy_admin approves the proposal about this version (activate, rollback or deactivate), which takes effect
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { name: version, in: path, required: true, schema: { type: string } }
      responses:
        "200": { $ref: "#/components/responses/PolicyChange" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/rollback:
    post:
      tags: [policies]
      summary: Re-activate the version that was active before the current one (policy_admin)
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
      responses:
        "200": { $ref: "#/components/responses/PolicyChange" }
        "202": { $ref: "#/components/responses/PolicyProposal" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/deactivate:
    post:
      tags: [policies]
      summary: Retire the active version; the policy decides nothing until a version is activated (policy_admin)
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
      responses:
        "200": { $ref: "#/components/responses/PolicyChange" }
        "202": { $ref: "#/components/responses/PolicyProposal" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/versions/{version}/shadow:
    post:
      tags: [policies]
      summary: Run this version in shadow beside the active one (policy_admin) — evaluated on every live event, never deciding
      description: |
        After each live decision of the version's event types is committed, the shadow version is
        evaluated on the same event and context, its verdict put in place of its policy's among the
        verdicts the decision was made from, and the result compared. Differences (outcome, queue or
        actions) are recorded; see shadow-report. A version already in shadow for this policy stops.
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { name: version, in: path, required: true, schema: { type: string } }
      responses:
        "200":
          description: The version runs in shadow.
          content:
            application/json:
              schema:
                type: object
                required: [name, shadow_version, run, event_types]
                additionalProperties: false
                properties:
                  name: { type: string }
                  shadow_version: { type: string }
                  run: { type: integer }
                  event_types: { type: array, items: { type: string } }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/shadow:
    delete:
      tags: [policies]
      summary: Stop the policy's shadow run (policy_admin); its report stays
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
      responses:
        "200":
          description: Stopped.
          content:
            application/json:
              schema:
                type: object
                required: [name, shadow_version, stopped_version]
                additionalProperties: false
                properties:
                  name: { type: string }
                  shadow_version: { type: "null" }
                  stopped_version: { type: string }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/shadow-report:
    get:
      tags: [policies]
      summary: The latest shadow run (of `version`) — live events seen, counts by transition, differences newest first
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { name: version, in: query, schema: { type: string } }
        - { name: cursor, in: query, schema: { type: string } }
        - { name: limit, in: query, schema: { type: integer, minimum: 1, maximum: 500, default: 50 } }
      responses:
        "200":
          description: The report. `evaluated` counts the events of its types received while it ran.
          content:
            application/json:
              schema:
                type: object
                required: [name, version, active_version, running, event_types, started_by, started_at, stopped_by, stopped_at,
                           evaluated, outcome_changes, other_changes, transitions, differences, next_cursor]
                additionalProperties: false
                properties:
                  name: { type: string }
                  version: { type: string }
                  active_version: { type: [string, "null"] }
                  running: { type: boolean }
                  event_types: { type: array, items: { type: string } }
                  started_by: { type: string }
                  started_at: { type: string }
                  stopped_by: { type: [string, "null"] }
                  stopped_at: { type: [string, "null"] }
                  evaluated: { type: integer }
                  outcome_changes: { type: integer }
                  other_changes: { type: integer, description: same outcome, another queue or other actions }
                  transitions:
                    type: object
                    description: 'decisions whose outcome would change, by transition, e.g. {"approve→review": 37}'
                    additionalProperties: { type: integer }
                  differences:
                    type: array
                    items:
                      type: object
                      required: [id, event_id, decision_id, type, account_id, correlation_id, amount_minor, currency, transition,
                                 outcome_changed, actual, shadow, at]
                      properties:
                        id: { type: integer }
                        event_id: { type: string }
                        decision_id: { type: string }
                        type: { type: string }
                        account_id: { type: string }
                        correlation_id: { type: string }
                        amount_minor: { type: [integer, "null"] }
                        currency: { type: [string, "null"] }
                        transition: { type: string }
                        outcome_changed: { type: boolean }
                        actual: { $ref: "#/components/schemas/ComparedDecision" }
                        shadow: { $ref: "#/components/schemas/ComparedDecision" }
                        at: { type: string }
                  next_cursor: { type: [string, "null"] }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/versions/{version}/backtest:
    post:
      tags: [policies]
      summary: Replay stored events through this version (policy_admin), each with the context recorded at decision time
      description: |
        Events of the version's types (and of the active version's) received in [from, to), oldest
        first, at most `limit`. For each, the candidate's verdict replaces its policy's among the
        verdicts the decision was made from and the result is compared with the decision as made.
        Up to 20,000 events answer at once (200, status done); larger ranges run as a job (202;
        follow GET /v1/policies/{name}/backtests/{id}).
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { name: version, in: path, required: true, schema: { type: string } }
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [from, to]
              additionalProperties: false
              properties:
                from: { type: string, description: RFC 3339 }
                to: { type: string, description: RFC 3339, excluded }
                limit: { type: integer, minimum: 1, maximum: 10000000 }
      responses:
        "200": { $ref: "#/components/responses/Backtest" }
        "202": { $ref: "#/components/responses/Backtest" }
        "400": { $ref: "#/components/responses/Problem" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/breaker/reset:
    post:
      tags: [policies]
      summary: Close a policy's circuit breaker (operator, policy_admin)
      description: |
        After `--breaker-threshold` evaluations in a row hit a limit, a policy's breaker opens
        and its events get review in policy-errors without running it. This closes it (audited
        as policy.breaker_reset); activating another version closes it too.
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
      responses:
        "200":
          description: Closed.
          content:
            application/json:
              schema:
                type: object
                required: [name, reset_versions]
                additionalProperties: false
                properties:
                  name: { type: string }
                  reset_versions: { type: array, items: { type: string } }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "409": { $ref: "#/components/responses/Problem" }
  /v1/policies/{name}/backtests/{id}:
    get:
      tags: [policies]
      summary: A backtest job — status, progress and, when done, its report
      parameters:
        - { name: name, in: path, required: true, schema: { type: string } }
        - { $ref: "#/components/parameters/Id" }
      responses:
        "200": { $ref: "#/components/responses/Backtest" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
  /v1/simulate:
    post:
      tags: [policies]
      summary: Decide one event as the service would — active policies, or some at other stored versions — storing nothing
      description: |
        Without `context`, the account's context is read as it is now. The decision carries every
        policy's verdict with its reasons, duration and `log` lines (its trace). Nothing is stored,
        audited or sent.
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [event]
              additionalProperties: false
              properties:
                event: { $ref: "#/components/schemas/EventEnvelope" }
                context:
                  type: object
                  description: '{"account": {...}, "history": {...}, "now": unix seconds} — every part optional'
                versions:
                  type: object
                  description: policy name → a stored version to use instead of the active one
                  additionalProperties: { type: string }
      responses:
        "200":
          description: The decision that would be made.
          content:
            application/json:
              schema:
                type: object
                required: [decision, context, versions, stored]
                additionalProperties: false
                properties:
                  decision:
                    type: object
                    required: [outcome, queue, reasons, actions, sla_hours, approvals_required, policies]
                    properties:
                      outcome: { type: string, enum: [approve, review, reject, recorded] }
                      queue: { type: [string, "null"] }
                      reasons: { type: array, items: { type: string } }
                      actions: { type: array, items: { type: object } }
                      sla_hours: { type: [number, "null"] }
                      approvals_required: { type: integer }
                      policies: { type: array, items: { type: object } }
                  context: { type: object }
                  versions: { type: object, additionalProperties: { type: string } }
                  stored: { type: boolean, enum: [false] }
        "400": { $ref: "#/components/responses/Problem" }
        "401": { $ref: "#/components/responses/Problem" }
        "403": { $ref: "#/components/responses/Problem" }
        "404": { $ref: "#/components/responses/Problem" }
        "422": { $ref: "#/components/responses/Problem" }
components:
  securitySchemes:
    apiKey:
      type: http
      scheme: bearer
  parameters:
    Id:
      name: id
      in: path
      required: true
      schema: { type: string }
  responses:
    PolicyVersion:
      description: The policy version.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/PolicyVersion" }
    PolicyChange:
      description: The policy's active version after the change.
      content:
        application/json:
          schema:
            type: object
            required: [name, active_version, previous_version]
            additionalProperties: false
            properties:
              name: { type: string }
              active_version: { type: [string, "null"] }
              previous_version: { type: [string, "null"] }
              change: { type: string, enum: [activate, rollback, deactivate], description: "an approval: what the proposal did" }
    PolicyProposal:
      description: With maker-checker on (--require-policy-approval), an activation, rollback or deactivation is only proposed until a different policy admin approves it.
      content:
        application/json:
          schema:
            type: object
            required: [name, active_version, proposed_version, proposed_change, proposed_by, status]
            additionalProperties: false
            properties:
              name: { type: string }
              active_version: { type: [string, "null"] }
              proposed_version: { type: string, description: "the version to activate or roll back to, or the one to deactivate" }
              proposed_change: { type: string, enum: [activate, rollback, deactivate] }
              proposed_by: { type: string }
              status: { type: string }
    Export:
      description: 'An export: done with its signed manifest, running with the rows written so far, or failed with why.'
      content:
        application/json:
          schema:
            oneOf:
              - type: object
                required: [id, status, manifest]
                additionalProperties: false
                properties:
                  id: { type: string }
                  status: { type: string, enum: [done] }
                  manifest: { $ref: "#/components/schemas/ExportManifest" }
              - type: object
                required: [id, status, rows_written]
                additionalProperties: false
                properties:
                  id: { type: string }
                  status: { type: string, enum: [running] }
                  rows_written: { type: integer, minimum: 0 }
              - type: object
                required: [id, status, error]
                additionalProperties: false
                properties:
                  id: { type: string }
                  status: { type: string, enum: [failed] }
                  error: { type: string }
    Backtest:
      description: A backtest job; `report` once it is done.
      content:
        application/json:
          schema:
            type: object
            required: [id, name, version, from, to, limit, requested_by, requested_at, status, total, finished_at, error, report, progress]
            additionalProperties: false
            properties:
              id: { type: string }
              name: { type: string }
              version: { type: string }
              from: { type: string }
              to: { type: string }
              limit: { type: [integer, "null"] }
              requested_by: { type: string }
              requested_at: { type: string }
              status: { type: string, enum: [running, done, failed, interrupted] }
              total: { type: integer, description: events in the range (at most limit) }
              finished_at: { type: [string, "null"] }
              error: { type: [string, "null"] }
              progress:
                type: object
                required: [evaluated, total, percent]
                additionalProperties: false
                properties:
                  evaluated: { type: integer }
                  total: { type: integer }
                  percent: { type: integer }
              report:
                type: [object, "null"]
                required: [evaluated, outcome_changes, other_changes, unchanged, transitions, money_moved, sample, skipped,
                           first_skip, duration_ms, events_per_s, event_types]
                additionalProperties: false
                properties:
                  evaluated: { type: integer }
                  outcome_changes: { type: integer }
                  other_changes: { type: integer, description: same outcome, another queue or other actions }
                  unchanged: { type: integer }
                  transitions: { type: object, additionalProperties: { type: integer } }
                  money_moved:
                    type: array
                    description: |
                      Money of the approved side's actions for decisions whose outcome would change to or
                      from approve: what would stop (or start) being approved without a reviewer.
                    items:
                      type: object
                      required: [transition, currency, amount_minor, amount]
                      additionalProperties: false
                      properties:
                        transition: { type: string }
                        currency: { type: string }
                        amount_minor: { type: integer }
                        amount: { type: [string, "null"] }
                  sample:
                    type: array
                    description: the first changed decisions, with both sets of reasons
                    items:
                      type: object
                      required: [event_id, decision_id, received_at, type, account_id, amount_minor, currency, transition,
                                 outcome_changed, actual, candidate]
                      properties:
                        event_id: { type: string }
                        decision_id: { type: string }
                        received_at: { type: string }
                        type: { type: string }
                        account_id: { type: string }
                        amount_minor: { type: [integer, "null"] }
                        currency: { type: [string, "null"] }
                        transition: { type: string }
                        outcome_changed: { type: boolean }
                        actual: { $ref: "#/components/schemas/ComparedDecision" }
                        candidate: { $ref: "#/components/schemas/ComparedDecision" }
                  skipped: { type: integer, description: stored rows that could not be read back }
                  first_skip: { type: [string, "null"] }
                  duration_ms: { type: integer }
                  events_per_s: { type: integer }
                  event_types: { type: array, items: { type: string } }
    Action:
      description: The action as it now is, with its attempts.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/OutboxActionDetail" }
    Review:
      description: The review item as it now is.
      content:
        application/json:
          schema: { $ref: "#/components/schemas/Review" }
    Problem:
      description: An RFC 9457 problem; `errors` names each bad field for 422.
      content:
        application/problem+json:
          schema: { $ref: "#/components/schemas/Problem" }
  schemas:
    ExportManifest:
      type: object
      description: |
        `signature`: Ed25519 (base64) over the canonical JSON of this object without `signature`.
        `chain`: contiguous (every entry of the range: each row's prev_hash is the previous row's hash),
        filtered (each row's hash checks on its own) or none (decision exports).
        `first_seq`..`last_hash`: the audit entries covered — the first and last exported (audit), or the
        lowest and highest `decision.made` entries of the exported decisions (decisions).
        `masked_fields`, `masking_key_id` (decision exports): the fields replaced by HMAC-SHA256 tokens
        and which masking key made them (tokens of two exports join when the key ids are equal).
      required: [format_version, id, kind, format, from, to, filters, rows, file, file_sha256, first_seq, first_hash,
                 last_seq, last_hash, exported_at, exported_by, key_id, chain, signature]
      additionalProperties: false
      properties:
        format_version: { type: integer }
        id: { type: string }
        kind: { type: string }
        format: { type: string }
        from: { type: string }
        to: { type: string }
        filters: { type: object }
        rows: { type: integer }
        file: { type: string }
        file_sha256: { type: string }
        first_seq: { type: [integer, "null"] }
        first_hash: { type: [string, "null"] }
        last_seq: { type: [integer, "null"] }
        last_hash: { type: [string, "null"] }
        exported_at: { type: string }
        exported_by: { type: string }
        key_id: { type: string }
        chain: { type: string, enum: [contiguous, filtered, none] }
        masked_fields: { type: array, items: { type: string } }
        masking_key_id: { type: string }
        checkpoint:
          description: the newest signed checkpoint of the audit chain's head when the export was made (null before the first)
          oneOf:
            - { $ref: "#/components/schemas/AuditCheckpoint" }
            - { type: "null" }
        signature: { type: string }
    AuditCheckpoint:
      type: object
      description: "Ed25519 signature (base64, the export signing key) over the canonical JSON of the object without signature."
      required: [format_version, seq, hash, at, key_id, signature]
      additionalProperties: false
      properties:
        format_version: { type: integer }
        seq: { type: integer }
        hash: { type: string }
        at: { type: string }
        key_id: { type: string }
        signature: { type: string }
    AuditEntry:
      type: object
      description: |
        hash = SHA-256(prev_hash as 32 raw bytes ‖ canonical JSON of {actor, at, correlation_id, data, kind, seq, subject}),
        lower-case hex; the first entry's prev_hash is 64 zeros.
      required: [seq, at, actor, kind, subject, correlation_id, data, prev_hash, hash]
      additionalProperties: false
      properties:
        seq: { type: integer }
        at: { type: string }
        actor: { type: string }
        kind: { type: string }
        subject: { type: string }
        correlation_id: { type: [string, "null"] }
        data: {}
        prev_hash: { type: string }
        hash: { type: string }
    ComparedDecision:
      type: object
      description: A decision as made, or as the candidate would have made it, with the policy's own verdict when known.
      required: [outcome, queue, reasons, actions]
      properties:
        outcome: { type: string, enum: [approve, review, reject, recorded] }
        queue: { type: [string, "null"] }
        reasons: { type: array, items: { type: string } }
        actions: { type: array, items: { type: object } }
        verdict: { type: [object, "null"] }
    Problem:
      type: object
      required: [type, title, status, detail]
      additionalProperties: false
      properties:
        type: { type: string }
        title: { type: string }
        status: { type: integer }
        detail: { type: string }
        errors:
          type: array
          items:
            type: object
            required: [field, message]
            additionalProperties: false
            properties:
              field: { type: string, description: "e.g. payload.amount_minor" }
              message: { type: string }
    Health:
      type: object
      required: [status]
      properties:
        status: { type: string, enum: [ok] }
    Ready:
      type: object
      required: [status, checks, policies]
      additionalProperties: false
      properties:
        status: { type: string, enum: [ready, not ready] }
        checks:
          type: object
          required: [database, policies]
          properties:
            database: { type: boolean }
            policies: { type: boolean }
        policies: { type: integer, description: "active policies" }
        suspended_policies:
          type: array
          description: |
            Policy versions whose circuit breaker is open (their events go to review in
            policy-errors without running them). The service stays ready.
          items:
            type: object
            required: [policy, version, opened_at, errors, last_error]
            additionalProperties: false
            properties:
              policy: { type: string }
              version: { type: string }
              opened_at: { type: string }
              errors: { type: integer, description: "limit errors in a row when it opened" }
              last_error: { type: string }
        erp:
          type: object
          required: [connector, pending_actions]
          additionalProperties: false
          properties:
            connector: { type: string, enum: [http, file, none] }
            pending_actions: { type: [integer, "null"], description: "as counted at counted_at (in the background, every 10 s by default); null before the first count" }
            counted_at: { type: [string, "null"] }
            note: { type: string, description: "present when no connector is configured: actions wait in the outbox" }
    Role:
      type: string
      enum: [submitter, sync, reviewer, policy_admin, auditor, operator, admin]
    Key:
      type: object
      required: [id, name, role, approval_limits, created_at, revoked_at]
      additionalProperties: false
      properties:
        id: { type: string }
        name: { type: string }
        role: { $ref: "#/components/schemas/Role" }
        approval_limits: { type: [object, "null"], additionalProperties: { type: integer } }
        created_at: { type: string, format: date-time }
        revoked_at: { type: [string, "null"], format: date-time }
    CreatedKey:
      type: object
      required: [id, name, role, approval_limits, created_at, revoked_at, secret]
      additionalProperties: false
      properties:
        id: { type: string }
        name: { type: string }
        role: { $ref: "#/components/schemas/Role" }
        approval_limits: { type: [object, "null"], additionalProperties: { type: integer } }
        created_at: { type: string, format: date-time }
        revoked_at: { type: [string, "null"], format: date-time }
        secret: { type: string, description: "shown once; only its SHA-256 is stored" }
    EventEnvelope:
      type: object
      required: [id, type, source, occurred_at, account_id, correlation_id, payload]
      additionalProperties: false
      properties:
        id: { type: string, description: "the producer's id; with source, the idempotency key" }
        type:
          type: string
          enum: [credit.requested, refund.requested, invoice.disputed, entitlement.requested,
                 payment.failed, payment.succeeded, subscription.changed, case.escalated]
        source: { type: string }
        occurred_at: { type: string, format: date-time }
        account_id: { type: string }
        correlation_id: { type: string }
        payload:
          description: |
            By type (amounts are positive integers of minor units, at most 999999999999999):
            credit.requested: amount_minor, currency, reason; optional case_id, severity (sev1-sev4), invoice_id.
            refund.requested: amount_minor, currency, payment_id, reason.
            invoice.disputed: invoice_id, amount_minor, currency, reason.
            entitlement.requested: feature, reason.
            payment.failed: invoice_id, amount_minor, currency, attempt, failure_code.
            payment.succeeded: invoice_id, amount_minor, currency.
            subscription.changed: subscription_id, change (upgrade, downgrade, cancel, renew, reactivate), tier, mrr_minor (>= 0), currency.
            case.escalated: case_id, severity.
          anyOf:
            - { $ref: "#/components/schemas/MoneyPayload" }
            - type: object
              required: [feature, reason]
            - type: object
              required: [subscription_id, change, tier, mrr_minor, currency]
            - type: object
              required: [case_id, severity]
    MoneyPayload:
      type: object
      required: [amount_minor, currency]
      properties:
        amount_minor: { type: integer, minimum: 1, maximum: 999999999999999 }
        currency: { type: string, pattern: "^[A-Z]{3}$" }
    Action:
      type: object
      required: [id, type]
      description: An action with its id (the ERP idempotency key) and the fields the policy gave.
      properties:
        id: { type: string }
        type:
          type: string
          enum: [credit_memo, refund, account_suspension, account_reinstatement, entitlement_grant, entitlement_revoke]
        amount_minor: { type: integer, minimum: 1 }
        currency: { type: string }
        feature: { type: string }
    ProposedAction:
      type: object
      required: [type]
      properties:
        type: { type: string }
    PolicyVerdict:
      type: object
      required: [name, version, outcome, reasons, duration_us, error]
      additionalProperties: false
      properties:
        name: { type: string }
        version: { type: string, description: "SHA-256 (hex) of the policy source" }
        outcome: { type: string, enum: [approve, review, reject] }
        queue: { type: string }
        reasons: { type: array, items: { type: string } }
        actions: { type: array, items: { $ref: "#/components/schemas/ProposedAction" } }
        duration_us: { type: integer }
        error: { type: [string, "null"] }
        log: { type: array, items: { type: string } }
    Outcome:
      type: string
      enum: [approve, review, reject, recorded]
    DecisionSummary:
      type: object
      required: [id, outcome, queue, reasons, actions, review_id, policies, decided_at]
      additionalProperties: false
      properties:
        id: { type: string }
        outcome: { $ref: "#/components/schemas/Outcome" }
        queue: { type: [string, "null"] }
        reasons: { type: array, items: { type: string } }
        actions: { type: array, items: { $ref: "#/components/schemas/Action" } }
        review_id: { type: [string, "null"] }
        approvals_required: { type: integer, minimum: 1, description: "review only" }
        sla_due_at: { type: [string, "null"], format: date-time, description: "review only" }
        policies: { type: array, items: { $ref: "#/components/schemas/PolicyVerdict" } }
        decided_at: { type: string, format: date-time }
    EventDecision:
      type: object
      required: [event_id, decision]
      additionalProperties: false
      properties:
        event_id: { type: string, description: "Arbiter's id for the event" }
        decision: { $ref: "#/components/schemas/DecisionSummary" }
    StoredEvent:
      type: object
      required: [id, source, external_id, type, account_id, correlation_id, occurred_at, received_at, submitted_by, body_sha256, envelope, decision_id]
      additionalProperties: false
      properties:
        id: { type: string }
        source: { type: string }
        external_id: { type: string, description: "the producer's id" }
        type: { type: string }
        account_id: { type: string }
        correlation_id: { type: string }
        occurred_at: { type: string, format: date-time }
        received_at: { type: string, format: date-time }
        submitted_by: { type: string, description: "the submitting API key's id" }
        body_sha256: { type: string }
        envelope: { $ref: "#/components/schemas/EventEnvelope" }
        decision_id: { type: [string, "null"] }
    DecisionListItem:
      type: object
      required: [id, event_id, event_type, account_id, correlation_id, outcome, queue, reasons, actions, policies, review_id, review_state, decided_at, duration_us]
      properties:
        id: { type: string }
        event_id: { type: string }
        event_type: { type: string }
        account_id: { type: string }
        correlation_id: { type: string }
        outcome: { $ref: "#/components/schemas/Outcome" }
        queue: { type: [string, "null"] }
        reasons: { type: array, items: { type: string } }
        actions: { type: array, items: { $ref: "#/components/schemas/Action" } }
        policies: { type: array, items: { $ref: "#/components/schemas/PolicyVerdict" } }
        review_id: { type: [string, "null"] }
        review_state: { type: [string, "null"], enum: [open, claimed, escalated, approved, rejected, null] }
        decided_at: { type: string, format: date-time }
        duration_us: { type: integer }
        context: { $ref: "#/components/schemas/Context" }
    StoredDecision:
      allOf:
        - { $ref: "#/components/schemas/DecisionListItem" }
      type: object
      required: [context]
    DecisionPage:
      type: object
      required: [items, next_cursor]
      additionalProperties: false
      properties:
        items: { type: array, items: { $ref: "#/components/schemas/DecisionListItem" } }
        next_cursor: { type: [string, "null"] }
    Context:
      type: object
      required: [account, history, now]
      additionalProperties: false
      properties:
        account: { $ref: "#/components/schemas/Account" }
        history: { $ref: "#/components/schemas/History" }
        now: { type: integer, description: "evaluation time, Unix seconds" }
    Account:
      type: object
      required: [id, status, tier, mrr_minor, currency, open_balance_minor, days_past_due, entitlements]
      additionalProperties: false
      properties:
        id: { type: string }
        status: { type: string, enum: [active, past_due, suspended, closed, unknown] }
        tier: { type: [string, "null"] }
        mrr_minor: { type: integer }
        currency: { type: [string, "null"] }
        open_balance_minor: { type: integer }
        days_past_due: { type: integer }
        entitlements: { type: array, items: { type: string } }
    History:
      type: object
      required: [credits_30d_minor, credits_90d_minor, credits_365d_minor, credit_count_90d, refunds_90d_minor, open_disputes, failed_payments_30d]
      additionalProperties: false
      properties:
        credits_30d_minor: { type: integer }
        credits_90d_minor: { type: integer }
        credits_365d_minor: { type: integer }
        credit_count_90d: { type: integer }
        refunds_90d_minor: { type: integer }
        open_disputes: { type: integer }
        failed_payments_30d: { type: integer }
    AccountView:
      type: object
      required: [account, history]
      additionalProperties: false
      properties:
        account: { $ref: "#/components/schemas/Account" }
        history: { $ref: "#/components/schemas/History" }
    AccountSync:
      type: object
      required: [status]
      additionalProperties: false
      properties:
        status: { type: string, enum: [active, past_due, suspended, closed] }
        tier: { type: [string, "null"] }
        mrr_minor: { type: integer, minimum: 0 }
        currency: { type: [string, "null"] }
        open_balance_minor: { type: integer }
        days_past_due: { type: integer, minimum: 0 }
        entitlements: { type: array, items: { type: string } }
    OutboxAction:
      type: object
      required: [id, decision_id, review_id, account_id, correlation_id, type, amount_minor, currency, status, attempts,
                 next_attempt_at, erp_reference, last_error, last_status_code, created_at, delivered_at, updated_at, payload]
      properties:
        id: { type: string, description: "also the ERP Idempotency-Key" }
        decision_id: { type: string }
        review_id: { type: [string, "null"] }
        account_id: { type: string }
        correlation_id: { type: string }
        type: { type: string, enum: [credit_memo, refund, account_suspension, account_reinstatement, entitlement_grant, entitlement_revoke] }
        amount_minor: { type: [integer, "null"] }
        currency: { type: [string, "null"] }
        status: { type: string, enum: [pending, delivered, dead, cancelled] }
        attempts: { type: integer }
        next_attempt_at: { type: [string, "null"], format: date-time }
        erp_reference: { type: [string, "null"] }
        last_error: { type: [string, "null"] }
        last_status_code: { type: [integer, "null"] }
        created_at: { type: string, format: date-time }
        delivered_at: { type: [string, "null"], format: date-time }
        updated_at: { type: [string, "null"], format: date-time }
        payload: { $ref: "#/components/schemas/ErpPayload" }
    OutboxActionDetail:
      allOf:
        - { $ref: "#/components/schemas/OutboxAction" }
      type: object
      required: [response_body, attempt_log, held_by]
      properties:
        response_body: { type: [string, "null"], description: "a dead letter keeps the start of the ERP's answer" }
        held_by: { type: [string, "null"], description: "the dead letter of the same account this action waits behind" }
        note: { type: string }
        attempt_log:
          type: array
          items:
            type: object
            required: [at, duration_ms, status_code, error, result]
            additionalProperties: false
            properties:
              at: { type: string, format: date-time }
              duration_ms: { type: number }
              status_code: { type: [integer, "null"] }
              error: { type: [string, "null"] }
              result: { type: string, enum: [delivered, retry, dead] }
    ErpPayload:
      type: object
      description: |
        What the ERP receives for each action: the action's fields as the policy gave them plus
        `id` (= Idempotency-Key), `account_id`, `correlation_id` and `decision_id`. By type:
        credit_memo and refund carry `amount_minor` and `currency` (integer minor units; after a
        reviewer approved less, also `proposed_amount_minor`), usually `memo`, and `invoice_id` /
        `payment_id`; account_suspension carries `reason` and usually `invoice_id`;
        account_reinstatement usually `invoice_id`; entitlement_grant and entitlement_revoke carry `feature`.
      required: [id, type, account_id, correlation_id, decision_id]
      properties:
        id: { type: string }
        type: { type: string, enum: [credit_memo, refund, account_suspension, account_reinstatement, entitlement_grant, entitlement_revoke] }
        account_id: { type: string }
        correlation_id: { type: string }
        decision_id: { type: string }
        amount_minor: { type: integer, minimum: 1 }
        proposed_amount_minor: { type: integer, minimum: 1 }
        currency: { type: string }
        memo: { type: string }
        invoice_id: { type: string }
        payment_id: { type: string }
        feature: { type: string }
        reason: { type: string }
    PolicyVersionSummary:
      type: object
      required: [name, version, file, status, published_by, published_at, activated_at]
      properties:
        name: { type: string }
        version: { type: string, description: "SHA-256 (hex) of the source" }
        file: { type: string }
        status: { type: string, enum: [draft, active, shadow, retired] }
        published_by: { type: string, description: "key id, or system:startup" }
        published_at: { type: string, format: date-time }
        activated_at: { type: [string, "null"], format: date-time }
    PolicyVersion:
      allOf:
        - { $ref: "#/components/schemas/PolicyVersionSummary" }
      type: object
      required: [source, tests, history]
      properties:
        source: { type: string }
        tests: { type: [object, "null"] }
        history:
          type: array
          items:
            type: object
            required: [change, actor, at]
            additionalProperties: false
            properties:
              change: { type: string, enum: [published, proposed, approved, activated, rolled_back, deactivated, shadowed, shadow_stopped] }
              actor: { type: string }
              at: { type: string, format: date-time }
    ReviewState:
      type: string
      enum: [open, claimed, escalated, approved, rejected]
    QueueSummary:
      type: object
      required: [name, open, by_state, overdue, oldest_age_seconds, sla_hours, escalate_to, two_approvals_over_minor]
      additionalProperties: false
      properties:
        name: { type: string }
        open: { type: integer, description: "items waiting: open, claimed or escalated" }
        by_state:
          type: object
          required: [open, claimed, escalated]
          additionalProperties: false
          properties:
            open: { type: integer }
            claimed: { type: integer }
            escalated: { type: integer }
        overdue: { type: integer, description: "waiting items past their SLA" }
        oldest_age_seconds: { type: [integer, "null"] }
        sla_hours: { type: [number, "null"], description: "the queue's default SLA" }
        escalate_to: { type: [string, "null"] }
        two_approvals_over_minor: { type: [integer, "null"] }
    ReviewSummary:
      type: object
      required: [id, queue, state, account_id, event_id, decision_id, event_type, created_at, submitted_by, sla_due_at, overdue,
                 escalated_at, escalated_from, decided_at, decided_by, amount_minor, currency, claimed_by, claimed_by_name,
                 claim_expires_at, approvals_required, approvals_given, approved_amount_minor, reasons]
      properties:
        id: { type: string }
        queue: { type: string }
        state: { $ref: "#/components/schemas/ReviewState" }
        account_id: { type: string }
        event_id: { type: string }
        decision_id: { type: string }
        event_type: { type: string }
        created_at: { type: string, format: date-time }
        submitted_by: { type: string, description: "the submitting key's id: it may not review the item" }
        sla_due_at: { type: [string, "null"], format: date-time }
        overdue: { type: boolean }
        escalated_at: { type: [string, "null"], format: date-time }
        escalated_from: { type: [string, "null"] }
        decided_at: { type: [string, "null"], format: date-time }
        decided_by: { type: [string, "null"] }
        amount_minor: { type: [integer, "null"], description: "the event's amount" }
        currency: { type: [string, "null"] }
        claimed_by: { type: [string, "null"], description: "the holder of a live claim" }
        claimed_by_name: { type: [string, "null"] }
        claim_expires_at: { type: [string, "null"], format: date-time }
        approvals_required: { type: integer, minimum: 1 }
        approvals_given: { type: integer, minimum: 0 }
        approved_amount_minor: { type: [integer, "null"] }
        reasons: { type: array, items: { type: string } }
    Review:
      allOf:
        - { $ref: "#/components/schemas/ReviewSummary" }
      type: object
      required: [correlation_id, submitted_by_name, event, context, policies, proposed_actions, proposed_amount_minor,
                 queued_actions, history, approvals]
      properties:
        correlation_id: { type: string }
        submitted_by_name: { type: [string, "null"] }
        event: { $ref: "#/components/schemas/StoredEvent" }
        context: { $ref: "#/components/schemas/Context" }
        policies: { type: array, items: { $ref: "#/components/schemas/PolicyVerdict" } }
        proposed_actions: { type: array, items: { $ref: "#/components/schemas/Action" } }
        proposed_amount_minor: { type: [integer, "null"], description: "all money the proposed actions move" }
        queued_actions:
          type: array
          description: the actions sent to the outbox on the final approval (amounts as approved)
          items:
            type: object
            required: [id, type, amount_minor, currency, status, erp_reference]
            additionalProperties: false
            properties:
              id: { type: string }
              type: { type: string }
              amount_minor: { type: [integer, "null"] }
              currency: { type: [string, "null"] }
              status: { type: string, enum: [pending, delivered, dead, cancelled] }
              erp_reference: { type: [string, "null"] }
        history:
          type: array
          items:
            type: object
            required: [at, actor, actor_name, action, comment, amount_minor, assignee]
            additionalProperties: false
            properties:
              at: { type: string, format: date-time }
              actor: { type: string, description: "key id, or system" }
              actor_name: { type: [string, "null"] }
              action: { type: string, enum: [claimed, released, approved, rejected, reassigned, claim_expired, escalated] }
              comment: { type: [string, "null"] }
              amount_minor: { type: [integer, "null"] }
              assignee: { type: [string, "null"] }
        approvals:
          type: array
          items:
            type: object
            required: [reviewer, reviewer_name, at, amount_minor, comment]
            additionalProperties: false
            properties:
              reviewer: { type: string }
              reviewer_name: { type: [string, "null"] }
              at: { type: string, format: date-time }
              amount_minor: { type: [integer, "null"] }
              comment: { type: [string, "null"] }
"""#
}
