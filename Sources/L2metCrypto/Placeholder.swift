// L2metCrypto: filled in by its issue.
enum L2metCryptoPlaceholder {}
