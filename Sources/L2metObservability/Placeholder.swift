// L2metObservability: filled in by its issue.
enum L2metObservabilityPlaceholder {}
