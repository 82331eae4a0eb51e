import Logging

/// The pool's background logger, less one warning: postgres-nio warns when a connection is
/// leased before `PostgresClient.run()` has been entered, and the lease then simply waits for
/// it. ``PostgresBackend`` starts `run()` before it leases, but on a busy machine the first
/// lease can still win that race by a few instructions, and a command's output (`arbiter audit
/// verify --database`) then began with a warning about nothing. Every other message passes.
struct EarlyLeaseFilter: LogHandler {
    var wrapped: any LogHandler

    static func logger(_ logger: Logger) -> Logger {
        var filtered = logger
        filtered.handler = EarlyLeaseFilter(wrapped: logger.handler)
        return filtered
    }

    func log(event: LogEvent) {
        if event.message.description.hasPrefix("Trying to lease connection from `PostgresClient`, but `PostgresClient.run()`") { return }
        wrapped.log(event: event)
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { wrapped[metadataKey: key] }
        set { wrapped[metadataKey: key] = newValue }
    }

    var metadata: Logger.Metadata {
        get { wrapped.metadata }
        set { wrapped.metadata = newValue }
    }

    var logLevel: Logger.Level {
        get { wrapped.logLevel }
        set { wrapped.logLevel = newValue }
    }
}
