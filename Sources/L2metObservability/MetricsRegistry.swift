import Foundation
import Synchronization

/// The server's own counters and gauges, rendered in the Prometheus text format for `GET /metrics`.
///
/// Series are created on first use and live for the life of the process; each is an atomic value
/// cheap enough to bump per request or per batch (never per log line: callers add batch totals).
public final class MetricsRegistry: Sendable {
    /// One metric family: a name, a help line and a type.
    private struct Family {
        var help: String
        var type: String
        var series: [String: Series]  // rendered labels -> series
    }

    private let families = Mutex<[String: Family]>([:])

    public init() {}

    /// A counter series; `labels` in the order given.
    public func counter(_ name: String, _ help: String, labels: [(String, String)] = []) -> Counter {
        Counter(series(name, help, "counter", labels))
    }

    /// A gauge series; `labels` in the order given.
    public func gauge(_ name: String, _ help: String, labels: [(String, String)] = []) -> Gauge {
        Gauge(series(name, help, "gauge", labels))
    }

    /// Counters of one family told apart by one label whose values come up at run time (an HTTP
    /// status): each value's series is made once, then found by the raw value alone.
    public func counters(_ name: String, _ help: String, label: String) -> LabelledCounters {
        LabelledCounters(registry: self, name: name, help: help, label: label)
    }

    private func series(_ name: String, _ help: String, _ type: String, _ labels: [(String, String)]) -> Series {
        let rendered = labels.isEmpty ? "" :
            "{" + labels.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        return families.withLock { families in
            if families[name] == nil { families[name] = Family(help: help, type: type, series: [:]) }
            if let s = families[name]!.series[rendered] { return s }
            let s = Series()
            families[name]!.series[rendered] = s
            return s
        }
    }

    /// The Prometheus text exposition (version 0.0.4) of every series.
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var out = ""
        for name in snapshot.keys.sorted() {
            let f = snapshot[name]!
            out += "# HELP \(name) \(Self.escapeHelp(f.help))\n# TYPE \(name) \(f.type)\n"
            for labels in f.series.keys.sorted() {
                out += "\(name)\(labels) \(Self.format(f.series[labels]!.value))\n"
            }
        }
        return out
    }

    /// HELP text escapes only backslashes and line feeds.
    private static func escapeHelp(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    /// A sample value as the text format spells it: `NaN`, `+Inf` and `-Inf` for the non-finite ones
    /// (Swift's own `nan` and `inf` are not valid there).
    static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v < 0 ? "-Inf" : "+Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}

/// Storage for one series: a Double kept as its bit pattern in an atomic word (there is no atomic
/// Double), added to by compare-and-exchange. Releasing writes and acquiring reads, as the lock it
/// replaces gave: whoever reads a count sees what its writer did before counting.
final class Series: Sendable {
    private let bits = Atomic<UInt64>(0)  // 0.0

    var value: Double { Double(bitPattern: bits.load(ordering: .acquiring)) }

    func add(_ d: Double) {
        var old = bits.load(ordering: .relaxed)
        while true {
            let (exchanged, original) = bits.weakCompareExchange(expected: old, desired: (Double(bitPattern: old) + d).bitPattern,
                                                                 successOrdering: .acquiringAndReleasing, failureOrdering: .relaxed)
            if exchanged { return }
            old = original
        }
    }

    func set(_ v: Double) { bits.store(v.bitPattern, ordering: .releasing) }
}

/// A monotonically increasing count.
public struct Counter: Sendable {
    let series: Series
    init(_ series: Series) { self.series = series }
    public func increment(by n: Int = 1) { if n != 0 { series.add(Double(n)) } }
    public func add(_ d: Double) { series.add(d) }
    public var value: Double { series.value }
}

/// A value that goes up and down.
public struct Gauge: Sendable {
    let series: Series
    init(_ series: Series) { self.series = series }
    public func set(_ v: Double) { series.set(v) }
    public func set(_ v: Int) { series.set(Double(v)) }
    public func add(_ d: Double) { series.add(d) }
    public var value: Double { series.value }
}

/// A counter family keyed by one label's value; see `MetricsRegistry.counters(_:_:label:)`.
public final class LabelledCounters: Sendable {
    private let registry: MetricsRegistry
    private let name: String
    private let help: String
    private let label: String
    private let byValue = Mutex<[String: Counter]>([:])

    init(registry: MetricsRegistry, name: String, help: String, label: String) {
        self.registry = registry
        self.name = name
        self.help = help
        self.label = label
    }

    /// The counter for `value`.
    public subscript(_ value: String) -> Counter {
        byValue.withLock { byValue in
            if let c = byValue[value] { return c }
            let c = registry.counter(name, help, labels: [(label, value)])
            byValue[value] = c
            return c
        }
    }
}
