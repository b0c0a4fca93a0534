import L2metCore
import L2metCrypto
import L2metHTTP

/// `POST /sign`, as in l2met: Basic user is one of the `SECRETS` keys, the body is `user:token`
/// (or a destination URL); the answer is the drain token.
struct SignEndpoint: Sendable {
    let keyring: Keyring?

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" else { return Router.methodNotAllowed("POST") }
        guard let keyring else { return .text(404, "signing needs SECRETS; this server runs in local mode") }
        guard let key = BasicAuthorization.user(of: request.header("authorization")), keyring.containsKey(key) else {
            return .text(401, "unauthorized: the Basic user must be one of the server's keys")
        }
        var body = String(decoding: request.body, as: UTF8.self)
        while body.last?.isNewline == true { body.removeLast() }   // "\r\n" is one Character
        do {
            _ = try Destination(plaintext: body)
        } catch {
            return .text(400, "\(error)")
        }
        return .text(200, keyring.encrypt(body, now: WallClock.seconds()))
    }
}
