//! The request log's writer: lines are appended to a buffer in memory, and a thread writes the
//! buffer to stderr with one system call, [`FLUSH_EVERY`] after the first line of the batch
//! arrived (sooner when it holds [`FLUSH_BYTES`]). Idle, the thread sleeps.
//!
//! Writing each line to stderr cost a system call per request; handing each line to a writer
//! thread over a channel (tracing-appender) cost a wake-up of that thread per request instead,
//! because the thread finished each line before the next one arrived and went back to sleep.
//! Here a request only takes an uncontended lock and copies its line; the thread wakes a
//! hundred times a second at most, whatever the load. Lines reach stderr at most
//! [`FLUSH_EVERY`] late, in order, and nothing is dropped: when the writer thread cannot keep
//! up, the buffer grows until the next write. Dropping the [`FlushGuard`] writes what is left.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::Duration;

/// The longest a line waits in memory.
pub const FLUSH_EVERY: Duration = Duration::from_millis(10);
/// A buffer this large is written at once.
const FLUSH_BYTES: usize = 64 * 1024;

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves at worst a partial line in the buffer.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A `MakeWriter` for `tracing_subscriber::fmt` that buffers lines for the writer thread.
#[derive(Clone)]
pub struct BufferedWriter {
    shared: Arc<Shared>,
}

/// The writer the request log appends its lines to directly (see [`request_line`]): set by
/// `serve` when it logs through a [`BufferedWriter`] without colours.
static PLAIN: OnceLock<BufferedWriter> = OnceLock::new();

impl BufferedWriter {
    /// Let the request log write its lines straight into this writer.
    pub fn serve_request_lines(&self) {
        let _ = PLAIN.set(self.clone());
    }

    fn append(&self, bytes: &[u8]) {
        let _ = LineWriter { shared: &self.shared }.write(bytes);
    }
}

/// One request log line, formatted as `tracing_subscriber::fmt` formats the `request` event
/// of `portcullis::serve` (timestamp, level, target, message, fields), appended straight to
/// the buffer. Through tracing, formatting the line (the event's dispatch, a visitor per field,
/// the timestamp) was 5 % of an introspection. `false` when there is no such writer (colours,
/// or no writer thread): then the caller logs through tracing.
pub fn request_line(method: &str, path: &str, status: u16, micros: u128, client_id: &str) -> bool {
    let Some(w) = PLAIN.get() else { return false };
    thread_local! {
        static LINE: std::cell::RefCell<(u64, Vec<u8>)> = const { std::cell::RefCell::new((u64::MAX, Vec::new())) };
    }
    // The log's own wall clock, as tracing's timestamps (the protocol's clock is Clock).
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    LINE.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (second, line) = &mut *cell;
        // The line starts with the date and time to the second, kept while the second lasts.
        if *second != now.as_secs() {
            *second = now.as_secs();
            line.clear();
            let _ = write!(line, "{}", CivilTime::from_unix(now.as_secs()));
        }
        line.truncate(19);
        let _ = writeln!(
            line,
            ".{:06}Z  INFO portcullis::serve: request method={method} path={path} status={status} latency_ms={}.{:03} client_id={client_id}",
            now.subsec_micros(),
            micros / 1000,
            micros % 1000,
        );
        w.append(line);
    });
    true
}

/// A UTC date and time to the second (`YYYY-MM-DDTHH:MM:SS`).
struct CivilTime {
    year: i64,
    month: u32,
    day: u32,
    secs_of_day: u64,
}

impl CivilTime {
    /// Days since 1970-01-01 to a Gregorian date: H. Hinnant's `civil_from_days`
    /// (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>).
    fn from_unix(secs: u64) -> Self {
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
        let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day, secs_of_day: secs % 86_400 }
    }
}

impl std::fmt::Display for CivilTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.secs_of_day;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// Stops the writer thread and writes what is left when dropped.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Start the writer thread writing to `out`.
pub fn start<W: Write + Send + 'static>(mut out: W) -> std::io::Result<(BufferedWriter, FlushGuard)> {
    let shared = Arc::new(Shared::default());
    let for_thread = Arc::clone(&shared);
    let thread = std::thread::Builder::new().name("portcullis-log".into()).spawn(move || {
        let mut spare = Vec::new();
        loop {
            let stop = {
                let mut s = for_thread.lock();
                // Asleep while there is nothing to write (the first line wakes it)…
                while s.buf.is_empty() && !s.stop {
                    s = for_thread.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
                }
                // …then it lets lines gather for a while (a full buffer cuts it short).
                if !s.stop && s.buf.len() < FLUSH_BYTES {
                    s = for_thread
                        .wake
                        .wait_timeout(s, FLUSH_EVERY)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                std::mem::swap(&mut s.buf, &mut spare);
                s.stop
            };
            if !spare.is_empty() {
                // Nowhere to report a failed write to stderr; the lines are dropped.
                let _ = out.write_all(&spare).and_then(|()| out.flush());
                spare.clear();
            }
            if stop {
                return;
            }
        }
    })?;
    Ok((BufferedWriter { shared: Arc::clone(&shared) }, FlushGuard { shared, thread: Some(thread) }))
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line (the fmt layer writes each event with a single `write_all`).
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let wake = {
            let mut s = self.shared.lock();
            let was_empty = s.buf.is_empty();
            let before = s.buf.len();
            s.buf.extend_from_slice(bytes);
            was_empty || (before < FLUSH_BYTES && s.buf.len() >= FLUSH_BYTES)
        };
        if wake {
            self.shared.wake.notify_one();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter { shared: &self.shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::fmt::MakeWriter;

    /// A sink the test can read while the writer thread holds it.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
        }
    }

    #[test]
    fn civil_time_matches_known_dates() {
        let at = |secs| CivilTime::from_unix(secs).to_string();
        assert_eq!(at(0), "1970-01-01T00:00:00");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00");
        assert_eq!(at(1_796_603_927), "2026-12-07T00:38:47");
        assert_eq!(at(4_107_542_399), "2100-02-28T23:59:59");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00");
    }

    #[test]
    fn lines_arrive_in_order_soon_and_all_of_them_at_the_end() -> std::io::Result<()> {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone())?;
        writer.make_writer().write_all(b"first\n")?;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !sink.text().contains("first") && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(sink.text(), "first\n", "written within the flush interval");
        for i in 0..10_000 {
            writer.make_writer().write_all(format!("line {i}\n").as_bytes())?;
        }
        drop(guard);
        let text = sink.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 10_001);
        assert!(lines.iter().skip(1).enumerate().all(|(i, l)| *l == format!("line {i}")));
        Ok(())
    }
}
