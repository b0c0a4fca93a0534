// L2metServer: filled in by its issue.
enum L2metServerPlaceholder {}
