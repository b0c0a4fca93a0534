import L2metCore

/// Maps a bucket to its partition of the due index: FNV-1a (32-bit) of the UTF-8 bytes of
/// `BucketKey.storeKey`, modulo the number of partitions.
///
/// The hash is fixed (not Swift's per-process seeded `Hasher`), so every receiver and outlet sharing
/// one Redis puts a bucket in the same partition.
public enum StorePartitioning {
    /// FNV-1a, 32 bits, of `bytes`.
    @inlinable
    public static func fnv1a<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
        var hash: UInt32 = 2_166_136_261
        for byte in bytes {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return hash
    }

    /// The partition (0..<partitions) of the bucket whose store key is `storeKey`.
    @inlinable
    public static func partition(ofStoreKey storeKey: String, partitions: Int) -> Int {
        guard partitions > 1 else { return 0 }
        return Int(fnv1a(storeKey.utf8) % UInt32(partitions))
    }

    /// The partition (0..<partitions) of `key`.
    @inlinable
    public static func partition(of key: BucketKey, partitions: Int) -> Int {
        partition(ofStoreKey: key.storeKey, partitions: partitions)
    }
}
