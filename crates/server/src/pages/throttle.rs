//! Login throttling: after repeated failures for one account or one address, further attempts
//! are refused for a while, without checking the password (so guessing gets no answers).
//!
//! Kept in memory per process: with several nodes each node counts on its own, which still
//! bounds guessing to `nodes × max_failures` per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Beyond this many tracked keys, expired entries are pruned (and if still full, the oldest
/// half is dropped) so memory stays bounded under a spray of usernames or addresses.
const MAX_KEYS: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    since: Instant,
}

/// Failure counters by key (`user:NAME`, `ip:ADDR`).
#[derive(Debug)]
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Throttle {
    /// At most `max_failures` failures per key within `window`; then the key is locked until
    /// the window since its first failure has passed.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self { max_failures: max_failures.max(1), window, entries: Mutex::new(HashMap::new()) }
    }

    /// Whether every key may try now.
    pub fn allowed(&self, keys: &[String], now: Instant) -> bool {
        let Ok(entries) = self.entries.lock() else { return false };
        keys.iter().all(|k| {
            entries
                .get(k)
                .is_none_or(|e| e.failures < self.max_failures || now.duration_since(e.since) >= self.window)
        })
    }

    /// Count a failure for every key.
    pub fn fail(&self, keys: &[String], now: Instant) {
        let Ok(mut entries) = self.entries.lock() else { return };
        if entries.len() >= MAX_KEYS {
            let window = self.window;
            entries.retain(|_, e| now.duration_since(e.since) < window);
            if entries.len() >= MAX_KEYS {
                let mut ages: Vec<Instant> = entries.values().map(|e| e.since).collect();
                ages.sort();
                let cutoff = ages[ages.len() / 2];
                entries.retain(|_, e| e.since > cutoff);
            }
        }
        for k in keys {
            let e = entries.entry(k.clone()).or_insert(Entry { failures: 0, since: now });
            if now.duration_since(e.since) >= self.window {
                *e = Entry { failures: 0, since: now };
            }
            e.failures += 1;
        }
    }

    /// Forget the failures of a key (after a successful login).
    pub fn reset(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_until_the_window_passes() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let k = vec!["user:alice".to_owned()];
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.allowed(&k, t0));
            t.fail(&k, t0);
        }
        assert!(!t.allowed(&k, t0 + Duration::from_secs(59)));
        assert!(t.allowed(&k, t0 + Duration::from_secs(60)));
        t.reset("user:alice");
        assert!(t.allowed(&k, t0));
    }

    #[test]
    fn any_locked_key_blocks() {
        let t = Throttle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        t.fail(&["ip:1.2.3.4".to_owned()], now);
        assert!(!t.allowed(&["user:bob".to_owned(), "ip:1.2.3.4".to_owned()], now));
        assert!(t.allowed(&["user:bob".to_owned(), "ip:5.6.7.8".to_owned()], now));
    }
}
