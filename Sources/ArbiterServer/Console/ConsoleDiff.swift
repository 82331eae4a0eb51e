/// A line diff of two versions' sources for the workbench: the longest common subsequence of
/// lines (sources are hundreds of lines, so the quadratic table is small), shown as a unified
/// diff with three lines of context around each change.
enum ConsoleDiff {
    struct Line {
        /// " " same, "-" only in the old, "+" only in the new; "…" lines left out.
        let mark: String
        let oldNumber: Int?
        let newNumber: Int?
        let text: String
    }

    static let limit = 3000

    /// Nil when either side is longer than ``limit`` lines.
    static func unified(old: String, new: String, context: Int = 3) -> [Line]? {
        let a = old.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let b = new.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard a.count <= limit, b.count <= limit else { return nil }
        // lengths[i][j]: the LCS of a[i...] and b[j...].
        var lengths = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                lengths[i][j] = a[i] == b[j] ? lengths[i + 1][j + 1] + 1 : max(lengths[i + 1][j], lengths[i][j + 1])
            }
        }
        var all: [Line] = []
        var (i, j) = (0, 0)
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, a[i] == b[j] {
                all.append(Line(mark: " ", oldNumber: i + 1, newNumber: j + 1, text: a[i]))
                i += 1; j += 1
            } else if i < a.count, j == b.count || lengths[i + 1][j] >= lengths[i][j + 1] {
                // A removed line before the line that takes its place, as unified diffs read.
                all.append(Line(mark: "-", oldNumber: i + 1, newNumber: nil, text: a[i]))
                i += 1
            } else {
                all.append(Line(mark: "+", oldNumber: nil, newNumber: j + 1, text: b[j]))
                j += 1
            }
        }
        // Only the changes and their context.
        let changed = all.indices.filter { all[$0].mark != " " }
        guard !changed.isEmpty else { return [] }
        var keep = Set<Int>()
        for index in changed { for k in max(0, index - context)...min(all.count - 1, index + context) { keep.insert(k) } }
        var shown: [Line] = []
        var previous: Int?
        for index in keep.sorted() {
            if let previous, index > previous + 1 { shown.append(Line(mark: "…", oldNumber: nil, newNumber: nil, text: "")) }
            shown.append(all[index])
            previous = index
        }
        return shown
    }
}
