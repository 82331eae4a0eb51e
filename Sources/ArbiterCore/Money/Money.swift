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
        var out: [UInt8] = []
        format(minor, exponent: exponent, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// The same, appended as bytes (reports write a million of them).
    public static func format(_ minor: Int64, exponent: Int, into out: inout [UInt8]) {
        if minor < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = minor.magnitude
        var divisor: UInt64 = 1
        for _ in 0..<exponent { divisor *= 10 }
        let whole = magnitude / divisor
        if whole <= UInt64(Int64.max) { CanonicalJSON.writeInteger(Int64(whole), into: &out) } else { out.append(contentsOf: String(whole).utf8) }
        guard exponent > 0 else { return }
        out.append(UInt8(ascii: "."))
        var fraction = magnitude % divisor
        var place = divisor / 10
        while place > 0 {
            out.append(UInt8(ascii: "0") + UInt8(fraction / place))
            fraction %= place
            place /= 10
        }
    }
}
