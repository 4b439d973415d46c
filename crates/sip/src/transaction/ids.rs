//! Hash maps keyed by Tollgate's own counters (transaction ids, call ids).
//!
//! Those keys count up from one and no peer chooses them, so they need
//! none of SipHash's resistance to crafted collisions: one multiplication
//! spreads them. Keys a peer chooses (branches, Call-IDs, tags) stay on
//! the standard hasher.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by a counter Tollgate assigns.
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Hashes a `u64` counter by multiplying it with an odd constant (2^64
/// divided by the golden ratio): consecutive ids land in distinct buckets
/// and the high bits the table uses for its control bytes are mixed.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher(u64);

/// 2^64 / φ, odd.
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `u64` keys; any other key still hashes, byte by byte.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(SPREAD);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(SPREAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_ids_spread_over_buckets_and_control_bytes() {
        let hash = |n: u64| {
            let mut h = IdHasher::default();
            h.write_u64(n);
            h.finish()
        };
        // The low bits pick the bucket: 1,024 consecutive ids, 1,024 buckets.
        let buckets: std::collections::HashSet<u64> = (1..=1024).map(|n| hash(n) % 1024).collect();
        assert_eq!(buckets.len(), 1024);
        // The top seven bits are the control byte: all 128 values in use.
        let tops: std::collections::HashSet<u64> = (1..=1024).map(|n| hash(n) >> 57).collect();
        assert_eq!(tops.len(), 128);
        let mut map: IdMap<u64, u64> = IdMap::default();
        map.extend((1..=10_000).map(|n| (n, n * 2)));
        assert!((1..=10_000).all(|n| map[&n] == n * 2));
    }
}
