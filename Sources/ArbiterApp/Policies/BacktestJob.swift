import ArbiterCore

/// A backtest as stored: what was asked, by whom, its status, and — once done — its report
/// (the document `BacktestReport.json` wrote, kept as stored), with its progress while it runs.
public struct BacktestJob: Sendable {
    public enum Status: String, Sendable {
        case running, done, failed, interrupted
    }

    public struct Progress: Sendable {
        public var evaluated: Int64
        public var total: Int64
        public var percent: Int64 { total > 0 ? min(100, evaluated * 100 / total) : 100 }
    }

    public var id: String
    public var name: String
    public var version: String
    public var from: String
    public var to: String
    public var limit: Int64?
    public var requestedBy: String
    public var requestedAt: String
    public var status: Status
    /// Events in the range (at most the limit).
    public var total: Int64
    public var finishedAt: String?
    public var error: String?
    public var report: JSONValue?
    /// Filled in by ``BacktestJobs`` from the running job, or from the report.
    public var progress = Progress(evaluated: 0, total: 0)

    public init(id: String, name: String, version: String, from: String, to: String, limit: Int64?, requestedBy: String,
                requestedAt: String, status: Status, total: Int64, finishedAt: String?, error: String?, report: JSONValue?) {
        self.id = id
        self.name = name
        self.version = version
        self.from = from
        self.to = to
        self.limit = limit
        self.requestedBy = requestedBy
        self.requestedAt = requestedAt
        self.status = status
        self.total = total
        self.finishedAt = finishedAt
        self.error = error
        self.report = report
        self.progress = Progress(evaluated: 0, total: total)
    }
}
