import ArgumentParser

/// `arbiter`: the policy and approval service and its tools.
@main
struct Arbiter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "arbiter",
        abstract: "Policy and approval service: Lua policies decide credits, refunds and account actions.",
        subcommands: [Serve.self, Policy.self, Source.self, Audit.self, Keys.self, Actions.self, Reconcile.self, Store.self]
    )
}
