import XCTest

final class L2metOutletTestsPlaceholder: XCTestCase {}
