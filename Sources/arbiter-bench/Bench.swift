import ArbiterCore
import ArbiterPolicy
import Dispatch
import Foundation

/// `arbiter-bench engine [--policy FILE] [--seconds N]` (see ``EngineBench``) and
/// `arbiter-bench http --server URL --admin-key KEY [--seconds N] [--connections N] [--accounts N]`
/// (see ``HTTPBench``).
@main
struct Bench {
    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        let command = arguments.isEmpty ? "" : arguments.removeFirst()
        var options: [String: String] = [:]
        while arguments.count >= 2, arguments[0].hasPrefix("--") {
            options[String(arguments[0].dropFirst(2))] = arguments[1]
            arguments.removeFirst(2)
        }
        switch command {
        case "engine":
            if let iterations = options["iterations"].flatMap(Int.init) {
                try EngineBench.count(policyPath: options["policy"] ?? "Policies/credit_thresholds.lua", iterations: iterations)
            } else {
                try EngineBench.run(policyPath: options["policy"] ?? "Policies/credit_thresholds.lua",
                                    seconds: Double(options["seconds"] ?? "") ?? 3)
            }
        case "scrape":
            try await ScrapeBench(outbox: Int(options["outbox"] ?? "") ?? 1_000_000, reviews: Int(options["reviews"] ?? "") ?? 100_000,
                                  port: Int(options["port"] ?? "") ?? 18182).run()
        case "limits":
            try LimitsBench.run(timeLimitMillis: Int64(options["time-limit-ms"] ?? "") ?? 50)
        case "ceiling":
            let ceiling = try Ceiling.measure(seconds: Double(options["seconds"] ?? "") ?? 5)
            print(String(format: "ceiling events_per_s=%d (%d events)", Int(ceiling.perSecond), ceiling.events))
        case "http":
            guard let server = options["server"], let adminKey = options["admin-key"] else { usage() }
            try await HTTPBench(servers: server.split(separator: ",").map(String.init), adminKey: adminKey,
                                seconds: Double(options["seconds"] ?? "") ?? 10, connections: Int(options["connections"] ?? "") ?? 64,
                                accounts: Int(options["accounts"] ?? "") ?? 10_000, label: options["label"]).run()
        case "inbound":
            guard let server = options["server"], let adminKey = options["admin-key"], let secret = options["stripe-secret"] else { usage() }
            try await HTTPBench(servers: server.split(separator: ",").map(String.init), adminKey: adminKey,
                                seconds: Double(options["seconds"] ?? "") ?? 10, connections: Int(options["connections"] ?? "") ?? 64,
                                accounts: Int(options["accounts"] ?? "") ?? 10_000, label: nil, stripeSecret: secret).run()
        case "erp":
            try await ERPBench(actions: Int(options["actions"] ?? "") ?? 20_000, accounts: Int(options["accounts"] ?? "") ?? 1_000,
                               concurrency: Int(options["concurrency"] ?? "") ?? 64, backlog: options["mode"] == "backlog").run()
        case "export":
            try await ExportBench(rows: Int(options["rows"] ?? "") ?? 1_000_000).run()
        case "reconcile":
            try ReconcileBench(actions: Int(options["actions"] ?? "") ?? 1_000_000).run()
        case "backtest":
            try await BacktestBench(events: Int(options["events"] ?? "") ?? 200_000, keep: options["keep"]).run()
        default:
            usage()
        }
    }

    static func usage() -> Never {
        FileHandle.standardError.write(Data("""
            usage: arbiter-bench engine [--policy FILE] [--seconds N | --iterations N]
                   arbiter-bench http --server URL[,URL…] --admin-key KEY [--seconds N] [--connections N] [--accounts N] [--label TEXT]
                   arbiter-bench inbound --server URL --admin-key KEY --stripe-secret SECRET [--seconds N] [--connections N] [--accounts N]
                   arbiter-bench erp [--actions N] [--accounts N] [--concurrency N]
                   arbiter-bench backtest [--events N]
                   arbiter-bench limits [--time-limit-ms N]
                   arbiter-bench scrape [--outbox N] [--reviews N] [--port N]
                   arbiter-bench export [--rows N]
                   arbiter-bench reconcile [--actions N]

            """.utf8))
        exit(2)
    }
}
