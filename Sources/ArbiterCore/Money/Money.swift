/// An amount of money: integer minor units (cents for USD) and a currency. Never floating point.
public struct Money: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The largest amount Arbiter accepts (10^15 - 1 minor units), so sums of many amounts
    /// cannot overflow 64 bits.
    public static let maximumMinorUnits: Int64 = 999_999_999_999_999

    public let amountMinor: Int64
    public let currency: Currency

    public init(amountMinor: Int64, currency: Currency) {
        self.amountMinor = amountMinor
        self.currency = currency
    }

    /// "25.00 USD", "100 JPY".
    public var description: String {
        Money.format(amountMinor, exponent: currency.exponent) + " " + currency.code
    }

    /// Formats minor units in the major unit with `exponent` decimals: 2500, 2 → "25.00".
    public static func format(_ minor: Int64, exponent: Int) -> String {
        let sign = minor < 0 ? "-" : ""
        let magnitude = minor.magnitude
        guard exponent > 0 else { return sign + String(magnitude) }
        var divisor: UInt64 = 1
        for _ in 0..<exponent { divisor *= 10 }
        let fraction = String(magnitude % divisor)
        return sign + String(magnitude / divisor) + "." + String(repeating: "0", count: exponent - fraction.count) + fraction
    }
}
