import L2metCore

/// What `l2met sign` and `l2met verify` do, as functions the commands only print: the output line on
/// success, or exactly one error line (never containing a key) on failure.
public enum DrainTokenTool {
    /// A refusal: `description` is the one line for stderr.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// `l2met sign`: the Fernet token of `USER:TOKEN` (or of a destination URL) made with the first
    /// key of `secrets`; with `baseURL` the whole drain URL `scheme://TOKEN@host/logs`.
    public static func sign(secrets: String?, libratoUser: String?, libratoToken: String?,
                            destination: String?, baseURL: String?, now: Int64) -> Result<String, Failure> {
        func fail(_ why: String) -> Result<String, Failure> { .failure(Failure("l2met sign: \(why)")) }
        let plaintext: String
        switch (libratoUser, libratoToken, destination) {
        case (nil, nil, nil):
            return fail("give --librato-user and --librato-token, or --destination")
        case (_, _, .some) where libratoUser != nil || libratoToken != nil:
            return fail("give either --librato-user with --librato-token, or --destination, not both")
        case (_, _, let url?):
            plaintext = url
        case (let user?, let token?, nil):
            guard !user.isEmpty, !token.isEmpty else { return fail("the Librato user and token may not be empty") }
            guard !user.contains(":") else { return fail("the Librato user may not contain ':'") }
            plaintext = "\(user):\(token)"
        case (nil, _, nil):
            return fail("--librato-token needs --librato-user")
        case (_, nil, nil):
            return fail("--librato-user needs --librato-token")
        }
        do {
            _ = try Destination(plaintext: plaintext)
        } catch {
            return fail("\(error)")
        }
        var url: String?
        if let baseURL {
            guard let u = drainURL(baseURL: baseURL, token: "") else {
                return fail("--base-url must look like https://host[:port]")
            }
            url = u
        }
        let keyring: Keyring
        switch makeKeyring(secrets) {
        case .success(let k): keyring = k
        case .failure(let why): return fail(why.description)
        }
        let token = keyring.encrypt(plaintext, now: now)
        if let baseURL { url = drainURL(baseURL: baseURL, token: token) }
        return .success(url ?? token)
    }

    /// `l2met verify`: the plaintext of `token` (a bare token, or a drain URL `https://TOKEN@host/…`),
    /// decrypted with any key of `secrets`. `now` is the `--now` text (RFC 3339 or epoch seconds), else
    /// `clock` is used.
    public static func verify(secrets: String?, token: String, ttl: Int64?, now: String?, clock: Int64) -> Result<String, Failure> {
        func fail(_ why: String) -> Result<String, Failure> { .failure(Failure("l2met verify: \(why)")) }
        var at = clock
        if let now {
            guard let t = TimeArgument.epochSeconds(from: now) else {
                return fail("--now must be RFC 3339 (1985-10-26T01:20:00-07:00, 2026-01-02T03:04:05Z) or epoch seconds")
            }
            at = t
        }
        if let ttl, ttl < 0 { return fail("--ttl must be 0 or more seconds") }
        let keyring: Keyring
        switch makeKeyring(secrets) {
        case .success(let k): keyring = k
        case .failure(let why): return fail(why.description)
        }
        do {
            return .success(try keyring.decrypt(tokenOf(token), ttl: ttl, now: at))
        } catch {
            return fail("\(error)")
        }
    }

    /// `scheme://TOKEN@host[:port]/logs` from a base URL `http(s)://host[:port][/…]` (any user info,
    /// path, query or fragment of the base URL is dropped). Nil when it is not an http(s) URL with a host.
    public static func drainURL(baseURL: String, token: String) -> String? {
        let trimmed = baseURL.trimmingWhitespace()
        guard let sep = trimmed.firstRange(of: "://") else { return nil }
        let scheme = trimmed[..<sep.lowerBound].lowercased()
        guard scheme == "https" || scheme == "http" else { return nil }
        let rest = trimmed[sep.upperBound...]
        var authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        guard !authority.isEmpty, !authority.hasPrefix(":"),
              !authority.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) else { return nil }
        return "\(scheme)://\(token)@\(authority)/logs"
    }

    /// The token in a drain URL's user info, or the text itself.
    static func tokenOf(_ text: String) -> String {
        let t = text.trimmingWhitespace()
        guard let sep = t.firstRange(of: "://") else { return t }
        let rest = t[sep.upperBound...]
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        guard let at = authority.lastIndex(of: "@") else { return t }
        let userinfo = authority[..<at]
        return String(userinfo.prefix(while: { $0 != ":" }))
    }

    private static func makeKeyring(_ secrets: String?) -> Result<Keyring, FernetError> {
        guard let secrets, !secrets.trimmingWhitespace().isEmpty else { return .failure(.noKey) }
        do {
            return .success(try Keyring(secrets: secrets))
        } catch let error as FernetError {
            return .failure(error)
        } catch {
            return .failure(.malformedKey)
        }
    }
}
