import Foundation

enum PayloadRule {
    /// `amount_minor` (positive integer, at most Money.maximumMinorUnits) and `currency`.
    case money
    case currency
    case text(String)
    case optionalText(String)
    case choice(String, [String])
    case optionalChoice(String, [String])
    case count(String)
    case nonNegativeMinor(String)
}
