import XCTest

final class L2metHTTPTestsPlaceholder: XCTestCase {}
