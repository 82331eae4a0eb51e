import ArbiterCore
import Foundation
import Prometheus

/// What operators watch, served at `/metrics` in the Prometheus text format. Each running
/// service has its own registry (tests run several side by side).
public final class ServiceMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    /// Policy evaluations take microseconds; requests take milliseconds.
    static let evaluationBuckets: [Duration] = [.microseconds(10), .microseconds(25), .microseconds(50), .microseconds(100),
                                                .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(5),
                                                .milliseconds(10), .milliseconds(50), .milliseconds(100)]
    static let requestBuckets: [Duration] = [.microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
                                             .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                                             .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5)]

    private let commitBatches: ValueHistogram
    private let commitDurations: DurationHistogram
    private let knownQueues = Locked<Set<String>>([])
    private let knownBreakers = Locked<Set<String>>([])

    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "arbiter", metricName: metric, unitName: unit, helpText: help)
    }

    static var events: MetricNameDescriptor { name("events", "total", "Events stored, by type") }
    static var decisions: MetricNameDescriptor { name("decisions", "total", "Decisions made, by outcome and queue") }
    static var policyEvaluation: MetricNameDescriptor { name("policy_evaluation", "seconds", "Time one policy took to decide one event") }
    static var policyErrors: MetricNameDescriptor { name("policy_errors", "total", "Policy errors, time-outs, budget overruns and malformed results") }
    static var requestDuration: MetricNameDescriptor { name("http_request_duration", "seconds", "HTTP request latency") }

    public init() {
        commitBatches = registry.makeValueHistogram(
            descriptor: Self.name("commit_batch", "events", "Decisions written per database commit (group commit)"),
            buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256])
        commitDurations = registry.makeDurationHistogram(
            descriptor: Self.name("commit", "seconds", "Time one group commit took, writing its rows and syncing"),
            buckets: Self.requestBuckets)
    }

    public func eventStored(type: EventType) {
        registry.makeCounter(descriptor: Self.events, labels: [("type", type.rawValue)]).increment()
    }

    public func decided(_ decision: Decision) {
        registry.makeCounter(descriptor: Self.decisions, labels: [("outcome", decision.outcome.rawValue), ("queue", decision.queue ?? "")])
            .increment()
        for policy in decision.policies {
            registry.makeDurationHistogram(descriptor: Self.policyEvaluation, labels: [("policy", policy.name)],
                                           buckets: Self.evaluationBuckets)
                .record(.microseconds(policy.durationMicros))
            if policy.error != nil {
                registry.makeCounter(descriptor: Self.policyErrors, labels: [("policy", policy.name)]).increment()
            }
        }
    }

    static var decisionRetries: MetricNameDescriptor {
        name("decision_retries", "total", "Events decided again because their account's context changed between the policies' read and the commit")
    }
    static var breakerOpen: MetricNameDescriptor { name("policy_breaker_open", "policies", "1 while a policy version's circuit breaker is open") }
    static var breakerOpenings: MetricNameDescriptor { name("policy_breaker_openings", "total", "Circuit breakers opened, by policy") }

    static var inboundMessages: MetricNameDescriptor {
        name("inbound_messages", "total", "Webhooks stored, by source and what became of them (processed, ignored, failed, unmatched, replayed)")
    }
    static var inboundRejections: MetricNameDescriptor {
        name("inbound_rejections", "total", "Webhooks refused before they were stored (signature, timestamp, mode), by source")
    }

    public func inbound(source: String, status: String) {
        registry.makeCounter(descriptor: Self.inboundMessages, labels: [("source", source), ("status", status)]).increment()
    }

    static var inboundMappings: MetricNameDescriptor {
        name("inbound_mapping_runs", "total", "Runs of mapped sources' scripts, by source and result (ok, failed: an error or a limit)")
    }

    public func inboundMapped(source: String, failed: Bool) {
        registry.makeCounter(descriptor: Self.inboundMappings, labels: [("source", source), ("result", failed ? "failed" : "ok")]).increment()
    }

    public func inboundRejected(source: String) {
        registry.makeCounter(descriptor: Self.inboundRejections, labels: [("source", source)]).increment()
    }

    public func decisionRetried() {
        registry.makeCounter(descriptor: Self.decisionRetries).increment()
    }

    public func breakerOpened(policy: String) {
        registry.makeCounter(descriptor: Self.breakerOpenings, labels: [("policy", policy)]).increment()
    }

    /// Sets the breaker gauges when scraped: 1 for each open breaker, 0 for one seen open before.
    public func breakers(open: [(policy: String, version: String)]) {
        let current = Set(open.map { "\($0.policy)\u{0}\($0.version)" })
        let vanished = knownBreakers.withLock { known in
            defer { known = current }
            return known.subtracting(current)
        }
        for key in current.union(vanished) {
            let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false).map(String.init)
            registry.makeGauge(descriptor: Self.breakerOpen, labels: [("policy", parts[0]), ("version", parts[1])])
                .set(current.contains(key) ? 1.0 : 0.0)
        }
    }

    public func committed(batch: Int, duration: Duration) {
        commitBatches.record(Double(batch))
        commitDurations.record(duration)
    }

    // MARK: Reviews

    static var queueDepth: MetricNameDescriptor { name("review_queue_depth", "items", "Review items waiting (open, claimed or escalated), by queue") }
    static var queueOldest: MetricNameDescriptor { name("review_queue_oldest_age", "seconds", "Age of the oldest waiting review item, by queue") }
    static var queueOverdue: MetricNameDescriptor { name("review_queue_overdue", "items", "Waiting review items past their SLA, by queue") }
    static var reviewDecisions: MetricNameDescriptor { name("review_decisions", "total", "Reviewer actions by outcome (approved, rejected, first_approval, claimed, released, reassigned) and queue") }
    static var timeToDecision: MetricNameDescriptor { name("review_time_to_decision", "seconds", "Time from submission to a reviewer's final outcome, by queue and outcome") }
    static var escalations: MetricNameDescriptor { name("review_escalations", "total", "Items escalated past their SLA, by the queue they were in") }
    static let reviewBuckets: [Duration] = [.seconds(60), .seconds(300), .seconds(900), .seconds(3600), .seconds(4 * 3600),
                                            .seconds(8 * 3600), .seconds(24 * 3600), .seconds(72 * 3600), .seconds(7 * 24 * 3600)]

    /// Sets the queue gauges from a fresh summary (called when /metrics is scraped). Queues seen
    /// before and now empty drop to zero rather than keep their last value.
    public func queues(_ summaries: [QueueSummary], now: Date) {
        for summary in summaries {
            let labels = [("queue", summary.name)]
            registry.makeGauge(descriptor: Self.queueDepth, labels: labels).set(Double(summary.waiting))
            registry.makeGauge(descriptor: Self.queueOverdue, labels: labels).set(Double(summary.overdue))
            registry.makeGauge(descriptor: Self.queueOldest, labels: labels)
                .set(summary.oldestCreatedAt.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        }
        let current = Set(summaries.map(\.name))
        let vanished = knownQueues.withLock { known in
            let gone = known.subtracting(current)
            known = current
            return gone
        }
        for name in vanished {
            for descriptor in [Self.queueDepth, Self.queueOverdue, Self.queueOldest] {
                registry.makeGauge(descriptor: descriptor, labels: [("queue", name)]).set(0.0)
            }
        }
    }

    public func reviewed(_ done: ReviewDone, action: String) {
        let outcome = action == "approved" && !done.state.isDecided ? "first_approval" : action
        registry.makeCounter(descriptor: Self.reviewDecisions, labels: [("outcome", outcome), ("queue", done.queue)]).increment()
        if let seconds = done.secondsToDecision {
            registry.makeDurationHistogram(descriptor: Self.timeToDecision, labels: [("queue", done.queue), ("outcome", done.state.rawValue)],
                                           buckets: Self.reviewBuckets).record(.milliseconds(Int64(seconds * 1000)))
        }
    }

    static var sweeps: MetricNameDescriptor { name("review_sweeps", "total", "Rounds of the review sweep (claim expiry and escalation) completed") }

    public func swept(_ result: SweepResult) {
        registry.makeCounter(descriptor: Self.sweeps).increment()
        for (queue, count) in result.escalated {
            registry.makeCounter(descriptor: Self.escalations, labels: [("queue", queue)]).increment(by: Int64(count))
        }
    }

    // MARK: Shadow mode

    static var shadowEvaluations: MetricNameDescriptor { name("shadow_evaluations", "total", "Live events a shadow policy version evaluated") }
    static var shadowDifferences: MetricNameDescriptor {
        name("shadow_differences", "total", "Live decisions a shadow version would have made differently, by transition (same outcome: queue or actions differ)")
    }

    static var shadowDropped: MetricNameDescriptor {
        name("shadow_dropped", "total", "Shadow evaluations dropped: the queue was full (the oldest goes), or the service was stopping")
    }

    public func shadowDropped() {
        registry.makeCounter(descriptor: Self.shadowDropped).increment()
    }

    public func shadowEvaluated(policy: String, difference: DecisionDifference) {
        registry.makeCounter(descriptor: Self.shadowEvaluations, labels: [("policy", policy)]).increment()
        if difference.changed {
            registry.makeCounter(descriptor: Self.shadowDifferences, labels: [("policy", policy), ("transition", difference.transition)])
                .increment()
        }
    }

    // MARK: ERP delivery

    static var outboxActions: MetricNameDescriptor { name("outbox", "actions", "Outbox actions by status") }
    static var outboxOldest: MetricNameDescriptor { name("outbox_oldest_pending_age", "seconds", "Age of the oldest pending outbox action") }
    static var deliveryAttempts: MetricNameDescriptor { name("delivery_attempts", "total", "ERP delivery attempts by result (delivered, retry, dead)") }
    static var deliveryLatency: MetricNameDescriptor { name("delivery_latency", "seconds", "Time from an action's commit to the ERP confirming it") }

    static var countsAge: MetricNameDescriptor {
        name("gauge_counts_age", "seconds", "Age of the counts behind the queue and outbox gauges (taken in the background)")
    }

    public func counted(at: Date, now: Date) {
        registry.makeGauge(descriptor: Self.countsAge).set(max(0, now.timeIntervalSince(at)))
    }

    public func outbox(_ byStatus: [String: Int], oldestPending: Date?, now: Date) {
        for (status, count) in byStatus {
            registry.makeGauge(descriptor: Self.outboxActions, labels: [("status", status)]).set(Double(count))
        }
        registry.makeGauge(descriptor: Self.outboxOldest).set(oldestPending.map { max(0, now.timeIntervalSince($0)) } ?? 0)
    }

    public func attempted(_ action: PendingAction, _ attempt: DeliveryAttempt, _ recorded: RecordedAttempt) {
        let result = recorded.status == "delivered" ? "delivered" : recorded.status == "dead" ? "dead" : "retry"
        registry.makeCounter(descriptor: Self.deliveryAttempts, labels: [("result", result)]).increment()
        if recorded.status == "delivered" {
            registry.makeDurationHistogram(descriptor: Self.deliveryLatency, labels: [], buckets: Self.requestBuckets + [.seconds(60), .seconds(600)])
                .record(.milliseconds(Int64(max(0, Date().timeIntervalSince(action.createdAt)) * 1000)))
        }
    }

    public func request(method: String, route: String, status: Int, duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.requestDuration,
                                       labels: [("method", method), ("route", route), ("status", String(status))],
                                       buckets: Self.requestBuckets).record(duration)
    }
}

