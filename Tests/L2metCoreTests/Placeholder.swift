import XCTest

final class L2metCoreTestsPlaceholder: XCTestCase {}
