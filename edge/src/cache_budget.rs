//! Byte budgets for the edge's in-process caches of upstream content (the read cache, the
//! river's fallback pages, sanitized descriptions).
//!
//! Counting entries alone does not bound memory: one user's feed list or one description can
//! be a thousand times the size of another, and their size is set by publishers. So each of
//! those caches is a `quick_cache` weighed in approximate bytes, with a [`Budget`] of bytes and
//! of entries: an entry weighs its size, but never less than an equal share of the bytes per
//! entry allowed, so the total stays within the bytes *and* the count within the entries.
//! (`quick_cache` splits the budget across its shards; an entry larger than a shard's share
//! is not kept at all, which is the right answer for an outlier.)

use quick_cache::Weighter;
use quick_cache::sync::Cache;

/// What a cache may hold: at most `bytes` (approximately) in at most `entries` entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    pub entries: usize,
}

impl Budget {
    /// The weight of an entry of `bytes`: its size, at least its share of the budget, at least 1.
    pub fn weight(&self, bytes: usize) -> u64 {
        let share = self.bytes / self.entries.max(1) as u64;
        u64::try_from(bytes).unwrap_or(u64::MAX).max(share).max(1)
    }

    /// An empty cache within this budget, its entries weighed by `weighter`.
    pub fn cache<K, V, W>(&self, weighter: W) -> Cache<K, V, W>
    where
        K: Eq + std::hash::Hash,
        V: Clone,
        W: Weighter<K, V> + Clone,
    {
        Cache::with_weighter(self.entries.max(1), self.bytes.max(1), weighter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Len;

    impl Weighter<u32, String> for Len {
        fn weight(&self, _: &u32, value: &String) -> u64 {
            BUDGET.weight(value.len())
        }
    }

    const BUDGET: Budget = Budget {
        bytes: 1024 * 1024,
        entries: 1000,
    };

    #[test]
    fn large_entries_keep_the_total_within_the_bytes() {
        let cache = BUDGET.cache(Len);
        for n in 0..200 {
            cache.insert(n, "x".repeat(64 * 1024));
        }
        let held: usize = (0..200)
            .filter_map(|n| cache.peek(&n))
            .map(|value| value.len())
            .sum();
        assert!(held as u64 <= BUDGET.bytes, "{held} bytes held");
        assert!(cache.weight() <= BUDGET.bytes);
        assert!(!cache.is_empty(), "large entries are still cached");
    }

    #[test]
    fn small_entries_keep_the_count_within_the_entries() {
        let cache = BUDGET.cache(Len);
        for n in 0..10_000 {
            cache.insert(n, "x".to_owned());
        }
        assert!(cache.len() <= BUDGET.entries, "{} entries", cache.len());
    }
}
