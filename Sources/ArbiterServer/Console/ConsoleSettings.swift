import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// How the console's cookies and sessions are kept.
public struct ConsoleSettings: Sendable {
    public var secureCookies: Bool
    public var sessions: ConsoleSessionLimits

    public init(secureCookies: Bool = false, sessions: ConsoleSessionLimits = ConsoleSessionLimits()) {
        self.secureCookies = secureCookies
        self.sessions = sessions
    }
}
