import Crypto

/// Finds where a JSON value ends without building it: strings (escapes included), objects and
/// arrays (by depth, strings inside them skipped whole) and bare literals.
enum JSONSkip {
    /// The index just after the value that starts at `start`, or nil if the bytes end first.
    static func value(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let n = bytes.count
        guard start < n else { return nil }
        var i = start
        switch bytes[i] {
        case UInt8(ascii: "\""):
            return string(bytes, from: i)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            while i < n {
                switch bytes[i] {
                case UInt8(ascii: "\""):
                    guard let end = string(bytes, from: i) else { return nil }
                    i = end
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default:
                    break
                }
                i += 1
            }
            return nil
        default:
            while i < n, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: "}"), bytes[i] != UInt8(ascii: "]") { i += 1 }
            return i == start ? nil : i
        }
    }

    /// The index just after the string whose opening quote is at `start`.
    private static func string(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var i = start + 1
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "\\"): i += 2
            case UInt8(ascii: "\""): return i + 1
            default: i += 1
            }
        }
        return nil
    }
}
