import ArbiterCore
import ArbiterPolicy
import Dispatch
import Foundation

/// Evaluates a policy through PolicyEngine.decide — the call the service makes for each event:
/// encoding the event and context, a pooled sandboxed state with every limit on, decoding and
/// validating the result, combining — over a mix of inputs that covers every outcome of
/// credit_thresholds. Runs on one thread, then on every core. The last line is:
/// `engine evals_per_s=<int> evals_per_s_all_cores=<int> p99_us=<float>`
enum EngineBench {
    static func run(policyPath: String, seconds: Double) throws {
        let source = try String(contentsOfFile: policyPath, encoding: .utf8)
        let engine = PolicyEngine()
        engine.activate(try engine.compile([PolicySource(file: URL(fileURLWithPath: policyPath).lastPathComponent, source: source)]))
        let inputs = try mix()
        let guardrails = Guardrails()

        // Check the mix covers every outcome before timing it.
        var outcomes: [String: Int] = [:]
        for (event, context) in inputs {
            let decision = engine.decide(event, context: context, guardrails: guardrails)
            precondition(decision.policies.allSatisfy { $0.error == nil }, "policy error: \(decision.policies)")
            outcomes[decision.outcome.rawValue + (decision.queue.map { "/" + $0 } ?? ""), default: 0] += 1
        }
        print("policy \(policyPath), \(inputs.count) inputs: " + outcomes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        print("limits: budget \(engine.limits.instructionBudget) instructions, memory \(engine.limits.memoryBytes >> 20) MiB, time \(engine.limits.timeLimitMillis) ms")

        // One thread, every evaluation timed.
        var latencies: [Int64] = []
        latencies.reserveCapacity(4_000_000)
        var count = 0
        let start = monotonic()
        let deadline = start + Int64(seconds * 1e9)
        var now = start
        while now < deadline {
            for (event, context) in inputs {
                let t0 = monotonic()
                let decision = engine.decide(event, context: context, guardrails: guardrails)
                let t1 = monotonic()
                precondition(!decision.policies.isEmpty, "no policy evaluated")
                latencies.append(t1 - t0)
                now = t1
            }
            count += inputs.count
        }
        let single = Double(count) / (Double(now - start) / 1e9)
        latencies.sort()
        let p50 = Double(latencies[latencies.count / 2]) / 1000
        let p99 = Double(latencies[Int(Double(latencies.count) * 0.99)]) / 1000
        print(String(format: "one thread: %d evaluations in %.2f s, %.0f/s, p50 %.2f us, p99 %.2f us", count, Double(now - start) / 1e9, single, p50, p99))

        // Every core.
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let duration = Int64(seconds * 1e9)
        let totals = Locked([Int](repeating: 0, count: cores))
        let allStart = monotonic()
        DispatchQueue.concurrentPerform(iterations: cores) { worker in
            var n = 0
            let end = monotonic() + duration
            while monotonic() < end {
                for (event, context) in inputs {
                    _ = engine.decide(event, context: context, guardrails: guardrails)
                }
                n += inputs.count
            }
            totals.withLock { $0[worker] = n }
        }
        let allElapsed = Double(monotonic() - allStart) / 1e9
        let all = Double(totals.withLock { $0.reduce(0, +) }) / allElapsed
        print(String(format: "%d threads: %.0f/s", cores, all))
        print(String(format: "engine evals_per_s=%d evals_per_s_all_cores=%d p99_us=%.2f", Int(single), Int(all), p99))
    }

    /// `--iterations N`: the mix decided N times on one thread and nothing else, for counting
    /// instructions (`valgrind --tool=callgrind`): the difference between two runs of different
    /// N, divided by the difference in decisions, is the cost of one decision without the setup.
    static func count(policyPath: String, iterations: Int) throws {
        let source = try String(contentsOfFile: policyPath, encoding: .utf8)
        let engine = PolicyEngine(warmStates: 1)
        engine.activate(try engine.compile([PolicySource(file: URL(fileURLWithPath: policyPath).lastPathComponent, source: source)]))
        let inputs = try mix()
        let guardrails = Guardrails()
        var approved = 0
        for _ in 0..<iterations {
            for (event, context) in inputs where engine.decide(event, context: context, guardrails: guardrails).outcome == .approve {
                approved += 1
            }
        }
        print("engine decisions=\(iterations * inputs.count) approved=\(approved)")
    }

    /// Inputs covering every outcome of credit_thresholds, in a fixed order.
    static func mix() throws -> [(Event, PolicyContext)] {
        func event(_ i: Int, amount: Int64, currency: String = "USD", severity: String? = nil) throws -> Event {
            var payload: [String: JSONValue] = ["amount_minor": .int(amount), "currency": .string(currency), "reason": "service outage on 2026-11-20"]
            if let severity { payload["severity"] = .string(severity); payload["case_id"] = .string("case_\(i)") }
            return try Event(envelope: .object([
                "id": .string("evt_\(i)"), "type": "credit.requested", "source": "zendesk", "occurred_at": "2026-11-22T10:00:00Z",
                "account_id": .string("acct_\(i)"), "correlation_id": .string("case_\(i)"), "payload": .object(payload),
            ]))
        }
        func context(_ i: Int, _ status: AccountStatus, tier: String = "standard", credits90d: Int64 = 0) -> PolicyContext {
            var history = HistoryAggregates()
            history.credits90dMinor = credits90d
            history.creditCount90d = credits90d > 0 ? 2 : 0
            return PolicyContext(account: AccountSnapshot(id: "acct_\(i)", status: status, tier: tier, mrrMinor: 49_900, currency: "USD",
                                                          entitlements: ["api", "sso"]), history: history, now: 1_763_805_600)
        }
        return [
            (try event(1, amount: 2500), context(1, .active)),                                   // approve
            (try event(2, amount: 1500), context(2, .active, tier: "premium", credits90d: 5000)), // approve
            (try event(3, amount: 7500, severity: "sev1"), context(3, .active)),                  // approve (sev1 doubles the limit)
            (try event(4, amount: 7500), context(4, .active)),                                    // review: over the limit
            (try event(5, amount: 4000), context(5, .active, credits90d: 7000)),                  // review: 90-day cap
            (try event(6, amount: 150_000), context(6, .active, tier: "enterprise")),             // review: two reviewers
            (try event(7, amount: 100), context(7, .suspended)),                                  // reject
            (try event(8, amount: 100), context(8, .unknown)),                                    // review: unknown account
            (try event(9, amount: 100), context(9, .pastDue)),                                    // review: past due
            (try event(10, amount: 100, currency: "EUR"), context(10, .active)),                  // review: currency
        ]
    }

    static func monotonic() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
