/// Facts about this build.
public enum L2metBuild {
    /// The version in `--version` and the outlet's User-Agent.
    public static let version = "0.1.0"
}
