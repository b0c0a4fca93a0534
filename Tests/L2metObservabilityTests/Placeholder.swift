import XCTest

final class L2metObservabilityTestsPlaceholder: XCTestCase {}
