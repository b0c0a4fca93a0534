/// Told about every request the server answered (including the 4xx it produced itself), on the worker thread.
public protocol HTTPServerObserver: AnyObject, Sendable {
    /// `requestBytes` counts the body bytes as they came on the wire (chunk framing and compression included).
    /// `method` and `path` are empty when the request line could not be read.
    func requestCompleted(method: String, path: String, status: Int, requestBytes: Int)
}
