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

    public init() {
        commitBatches = registry.makeValueHistogram(name: "arbiter_commit_batch_events", buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
                                                    help: "Decisions written per database commit (group commit)")
        commitDurations = registry.makeDurationHistogram(name: "arbiter_commit_seconds", buckets: Self.requestBuckets,
                                                         help: "Time one group commit took, writing its rows and syncing")
    }

    func eventStored(type: EventType) {
        registry.makeCounter(name: "arbiter_events_total", labels: [("type", type.rawValue)],
                             help: "Events stored, by type").increment()
    }

    func decided(_ decision: Decision) {
        registry.makeCounter(name: "arbiter_decisions_total",
                             labels: [("outcome", decision.outcome.rawValue), ("queue", decision.queue ?? "")],
                             help: "Decisions made, by outcome and queue").increment()
        for policy in decision.policies {
            registry.makeDurationHistogram(name: "arbiter_policy_evaluation_seconds", labels: [("policy", policy.name)],
                                           buckets: Self.evaluationBuckets, help: "Time one policy took to decide one event")
                .record(.microseconds(policy.durationMicros))
            if policy.error != nil {
                registry.makeCounter(name: "arbiter_policy_errors_total", labels: [("policy", policy.name)],
                                     help: "Policy errors, time-outs, budget overruns and malformed results").increment()
            }
        }
    }

    func committed(batch: Int, duration: Duration) {
        commitBatches.record(Double(batch))
        commitDurations.record(duration)
    }

    func request(method: String, route: String, status: Int, duration: Duration) {
        registry.makeDurationHistogram(name: "arbiter_http_request_duration_seconds",
                                       labels: [("method", method), ("route", route), ("status", String(status))],
                                       buckets: Self.requestBuckets, help: "HTTP request latency").record(duration)
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
