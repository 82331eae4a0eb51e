import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The signed-in reviewer and the CSRF token of their session.
struct ConsoleUser {
    let key: ApiKey
    let csrf: String
}
