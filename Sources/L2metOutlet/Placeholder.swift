// L2metOutlet: filled in by its issue.
enum L2metOutletPlaceholder {}
