//! Which partition a key belongs to: a stable hash, the same in every
//! process and every version of this crate (the partition of a key is
//! stored with its rows, and two relays must agree on it).

/// The partition of `key` among `partitions` (FNV-1a 64 of the key's UTF-8
/// bytes, modulo the count).
pub fn partition_of(key: &str, partitions: u32) -> u32 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in key.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    (hash % u64::from(partitions.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fixed_across_versions() {
        // Changing these values moves keys between partitions and breaks
        // ordering for rows already enqueued: never change them.
        assert_eq!(partition_of("", 64), (0xcbf2_9ce4_8422_2325u64 % 64) as u32);
        assert_eq!(partition_of("order-1", 64), partition_of("order-1", 64));
        let spread: std::collections::HashSet<u32> = (0..1000)
            .map(|i| partition_of(&format!("k{i}"), 16))
            .collect();
        assert_eq!(spread.len(), 16, "1000 keys cover 16 partitions");
    }
}
