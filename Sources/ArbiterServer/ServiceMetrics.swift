import ArbiterCore
import Hummingbird
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

    func eventStored(type: EventType) {
        registry.makeCounter(descriptor: Self.events, labels: [("type", type.rawValue)]).increment()
    }

    func decided(_ decision: Decision) {
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

    func committed(batch: Int, duration: Duration) {
        commitBatches.record(Double(batch))
        commitDurations.record(duration)
    }

    func request(method: String, route: String, status: Int, duration: Duration) {
        registry.makeDurationHistogram(descriptor: Self.requestDuration,
                                       labels: [("method", method), ("route", route), ("status", String(status))],
                                       buckets: Self.requestBuckets).record(duration)
    }
}

/// Records every request's latency by route template (not raw path: ids would explode the labels).
struct RequestMetrics: RouterMiddleware {
    let metrics: ServiceMetrics

    func handle(_ request: Request, context: AppRequestContext, next: (Request, AppRequestContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                            status: Int(response.status.code), duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unmatched",
                            status: Int(status), duration: ContinuousClock.now - started)
            throw error
        }
    }
}
