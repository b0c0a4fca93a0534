import ArgumentParser

/// Where a `serve` setting comes from: its flag when given, else its environment variable
/// (`L2MET_` and the flag's name in capitals with underscores, or a conventional name such as
/// `PORT`), else the configuration's default, left untouched.
///
/// Invariant: a variable that is set but cannot be read as the flag's type is an error naming the
/// variable, never silently the default. An empty variable counts as unset.
struct SettingSource {
    let environment: [String: String]

    /// The variable a flag is read from when it is not given.
    static func variable(for flag: String) -> String {
        "L2MET_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The flag's value, else its variable's, else nil.
    func value<T: LosslessStringConvertible>(_ flag: T?, _ name: String, variable: String? = nil) throws -> T? {
        if let flag { return flag }
        let variable = variable ?? Self.variable(for: name)
        guard let raw = environment[variable], !raw.isEmpty else { return nil }
        guard let value = T(raw) else {
            throw ValidationError("\(variable)=\(raw) is not a valid value for --\(name)")
        }
        return value
    }

    /// Sets `field` from the flag or its variable when either is given.
    func set<T: LosslessStringConvertible>(_ field: inout T, _ flag: T?, _ name: String, variable: String? = nil) throws {
        if let v = try value(flag, name, variable: variable) { field = v }
    }

    func set<T: LosslessStringConvertible>(_ field: inout T?, _ flag: T?, _ name: String, variable: String? = nil) throws {
        if let v = try value(flag, name, variable: variable) { field = v }
    }

    /// A switch: given on the command line, or its variable set to true/1/yes.
    func flag(_ given: Bool, _ name: String) throws -> Bool {
        if given { return true }
        let variable = Self.variable(for: name)
        guard let raw = environment[variable]?.lowercased(), !raw.isEmpty else { return false }
        switch raw {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw ValidationError("\(variable)=\(raw) is not true or false")
        }
    }
}
