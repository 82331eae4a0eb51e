import ArgumentParser

/// Prints one line to standard error and exits non-zero: the way every command reports a
/// runtime failure.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}
