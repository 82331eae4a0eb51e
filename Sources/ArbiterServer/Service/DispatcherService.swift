import ArbiterApp
import ArbiterCore
import ArbiterERP
import ArbiterPolicy
import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle

/// Runs the dispatcher until graceful shutdown; deliveries in flight finish and are recorded.
struct DispatcherService: Service {
    let dispatcher: Dispatcher
    let httpClient: HTTPClient?

    func run() async throws {
        await withGracefulShutdownHandler {
            await dispatcher.run()
        } onGracefulShutdown: {
            dispatcher.stop()
        }
        try? await httpClient?.shutdown()
    }
}
