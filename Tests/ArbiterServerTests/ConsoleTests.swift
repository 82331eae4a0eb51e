import ArbiterCore
import ArbiterServer
import ArbiterSQLite
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The console's security and its words, through HTTP (the browser flow is Scripts/console-test.py).
@Suite(.timeLimit(.minutes(5))) struct ConsoleTests {
    struct Page {
        let status: HTTPResponse.Status
        let body: String
        let location: String?
        let cookies: [String]
    }

    static func request(_ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, cookies: [String: String] = [:],
                        form: [String: String]? = nil) async throws -> Page {
        var headers: HTTPFields = [:]
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        var body: ByteBuffer?
        if let form {
            headers[.contentType] = "application/x-www-form-urlencoded"
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
            body = ByteBuffer(string: form.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed)!)" }.joined(separator: "&"))
        }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body) { response in
            Page(status: response.status, body: String(buffer: response.body), location: response.headers[.location],
                 cookies: response.headers[values: .setCookie])
        }
    }

    static func cookie(_ page: Page, _ name: String) -> String? {
        for header in page.cookies where header.hasPrefix(name + "=") {
            return String(header.dropFirst(name.count + 1).prefix { $0 != ";" })
        }
        return nil
    }

    static func csrf(_ body: String) -> String? {
        guard let range = body.range(of: #"name="csrf" value=""#) else { return nil }
        return String(body[range.upperBound...].prefix { $0 != "\"" })
    }

    /// Signs in with `key`; returns the session cookie.
    static func signIn(_ client: some TestClientProtocol, key: String) async throws -> String {
        let form = try await request(client, .get, "/console/sign-in")
        let token = try #require(cookie(form, ConsoleCookie.signIn))
        let signedIn = try await request(client, .post, "/console/sign-in", cookies: [ConsoleCookie.signIn: token],
                                         form: ["key": key, "csrf": try #require(csrf(form.body))])
        #expect(signedIn.status == .seeOther, "\(signedIn.body)")
        return try #require(cookie(signedIn, ConsoleCookie.session))
    }

    /// A key keeps at most its own number of sessions (the oldest ends first), and all keys
    /// together a total: signing in again and again cannot fill the memory.
    @Test func sessionsAreBoundedPerKeyAndInAll() async throws {
        try await EventsHarness.run(consoleSessions: ConsoleSessionLimits(perKey: 3, total: 5)) { client, h in
            var sessions: [String] = []
            for _ in 0..<4 { sessions.append(try await Self.signIn(client, key: h.reviewer)) }
            func works(_ session: String) async throws -> Bool {
                try await Self.request(client, .get, "/console/queues", cookies: [ConsoleCookie.session: session]).status == .ok
            }
            #expect(try await !works(sessions[0]), "the oldest of the key's sessions ended")
            for session in sessions.dropFirst() { #expect(try await works(session)) }
            // Three more from other keys: five in all, so the oldest left (sessions[1]) ends.
            for name in ["bo", "cy", "di"] {
                let key = try await ReviewsTests.key(h, name, .reviewer)
                _ = try await Self.signIn(client, key: key.secret)
            }
            #expect(try await !works(sessions[1]))
            #expect(try await works(sessions[3]))
        }
    }

    /// Behind TLS (`--public-url https://…`) the console's cookies are Secure; not otherwise.
    @Test func cookiesAreSecureWhenServedOverTLS() async throws {
        try await EventsHarness.run(publicURL: "https://arbiter.example.com") { client, h in
            let form = try await Self.request(client, .get, "/console/sign-in")
            #expect(form.cookies.allSatisfy { $0.contains("Secure") }, "\(form.cookies)")
            let token = try #require(Self.cookie(form, ConsoleCookie.signIn))
            let signedIn = try await Self.request(client, .post, "/console/sign-in", cookies: [ConsoleCookie.signIn: token],
                                                  form: ["key": h.reviewer, "csrf": try #require(Self.csrf(form.body))])
            #expect(!signedIn.cookies.isEmpty && signedIn.cookies.allSatisfy { $0.contains("Secure") }, "\(signedIn.cookies)")
        }
        try await EventsHarness.run { client, _ in
            let form = try await Self.request(client, .get, "/console/sign-in")
            #expect(form.cookies.allSatisfy { !$0.contains("Secure") }, "\(form.cookies)")
        }
    }

    @Test func signInSetsAStrictHttpOnlySessionAndChecksTheFormToken() async throws {
        try await EventsHarness.run { client, h in
            let unsigned = try await Self.request(client, .get, "/console/queues")
            #expect(unsigned.status == .seeOther)
            #expect(unsigned.location == "/console/sign-in")

            let form = try await Self.request(client, .get, "/console/sign-in")
            #expect(form.status == .ok)
            let token = try #require(Self.cookie(form, ConsoleCookie.signIn))
            // Without the cookie's token in the form (a cross-site post), nothing happens.
            let forged = try await Self.request(client, .post, "/console/sign-in", form: ["key": h.reviewer, "csrf": token])
            #expect(forged.status == .forbidden)
            #expect(Self.cookie(forged, ConsoleCookie.session) == nil)
            let wrong = try await Self.request(client, .post, "/console/sign-in", cookies: [ConsoleCookie.signIn: token],
                                               form: ["key": "not-a-key", "csrf": token])
            #expect(wrong.status == .unauthorized)
            #expect(wrong.body.contains("That API key is not valid"))
            let submitter = try await Self.request(client, .post, "/console/sign-in", cookies: [ConsoleCookie.signIn: token],
                                                   form: ["key": h.submitter, "csrf": token])
            #expect(submitter.status == .forbidden)
            #expect(submitter.body.contains("cannot use the console"))

            let signedIn = try await Self.request(client, .post, "/console/sign-in", cookies: [ConsoleCookie.signIn: token],
                                                  form: ["key": h.reviewer, "csrf": token])
            #expect(signedIn.status == .seeOther)
            let header = try #require(signedIn.cookies.first { $0.hasPrefix(ConsoleCookie.session + "=") })
            #expect(header.contains("HttpOnly"))
            #expect(header.contains("SameSite=Strict"))
            #expect(header.contains("Path=/console"))
            #expect(!header.contains(h.reviewer), "the key itself never goes into the cookie")
            let session = try #require(Self.cookie(signedIn, ConsoleCookie.session))
            let queues = try await Self.request(client, .get, "/console/queues", cookies: [ConsoleCookie.session: session])
            #expect(queues.status == .ok)
            #expect(queues.body.contains("Signed in as <strong id=\"signed-in-as\">ana</strong>"))
            let forgedSession = try await Self.request(client, .get, "/console/queues", cookies: [ConsoleCookie.session: "guess"])
            #expect(forgedSession.status == .seeOther)
        }
    }

    @Test func formsNeedTheSessionsTokenAndRefusalsArePlainWords() async throws {
        try await EventsHarness.run { client, h in
            try await ReviewsTests.standardAccount(client, h)
            // A reason with markup is shown as text, never run.
            let (_, body, _) = try await h.post(client, validEnvelope("credit.requested", payload: [
                "amount_minor": 15000, "reason": "<script>alert(1)</script>",
            ]))
            let id = try #require(body["decision"]?["review_id"]?.stringValue)
            let session = try await Self.signIn(client, key: h.reviewer)
            let page = try await Self.request(client, .get, "/console/reviews/\(id)", cookies: [ConsoleCookie.session: session])
            #expect(page.status == .ok)
            #expect(!page.body.contains("<script>alert(1)</script>"))
            #expect(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(page.body.contains("150.00 USD"))
            let token = try #require(Self.csrf(page.body))

            let noToken = try await Self.request(client, .post, "/console/reviews/\(id)/approve", cookies: [ConsoleCookie.session: session],
                                                 form: ["comment": "ok"])
            #expect(noToken.status == .forbidden)
            #expect(try await h.count("SELECT COUNT(*) FROM review_history") == 0)

            let lower = try await Self.request(client, .post, "/console/reviews/\(id)/approve-lower",
                                               cookies: [ConsoleCookie.session: session],
                                               form: ["csrf": token, "amount": "200.00", "comment": "more"])
            #expect(lower.status == .unprocessableContent)
            #expect(lower.body.contains("Amount: 200.00 USD is more than the 150.00 USD proposed"), "\(lower.body)")
            let typo = try await Self.request(client, .post, "/console/reviews/\(id)/approve-lower",
                                              cookies: [ConsoleCookie.session: session], form: ["csrf": token, "amount": "12,5x"])
            #expect(typo.status == .unprocessableContent)
            #expect(typo.body.contains("Enter the amount to approve like 90.00"))

            let approved = try await Self.request(client, .post, "/console/reviews/\(id)/approve-lower",
                                                  cookies: [ConsoleCookie.session: session],
                                                  form: ["csrf": token, "amount": "1,00.5", "comment": "part"])
            #expect(approved.status == .unprocessableContent, "a malformed grouping is refused rather than guessed")
            let ok = try await Self.request(client, .post, "/console/reviews/\(id)/approve-lower",
                                            cookies: [ConsoleCookie.session: session],
                                            form: ["csrf": token, "amount": "100.50", "comment": "part"])
            #expect(ok.status == .seeOther)
            #expect(ok.location == "/console/reviews/\(id)?done=approved")
            let (_, item) = try await h.get(client, "/v1/reviews/\(id)", key: h.reviewer)
            #expect(item["approved_amount_minor"] == .int(10050))

            // Signing out ends the session on the server, not just in the browser.
            let signOut = try await Self.request(client, .post, "/console/sign-out", cookies: [ConsoleCookie.session: session],
                                                 form: ["csrf": token])
            #expect(signOut.status == .seeOther)
            let after = try await Self.request(client, .get, "/console/queues", cookies: [ConsoleCookie.session: session])
            #expect(after.location == "/console/sign-in")
        }
    }

    @Test func aRevokedKeyEndsItsSession() async throws {
        try await EventsHarness.run { client, h in
            let reviewer = try await ReviewsTests.key(h, "temp", .reviewer)
            let session = try await Self.signIn(client, key: reviewer.secret)
            try await client.execute(uri: "/v1/keys/\(reviewer.id)/revoke", method: .post,
                                     headers: [.authorization: "Bearer \(EventsHarness.admin)"]) { #expect($0.status == .ok) }
            let page = try await Self.request(client, .get, "/console/queues", cookies: [ConsoleCookie.session: session])
            #expect(page.location == "/console/sign-in")
        }
    }
}
