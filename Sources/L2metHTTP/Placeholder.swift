// L2metHTTP: filled in by its issue.
enum L2metHTTPPlaceholder {}
