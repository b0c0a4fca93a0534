import XCTest

final class L2metStoreTestsPlaceholder: XCTestCase {}
