/// Something done every so often in the background (``BackgroundWork``): the review sweep, an
/// audit checkpoint, the operational counts. Its body handles and logs its own errors: one
/// failed round never stops the next.
public struct Chore: Sendable {
    public let name: String
    public let interval: Duration
    let body: @Sendable () async -> Void

    public init(_ name: String, every interval: Duration, _ body: @escaping @Sendable () async -> Void) {
        self.name = name
        self.interval = interval
        self.body = body
    }

    /// Runs the body now and then every `interval` until cancelled.
    func repeatUntilCancelled() async {
        while !Task.isCancelled {
            await body()
            try? await Task.sleep(for: interval)
        }
    }
}
