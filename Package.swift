// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "arbiter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "arbiter", targets: ["arbiter"]),
        .executable(name: "arbiter-bench", targets: ["arbiter-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.80.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.0"),
        // multipart/form-data (the console's policy upload): the package Hummingbird's docs point to.
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.0"),
    ],
    targets: [
        // Lua 5.4 from the system (Debian: liblua5.4-dev), with a shim for the macros Swift cannot see.
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // Every code path that can raise a Lua error (longjmp) lives here, in C.
        .target(
            name: "CLuaSandbox",
            dependencies: ["CLua"],
            exclude: ["LICENSE-Lua.txt"],
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        // Test support: a plain Lua state, to compare the sandbox's behaviour with stock Lua.
        .target(
            name: "CLuaReference",
            dependencies: ["CLua"]
        ),
        .target(
            name: "ArbiterCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ArbiterPolicy",
            dependencies: [
                "ArbiterCore", "CLuaSandbox",
                // NIOThreadPool: the threads evaluations run on in the service (PolicyWorkers).
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The use cases: what the service does, over storage protocols (no HTTP, no SQL).
        .target(
            name: "ArbiterApp",
            dependencies: [
                "ArbiterCore", "ArbiterPolicy",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // Storage on one SQLite file: the only module that speaks SQL or imports GRDB.
        .target(
            name: "ArbiterSQLite",
            dependencies: [
                "ArbiterCore", "ArbiterApp", "ArbiterPolicy",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API, for the one loop that steps a statement itself (backtests).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // The PostgreSQL backend: several instances on one database.
        .target(
            name: "ArbiterPostgres",
            dependencies: [
                "ArbiterCore", "ArbiterPolicy", "ArbiterApp",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The ERP connectors: how an approved action reaches the ERP (HTTP, spool files).
        .target(
            name: "ArbiterERP",
            dependencies: [
                "ArbiterCore", "ArbiterApp",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ArbiterServer",
            dependencies: [
                "ArbiterCore", "ArbiterPolicy", "ArbiterApp", "ArbiterSQLite", "ArbiterPostgres", "ArbiterERP",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "MultipartKit", package: "multipart-kit"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["EmbedResources"]
        ),
        // Resources/ (openapi.yaml, the console's .mustache templates) compiled into the binary.
        .plugin(name: "EmbedResources", capability: .buildTool(), dependencies: ["embed-resources"]),
        .executableTarget(name: "embed-resources", swiftSettings: swiftSettings),
        .executableTarget(
            name: "arbiter",
            dependencies: [
                "ArbiterCore", "ArbiterPolicy", "ArbiterApp", "ArbiterSQLite", "ArbiterPostgres", "ArbiterServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "arbiter-bench",
            dependencies: [
                "ArbiterCore", "ArbiterApp", "ArbiterPolicy", "ArbiterSQLite", "ArbiterServer", "ArbiterERP",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArbiterCoreTests",
            dependencies: ["ArbiterCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArbiterPolicyTests",
            dependencies: ["ArbiterCore", "ArbiterPolicy", "CLuaReference"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArbiterAppTests",
            dependencies: ["ArbiterCore", "ArbiterApp", .product(name: "Prometheus", package: "swift-prometheus")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArbiterPostgresTests",
            dependencies: ["ArbiterCore", "ArbiterApp", "ArbiterPostgres", .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArbiterSQLiteTests",
            dependencies: ["ArbiterCore", "ArbiterApp", "ArbiterSQLite", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArbiterServerTests",
            dependencies: [
                "ArbiterCore", "ArbiterPolicy", "ArbiterApp", "ArbiterSQLite", "ArbiterPostgres", "ArbiterERP", "ArbiterServer", "arbiter",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
