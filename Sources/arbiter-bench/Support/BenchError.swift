import ArbiterApp
import ArbiterCore
import ArbiterPolicy
import ArbiterServer
import ArbiterSQLite
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
