/// l2met units (the letters after a number) as the OpenTelemetry / UCUM unit string of an OTLP metric.
///
/// | l2met | OTLP |
/// |---|---|
/// | `ms`, `s`, `us`, `ns` | the same |
/// | `min`, `h`, `d` | the same |
/// | `B`, `byte`, `bytes` | `By` |
/// | `KB` / `kB`, `MB`, `GB`, `TB` | `kBy`, `MBy`, `GBy`, `TBy` |
/// | `%` | `%` |
/// | none | none (the `unit` field is left out) |
/// | anything else, e.g. `req` | the annotation `{req}` |
public enum OTLPUnit {
    /// The OTLP unit for l2met `units`; "" when there are none.
    public static func ucum(_ units: String) -> String {
        switch units {
        case "": return ""
        case "ms", "s", "us", "ns", "min", "h", "d", "%": return units
        case "B", "byte", "bytes": return "By"
        case "KB", "kB": return "kBy"
        case "MB": return "MBy"
        case "GB": return "GBy"
        case "TB": return "TBy"
        default:
            // A UCUM annotation may not contain braces itself.
            var annotation = "{"
            for c in units.unicodeScalars {
                annotation.unicodeScalars.append(c == "{" || c == "}" ? "_" : c)
            }
            return annotation + "}"
        }
    }
}
