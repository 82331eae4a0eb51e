import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The console under `/console`: server-rendered pages for reviewers (queues), operators (the
/// operations dashboard), auditors (the trail, stories, exports) — each built on the same use
/// cases as the JSON API, so every control and refusal is the service's own. Navigation follows
/// the signed-in key's role.
///
/// Security: a reviewer signs in with an API key; the console keeps only the key's hash in an
/// in-memory session (so a revoked key stops working at once, and a restart signs everyone
/// out). The session cookie is HttpOnly and SameSite=Strict; every form carries a CSRF token
/// bound to the session (the sign-in form one bound to a short-lived cookie), checked in
/// constant time. Pages are sent with a strict Content-Security-Policy and `no-store`.
struct Console {
    let desk: ReviewDesk
    let keys: Keys
    let deliveries: Deliveries
    let inbox: Inbox
    let reconciliations: Reconciliations
    let trail: AuditTrail
    let exports: ExportJobs
    let decisions: any DecisionStore
    /// The queue and outbox counts taken in the background.
    let gauges: OperationalGauges
    /// The policy workbench's changes (maker-checker applied as in the API).
    let policies: PolicyControls
    let accounts: Accounts
    let sessions: ConsoleSessions
    let library: MustacheLibrary
    /// Cookies marked `Secure` (the service is served over TLS).
    let secure: Bool

    static let sessionCookie = ConsoleCookie.session
    static let signInCookie = ConsoleCookie.signIn
    /// Roles that may sign in; each acts only where its role allows (reviewers decide items,
    /// operators work deliveries, auditors read and export), the others read.
    static let roles: [Role] = [.reviewer, .auditor, .operator, .policyAdmin]

    /// Throws only if a compiled-in template does not parse (the service then does not start).
    init(services: Services, settings: ConsoleSettings, policies: PolicyControls) throws {
        self.policies = policies
        self.accounts = services.accounts
        self.desk = services.desk
        self.keys = services.keys
        self.deliveries = services.deliveries
        self.inbox = services.inbox
        self.reconciliations = services.reconciliations
        self.trail = services.audit
        self.exports = services.exports
        self.decisions = services.decisions
        self.gauges = services.gauges
        self.sessions = ConsoleSessions(store: services.storage.sessions, limits: settings.sessions)
        self.secure = settings.secureCookies
        self.library = try ConsoleTemplates.library()
    }

    /// A console cookie: HttpOnly, SameSite=Strict, path /console, and Secure over TLS.
    func cookie(_ name: String, _ value: String, maxAge: Int) -> Cookie {
        Cookie(name: name, value: value, maxAge: maxAge, path: "/console", secure: secure, httpOnly: true, sameSite: .strict)
    }

    func addRoutes(to router: Router<AppRequestContext>) {
        let console = router.group("console")
        console.get { request, _ in
            guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
            return Self.redirect(Self.home(user.key.role))
        }
        console.get("sign-in", use: signInPage)
        console.post("sign-in", use: signIn)
        console.post("sign-out", use: signOut)
        console.get("queues", use: queuesPage)
        console.get("queues/:name", use: queuePage)
        console.get("reviews/:id", use: reviewPage)
        console.post("reviews/:id/:action", use: reviewAction)
        addOperationsRoutes(to: console)
        addAuditRoutes(to: console)
        addPolicyRoutes(to: console)
    }

    /// Where a role starts.
    static func home(_ role: Role) -> String {
        switch role {
        case .operator: "/console/operations"
        case .auditor: "/console/audit"
        case .policyAdmin: "/console/policies"
        default: "/console/queues"
        }
    }

    /// The pages a role sees in the navigation (an admin sees every one).
    static func navigation(_ key: ApiKey, current: String) -> [[String: Any]] {
        [("Review queues", "/console/queues", [Role.reviewer, .auditor, .operator, .policyAdmin]),
         ("Policies", "/console/policies", [.policyAdmin, .auditor, .operator, .reviewer]),
         ("Operations", "/console/operations", [.operator]),
         ("Audit trail", "/console/audit", [.auditor]),
         ("Exports", "/console/audit/exports", [.auditor])]
            .filter { key.may($0.2) }
            .map { ["label": $0.0, "href": $0.1, "current": current.hasPrefix($0.1) && ($0.1 != "/console/audit" || !current.hasPrefix("/console/audit/exports"))] }
    }

    /// Why a posted form may not run, in plain words (nil: it may): its CSRF token must be the
    /// session's, and the key must have one of `roles` (`doing`: what the form does, for the sentence).
    /// Every console form asks here first; the refusal is shown with status 403.
    func formRefusal(_ user: ConsoleUser, csrf: String?, roles: [Role] = [], doing what: String = "") -> String? {
        guard let csrf, ConsoleSessions.same(user.csrf, csrf) else { return "This form has expired. Reload the page and try again." }
        guard roles.isEmpty || user.key.may(roles) else {
            return "Your key (\(user.key.role.rawValue)) can look but not \(what): that needs the \(roles.map(\.rawValue).joined(separator: " or ")) role."
        }
        return nil
    }

    /// A page for roles the user does not have: said in plain words.
    func forbidden(_ user: ConsoleUser, _ what: String, _ roles: [Role]) -> Response? {
        guard !user.key.may(roles) else { return nil }
        return html(title: "Not for your role", template: "message",
                    ["message": "\(what) is for the \(roles.map(\.rawValue).joined(separator: " or ")) role; your key is \(user.key.role.rawValue)."],
                    user: user, status: .forbidden)
    }

    // MARK: Signing in and out

    func signInPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        try signInForm(error: nil, status: .ok)
    }

    func signInForm(error: String?, status: HTTPResponse.Status) throws -> Response {
        let token = ConsoleSessions.randomToken()
        var response = html(title: "Sign in", template: "sign-in", ConsoleFormat.present(["csrf": token, "error": error]), user: nil, status: status)
        response.setCookie(cookie(Self.signInCookie, token, maxAge: 600))
        return response
    }

    struct SignInForm: Decodable {
        let key: String?
        let csrf: String?
    }

    func signIn(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Self.form(SignInForm.self, request)
        guard let expected = request.cookies[Self.signInCookie]?.value, let sent = form.csrf, ConsoleSessions.same(expected, sent) else {
            return try signInForm(error: "The sign-in form expired. Please enter your key again.", status: .forbidden)
        }
        let secret = (form.key ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty, let key = try await keys.authenticate(secret: secret) else {
            return try signInForm(error: "That API key is not valid (or has been revoked).", status: .unauthorized)
        }
        guard key.may(Self.roles) else {
            return try signInForm(error: "This key's role (\(key.role.rawValue)) cannot use the console. Use a reviewer, operator, auditor or policy admin key.",
                                  status: .forbidden)
        }
        let token = try await sessions.create(keyHash: ApiKey.hash(secret: secret))
        var response = Self.redirect(Self.home(key.role))
        response.setCookie(cookie(Self.sessionCookie, token, maxAge: Int(ConsoleSessions.lifetimeSeconds)))
        response.setCookie(cookie(Self.signInCookie, "", maxAge: 0))
        return response
    }

    struct CSRFForm: Decodable {
        let csrf: String?
    }

    func signOut(_ request: Request, context: AppRequestContext) async throws -> Response {
        let form = try await Self.form(CSRFForm.self, request)
        if let token = request.cookies[Self.sessionCookie]?.value, let session = try await sessions.session(token),
           let sent = form.csrf, ConsoleSessions.same(session.csrf, sent) {
            try await sessions.remove(token)
        }
        var response = Self.redirect("/console/sign-in")
        response.setCookie(cookie(Self.sessionCookie, "", maxAge: 0))
        return response
    }

    /// The signed-in user, or nil: no cookie, an expired session, or a key revoked since.
    func signedIn(_ request: Request) async throws -> ConsoleUser? {
        guard let token = request.cookies[Self.sessionCookie]?.value, let session = try await sessions.session(token),
              let key = try await keys.authenticate(hash: session.keyHash), key.may(Self.roles) else { return nil }
        return ConsoleUser(key: key, csrf: session.csrf)
    }

    // MARK: Pages

    func queuesPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        let now = Date()
        let queues = try await desk.queues().map { q -> [String: Any] in
            [
                "name": q.name, "path": Self.pathComponent(q.name), "waiting": q.waiting, "open": q.open, "claimed": q.claimed,
                "escalated": q.escalated, "overdue": q.overdue, "isOverdue": q.overdue > 0,
                "oldest": q.oldestCreatedAt.map { ConsoleFormat.age(now.timeIntervalSince($0)) } ?? "—",
            ]
        }
        return html(title: "Review queues", template: "queues", ["queues": queues, "empty": queues.isEmpty], user: user)
    }

    func queuePage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        let name = try context.parameters.require("name")
        let filter = request.uri.queryParameters["state"].map(String.init)
        let states = reviewStates(filter) ?? ReviewState.waiting
        let now = Date()
        let page = try await desk.items(queue: name, states: states, after: nil, limit: 200)
        let items = page.items.map { item -> [String: Any] in
            ConsoleFormat.present([
                "id": item.id, "type": ConsoleFormat.eventTitle(item.eventType), "account": item.accountId,
                "amount": ConsoleFormat.money(item.amountMinor, item.currency) ?? "—",
                "state": item.state.rawValue, "overdue": item.overdue,
                "age": Timestamp.parse(item.createdAt).map { ConsoleFormat.age(now.timeIntervalSince($0)) } ?? "",
                "due": ConsoleFormat.time(item.slaDueAt) ?? "—",
                "claimedBy": item.claim?.byName,
                "approvals": "\(item.approvalsGiven) of \(item.approvalsRequired)",
                "reason": item.reasons.first ?? "",
            ])
        }
        let tabs = [("waiting", nil as String?), ("open", "open"), ("claimed", "claimed"), ("escalated", "escalated"), ("decided", "decided")]
            .map { label, state -> [String: Any] in
                ["label": label, "href": "/console/queues/\(Self.pathComponent(name))" + (state.map { "?state=\($0)" } ?? ""),
                 "current": state == filter]
            }
        return html(title: "Queue \(name)", template: "queue",
                    ["name": name, "items": items, "empty": items.isEmpty, "tabs": tabs, "more": page.next != nil], user: user)
    }

    func reviewPage(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        let id = try context.parameters.require("id")
        let notice = request.uri.queryParameters["done"].flatMap { ConsoleFormat.notices[String($0)] }
        return try await itemPage(id: id, user: user, notice: notice, error: nil, status: .ok)
    }

    func itemPage(id: String, user: ConsoleUser, notice: String?, error: String?, status: HTTPResponse.Status) async throws -> Response {
        let item: ReviewItemDetail
        do {
            item = try await desk.item(id)
        } catch let refusal as Refusal where refusal.kind == .notFound {
            return html(title: "Not found", template: "message", ["message": "There is no review item \(id)."], user: user, status: .notFound)
        }
        var view = ConsoleFormat.review(item, viewer: user.key.id, now: Date())
        if let notice { view["notice"] = notice }
        if let error { view["error"] = error }
        view["canAct"] = user.key.may([.reviewer])
        view["csrf"] = user.csrf
        return html(title: view["title"] as? String ?? "Review", template: "review", view, user: user, status: status)
    }

    struct ActionForm: Decodable {
        let csrf: String?
        let comment: String?
        let amount: String?
    }

    /// A form on the item page: runs the command through the review desk; a refusal is shown on
    /// the page in the service's own words, a success redirects back with a notice.
    func reviewAction(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let user = try await signedIn(request) else { return Self.redirect("/console/sign-in") }
        let id = try context.parameters.require("id")
        let action = try context.parameters.require("action")
        let form = try await Self.form(ActionForm.self, request)
        if let refused = formRefusal(user, csrf: form.csrf, roles: [.reviewer], doing: "work review items") {
            return try await itemPage(id: id, user: user, notice: nil, error: refused, status: .forbidden)
        }
        let comment = form.comment?.trimmingCharacters(in: .whitespacesAndNewlines)
        let command: ReviewCommand
        switch action {
        case "claim": command = .claim
        case "release": command = .release
        case "reject":
            guard let comment, !comment.isEmpty else {
                return try await itemPage(id: id, user: user, notice: nil, error: "Please write why you reject this request.",
                                          status: .unprocessableContent)
            }
            command = .reject(comment: comment)
        case "approve", "approve-lower":
            var amount: Int64?
            if action == "approve-lower" {
                let currency = try await desk.item(id).proposedActions.compactMap(\.currency).first
                guard let text = form.amount, let parsed = ConsoleFormat.parseAmount(text, currency: currency) else {
                    return try await itemPage(id: id, user: user, notice: nil,
                                              error: "Enter the amount to approve like 90.00 (in \(currency ?? "the request's currency")).",
                                              status: .unprocessableContent)
                }
                amount = parsed
            }
            command = .approve(comment: comment.flatMap { $0.isEmpty ? nil : $0 }, amountMinor: amount)
        default:
            return html(title: "Not found", template: "message", ["message": "There is no such action."], user: user, status: .notFound)
        }
        do {
            let done = try await desk.perform(command, on: id, by: user.key)
            let notice = switch command {
            case .approve: done.state == .approved ? "approved" : "first-approval"
            default: command.action
            }
            return Self.redirect("/console/reviews/\(Self.pathComponent(id))?done=\(notice)")
        } catch let refusal as Refusal {
            // The service names reviewers by key id; people know each other by name.
            let words = ConsoleFormat.plainWords(refusal, names: try await desk.keyNames())
            return try await itemPage(id: id, user: user, notice: nil, error: words, status: Problem(refusal).status)
        }
    }

    // MARK: Rendering

    func html(title: String, template: String, _ values: [String: Any], user: ConsoleUser?,
              status: HTTPResponse.Status = .ok, path: String = "") -> Response {
        let content = library.render(values, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "content": content]
        if let user {
            layout["user"] = ["name": user.key.name, "role": user.key.role.rawValue, "csrf": user.csrf]
            layout["nav"] = Self.navigation(user.key, current: path)
        }
        let body = library.render(layout, withTemplate: "layout") ?? content
        return Response(status: status, headers: Self.pageHeaders, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static let pageHeaders: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "same-origin",
    ]

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static func form<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int = 64 * 1024) async throws -> T {
        let buffer = try await request.body.collect(upTo: limit)
        do {
            return try URLEncodedFormDecoder().decode(T.self, from: String(buffer: buffer))
        } catch {
            throw Problem(status: .badRequest, title: "Bad form", detail: "the form could not be read")
        }
    }

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? text
    }
}
