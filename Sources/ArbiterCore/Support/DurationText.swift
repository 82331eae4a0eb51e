/// Durations as people write them in flags and requests: `90s`, `15m`, `24h`, `7d`.
public enum DurationText {
    /// The seconds `text` says, or nil when it is not a whole number followed by s, m, h or d.
    public static func seconds(_ text: String) -> Int? {
        guard let unit = text.last, let count = Int(text.dropLast()), count > 0 else { return nil }
        switch unit {
        case "s": return count
        case "m": return count * 60
        case "h": return count * 3600
        case "d": return count * 86400
        default: return nil
        }
    }
}
