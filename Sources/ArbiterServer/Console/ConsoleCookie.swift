import ArbiterApp
import ArbiterCore
import Foundation
import HTTPTypes
import Hummingbird
import Mustache

/// The console's cookie names.
public enum ConsoleCookie {
    /// The session: a random token, HttpOnly, SameSite=Strict, path /console.
    public static let session = "arbiter_session"
    /// The sign-in form's CSRF token (double submit), for ten minutes.
    public static let signIn = "arbiter_signin"
}
