//! A clock tests move by hand, so nothing ever sleeps.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use portcullis_core::{Clock, UnixTime};

/// A [`Clock`] that reads a shared value. Clones share the same time, so a test keeps one
/// handle and gives another to the server.
#[derive(Debug, Clone)]
pub struct FixedClock(Arc<AtomicI64>);

impl FixedClock {
    /// A clock standing at `start`.
    pub fn new(start: UnixTime) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }

    /// Jump to `t`.
    pub fn set(&self, t: UnixTime) {
        self.0.store(t, Ordering::SeqCst);
    }

    /// Move forward (or back, with a negative value) by `secs` seconds.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Default for FixedClock {
    /// 2023-11-14T22:13:20Z.
    fn default() -> Self {
        Self::new(1_700_000_000)
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_time() {
        let c = FixedClock::new(10);
        let d = c.clone();
        c.advance(5);
        assert_eq!(d.now(), 15);
        d.set(3);
        assert_eq!(c.now(), 3);
    }
}
