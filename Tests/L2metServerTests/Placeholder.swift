import XCTest

final class L2metServerTestsPlaceholder: XCTestCase {}
