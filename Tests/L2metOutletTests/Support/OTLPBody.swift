import Foundation

/// Reads an OTLP/HTTP JSON body back into comparable lines, one per data point.
enum OTLPBody {
    struct Parsed {
        var serviceName: String?
        var scopeName: String?
        var scopeVersion: String?
        /// `name unit type source=… start=… time=… …` per data point, in body order.
        var points: [String]
    }

    static func parse(_ body: [UInt8]) -> Parsed? {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let rms = o["resourceMetrics"] as? [[String: Any]], rms.count == 1,
              let sms = rms[0]["scopeMetrics"] as? [[String: Any]], sms.count == 1,
              let metrics = sms[0]["metrics"] as? [[String: Any]]
        else { return nil }
        let resource = (rms[0]["resource"] as? [String: Any])?["attributes"] as? [[String: Any]] ?? []
        let scope = sms[0]["scope"] as? [String: Any]
        var points: [String] = []
        for m in metrics {
            let name = m["name"] as? String ?? "?"
            let unit = m["unit"] as? String ?? "-"
            for type in ["summary", "sum", "gauge"] {
                guard let data = m[type] as? [String: Any] else { continue }
                var header = "\(name) \(unit) \(type)"
                if type == "sum" {
                    header += " temporality=\(data["aggregationTemporality"] ?? "-") monotonic=\(data["isMonotonic"] ?? "-")"
                }
                for dp in data["dataPoints"] as? [[String: Any]] ?? [] {
                    var line = header
                    let attributes = attribute(dp["attributes"] as? [[String: Any]] ?? [])
                    line += " source=\(attributes["source"] ?? "-")"
                    if attributes.keys.contains(where: { $0 != "source" }) { line += " other-attributes" }
                    line += " start=\(dp["startTimeUnixNano"] ?? "-") time=\(dp["timeUnixNano"] ?? "-")"
                    if type == "summary" {
                        line += " count=\(dp["count"] ?? "-") sum=\(number(dp["sum"]))"
                        for q in dp["quantileValues"] as? [[String: Any]] ?? [] {
                            line += " q\(number(q["quantile"]))=\(number(q["value"]))"
                        }
                    } else {
                        line += " value=\(number(dp["asDouble"]))"
                    }
                    points.append(line)
                }
            }
        }
        return Parsed(serviceName: attribute(resource)["service.name"], scopeName: scope?["name"] as? String,
                      scopeVersion: scope?["version"] as? String, points: points)
    }

    /// String attributes as a dictionary.
    static func attribute(_ list: [[String: Any]]) -> [String: String] {
        var out: [String: String] = [:]
        for a in list {
            if let k = a["key"] as? String, let v = (a["value"] as? [String: Any])?["stringValue"] as? String { out[k] = v }
        }
        return out
    }

    /// A JSON number as text without a needless `.0` (and `-` when absent).
    static func number(_ v: Any?) -> String {
        guard let n = v as? NSNumber else { return "-" }
        let d = n.doubleValue
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
        return "\(d)"
    }
}
