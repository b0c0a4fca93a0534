// swift-tools-version:6.0
// l2met: a log-drain metrics server. See README.md for the map of targets.
import PackageDescription

let package = Package(
    name: "l2met",
    products: [
        .executable(name: "l2met", targets: ["l2met"]),
        .executable(name: "l2met-bench", targets: ["l2met-bench"]),
        .library(name: "L2metCore", targets: ["L2metCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C libraries from Debian packages, through pkg-config (Linux only: the HTTP server uses epoll).
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Non-variadic wrappers around curl_easy_setopt / curl_easy_getinfo.
        .target(name: "CCurlShim", linkerSettings: [.linkedLibrary("curl")]),

        // Counters for /metrics and the logfmt log handler.
        .target(name: "L2metObservability",
                dependencies: [.product(name: "Logging", package: "swift-log")], swiftSettings: swift6),
        // Pure core: bytes in, buckets and payloads out. No I/O.
        // Release builds skip the dynamic exclusivity checks on its hot path (bounds and overflow checks stay).
        .target(name: "L2metCore", swiftSettings: swift6 + [
            .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
        ]),
        // Fernet on OpenSSL, keyrings, drain credentials.
        .target(name: "L2metCrypto", dependencies: ["L2metCore", "COpenSSL"], swiftSettings: swift6),
        // HTTP/1.1 server on POSIX sockets (with gzip via zlib).
        .target(name: "L2metHTTP", dependencies: ["CZlib"], swiftSettings: swift6),
        // Stores: in-memory and Redis (hiredis).
        .target(name: "L2metStore", dependencies: ["L2metCore", "CHiredis", "COpenSSL"], swiftSettings: swift6),
        // Outlets: claimer and senders, fair per-destination queue and breakers; Librato, OTLP (gzip via zlib)
        // and local sinks over libcurl.
        .target(name: "L2metOutlet",
                dependencies: ["L2metCore", "L2metStore", "L2metObservability", "CCurlShim", "CZlib",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: swift6),
        // The server: endpoints, receiver, flusher, metrics, wiring.
        .target(name: "L2metServer",
                dependencies: ["L2metCore", "L2metCrypto", "L2metHTTP", "L2metStore", "L2metOutlet", "L2metObservability",
                               .product(name: "Logging", package: "swift-log")],
                swiftSettings: swift6),
        .executableTarget(name: "l2met",
                          dependencies: ["L2metServer", "L2metCore", "L2metCrypto", "L2metObservability",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser"),
                                         .product(name: "Logging", package: "swift-log")],
                          swiftSettings: swift6),
        .executableTarget(name: "l2met-bench",
                          dependencies: ["L2metCore", "L2metCrypto", "L2metStore", "L2metOutlet", "L2metHTTP", "L2metObservability",
                                         .product(name: "Logging", package: "swift-log")],
                          swiftSettings: swift6),

        // Helpers several test targets share: a fake Librato on a real HTTP server, free ports and loopback
        // sockets, a redis-server of a test's own, a Redis proxy that drops a reply.
        .target(name: "L2metTestSupport", dependencies: ["L2metHTTP"], path: "Tests/L2metTestSupport", swiftSettings: swift6),
        .testTarget(name: "L2metObservabilityTests",
                    dependencies: ["L2metObservability", .product(name: "Logging", package: "swift-log")], swiftSettings: swift6),
        .testTarget(name: "L2metCoreTests", dependencies: ["L2metCore"], swiftSettings: swift6),
        .testTarget(name: "L2metCryptoTests", dependencies: ["L2metCrypto", "L2metCore"], swiftSettings: swift6),
        .testTarget(name: "L2metHTTPTests", dependencies: ["L2metHTTP", "CZlib"], swiftSettings: swift6),
        .testTarget(name: "L2metStoreTests", dependencies: ["L2metStore", "L2metCore", "L2metTestSupport"], swiftSettings: swift6),
        .testTarget(name: "L2metOutletTests",
                    dependencies: ["L2metOutlet", "L2metCore", "L2metStore", "L2metHTTP", "L2metObservability", "L2metTestSupport",
                                   .product(name: "Logging", package: "swift-log")],
                    swiftSettings: swift6),
        .testTarget(name: "L2metServerTests",
                    dependencies: ["L2metServer", "L2metHTTP", "L2metCrypto", "L2metStore", "L2metCore", "L2metObservability",
                                   "L2metTestSupport", .product(name: "Logging", package: "swift-log")],
                    swiftSettings: swift6),
    ]
)

/// Every target in the Swift 6 language mode: the compiler checks data-race safety.
var swift6: [SwiftSetting] { [.swiftLanguageMode(.v6)] }
