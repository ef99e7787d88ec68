//! Time. A request reads the clock once (`now`) and passes that value down; nothing else in the
//! workspace calls the wall clock (clippy `disallowed-methods` enforces it outside this file).

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// A source of the current time, injectable so tests never sleep.
pub trait Clock: Send + Sync + 'static {
    /// The current time in seconds since the Unix epoch.
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> UnixTime {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// Milliseconds since the Unix epoch, for one purpose only: the leading part of store keys
/// (token hashes, family ids) so that new rows land at the end of their B-tree indexes
/// instead of on a random page (see `model::secret`). Never used to decide validity: that is
/// [`Clock::now`]'s job.
#[allow(clippy::disallowed_methods)]
pub(crate) fn ordering_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
