import Foundation

/// Charts drawn on the server as inline SVG: no script, nothing fetched, the page's strict
/// content-security policy unchanged. Every chart carries a title and a text summary for
/// screen readers, and the pages show its numbers in a table beside it.
enum ConsoleChart {
    struct Series {
        let name: String
        let color: String
    }

    /// Stacked bars, one per column (`label`, a value per series), with a y axis of round steps
    /// and a legend. `id` names the chart for tests and links.
    static func stackedBars(id: String, title: String, columns: [(label: String, values: [String: Int])], series: [Series],
                            width: Int = 1000, height: Int = 220) -> String {
        let left = 40, bottom = 36, top = 24, right = 8
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let totals = columns.map { column in series.reduce(0) { $0 + (column.values[$1.name] ?? 0) } }
        let maximum = max(1, totals.max() ?? 1)
        let step = niceStep(maximum)
        let ceiling = ((maximum + step - 1) / step) * step
        let slot = Double(plotWidth) / Double(max(1, columns.count))
        let barWidth = max(2, slot * 0.7)
        var svg = """
            <svg id="\(escape(id))" viewBox="0 0 \(width) \(height)" width="100%" role="img" aria-labelledby="\(escape(id))-title" \
            xmlns="http://www.w3.org/2000/svg"><title id="\(escape(id))-title">\(escape(title)): \(totals.reduce(0, +)) in all, \
            at most \(maximum) in one column</title>
            """
        // Grid lines and the y axis' labels.
        var value = 0
        while value <= ceiling {
            let y = Double(top) + Double(plotHeight) * (1 - Double(value) / Double(ceiling))
            svg += "<line x1=\"\(left)\" x2=\"\(width - right)\" y1=\"\(format(y))\" y2=\"\(format(y))\" stroke=\"#e3e7ec\"/>"
            svg += "<text x=\"\(left - 6)\" y=\"\(format(y + 4))\" text-anchor=\"end\">\(value)</text>"
            value += step
        }
        for (i, column) in columns.enumerated() {
            let x = Double(left) + slot * Double(i) + (slot - barWidth) / 2
            var y = Double(top + plotHeight)
            for item in series {
                let count = column.values[item.name] ?? 0
                guard count > 0 else { continue }
                let h = Double(plotHeight) * Double(count) / Double(ceiling)
                y -= h
                svg += "<rect x=\"\(format(x))\" y=\"\(format(y))\" width=\"\(format(barWidth))\" height=\"\(format(h))\" fill=\"\(item.color)\">"
                svg += "<title>\(escape(column.label)): \(count) \(escape(item.name))</title></rect>"
            }
            // Every other label when crowded.
            if columns.count <= 12 || i % 2 == 0 {
                svg += "<text x=\"\(format(x + barWidth / 2))\" y=\"\(height - bottom + 14)\" text-anchor=\"middle\">\(escape(column.label))</text>"
            }
        }
        var legendX = left
        for item in series {
            svg += "<rect x=\"\(legendX)\" y=\"\(height - 12)\" width=\"10\" height=\"10\" fill=\"\(item.color)\"/>"
            svg += "<text x=\"\(legendX + 14)\" y=\"\(height - 3)\">\(escape(item.name))</text>"
            legendX += 24 + item.name.count * 7
        }
        return svg + "</svg>"
    }

    /// A step of 1, 2 or 5 times a power of ten giving at most five grid lines.
    static func niceStep(_ maximum: Int) -> Int {
        var power = 1
        while true {
            for factor in [1, 2, 5] where maximum <= factor * power * 5 { return factor * power }
            power *= 10
        }
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
