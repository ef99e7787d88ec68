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
