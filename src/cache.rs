//! The signed-URL cache: one entry per (storage, method, key), valid until its time window ends.
//!
//! Expiry is aligned to windows (`signed_at = now - now % window`), so the same object gets the
//! same URL within a window on every replica and the cache needs no sharing between them.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

/// A cached URL.
#[derive(Debug, Clone)]
struct Entry {
    url: Box<str>,
    expires_at: i64,
    /// When the window ends and the next request signs afresh.
    renew_at: i64,
}

/// What a lookup returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedUrl {
    pub url: String,
    pub expires_at: i64,
}

/// Bounded, concurrent map of signed URLs.
#[derive(Debug)]
pub struct UrlCache {
    map: DashMap<Box<str>, Entry>,
    max_entries: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

impl UrlCache {
    pub fn new(max_entries: usize) -> Self {
        UrlCache {
            map: DashMap::new(),
            max_entries: max_entries.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cache key of an object: storage index, method and key, separated by NUL (which
    /// can't appear in the first two).
    pub fn key(storage: usize, method: &str, object_key: &str) -> String {
        format!("{storage}\0{method}\0{object_key}")
    }

    /// The URL for `key` if its window is still open at `now`; otherwise `sign()` makes a new one,
    /// which is stored until `renew_at`.
    pub fn get_or_sign(&self, key: String, now: i64, sign: impl FnOnce() -> (String, i64, i64)) -> CachedUrl {
        if let Some(e) = self.map.get(key.as_str())
            && now < e.renew_at
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return CachedUrl {
                url: e.url.to_string(),
                expires_at: e.expires_at,
            };
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let (url, expires_at, renew_at) = sign();
        if self.map.len() >= self.max_entries {
            self.make_room(now);
        }
        self.map.insert(
            key.into_boxed_str(),
            Entry {
                url: url.clone().into_boxed_str(),
                expires_at,
                renew_at,
            },
        );
        CachedUrl { url, expires_at }
    }

    /// Drops entries whose window has ended. Returns how many were removed.
    pub fn sweep(&self, now: i64) -> usize {
        let before = self.map.len();
        self.map.retain(|_, e| now < e.renew_at);
        before.saturating_sub(self.map.len())
    }

    /// Frees space when full: first what has expired, then (all entries live) an arbitrary tenth,
    /// so an insert never grows the map past its bound and the cost is paid once per many inserts.
    fn make_room(&self, now: i64) {
        if self.sweep(now) > 0 && self.map.len() < self.max_entries {
            return;
        }
        let target = self.max_entries - self.max_entries / 10 - 1;
        let excess = self.map.len().saturating_sub(target);
        let victims: Vec<Box<str>> = self.map.iter().take(excess).map(|e| e.key().clone()).collect();
        for k in victims {
            self.map.remove(&k);
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.map.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_within_the_window_and_re_signs_after() {
        let c = UrlCache::new(10);
        let mut n = 0;
        let mut sign = |now: i64| {
            let k = UrlCache::key(0, "GET", "a");
            c.get_or_sign(k, now, || {
                n += 1;
                (format!("u{n}"), now + 100, now + 25)
            })
        };
        assert_eq!(sign(0).url, "u1");
        assert_eq!(sign(24).url, "u1");
        assert_eq!(sign(25).url, "u2");
        assert_eq!(
            c.stats(),
            CacheStats {
                hits: 1,
                misses: 2,
                entries: 1
            }
        );
    }

    #[test]
    fn stays_bounded() {
        let c = UrlCache::new(100);
        for i in 0..1000 {
            c.get_or_sign(UrlCache::key(0, "GET", &i.to_string()), 0, || ("u".into(), 100, 50));
            assert!(c.stats().entries <= 100);
        }
        let live = c.stats().entries;
        assert!(live > 0);
        assert_eq!(c.sweep(49), 0);
        assert_eq!(c.sweep(50), live);
        assert_eq!(c.stats().entries, 0);
    }
}
