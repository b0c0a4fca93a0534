import XCTest

final class L2metCryptoTestsPlaceholder: XCTestCase {}
