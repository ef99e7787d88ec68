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

use crate::civil::CivilTime;

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
            let _ = write!(line, "{}", CivilTime::from_unix(i64::try_from(now.as_secs()).unwrap_or(0)));
        }
        line.truncate(19);
        finish_request_line(line, now.subsec_micros(), method, path, status, micros, client_id);
        w.append(line);
    });
    true
}

/// The rest of a request line after the date and time to the second.
fn finish_request_line(
    line: &mut Vec<u8>,
    subsec_micros: u32,
    method: &str,
    path: &str,
    status: u16,
    micros: u128,
    client_id: &str,
) {
    let _ = writeln!(
        line,
        ".{subsec_micros:06}Z  INFO portcullis::serve: request method={method} path={path} status={status} latency_ms={}.{:03} client_id={client_id}",
        micros / 1000,
        micros % 1000,
    );
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
    fn a_request_line_is_the_line_tracing_writes_for_the_request_event() -> std::io::Result<()> {
        // What serve.rs logs through tracing when there is no plain writer, to the same kind
        // of subscriber main.rs installs (fmt, no colours).
        let sink = Sink::default();
        let to = sink.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || to.clone()).finish();
        let micros: u128 = 1234;
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: "portcullis::serve",
                method = %"POST",
                path = %"/token",
                status = 200u16,
                latency_ms = format_args!("{}.{:03}", micros / 1000, micros % 1000),
                client_id = %"c-1",
                "request"
            );
        });
        let theirs = sink.text();
        let mut ours = format!("{}", CivilTime::from_unix(1_796_603_927)).into_bytes();
        finish_request_line(&mut ours, 42, "POST", "/token", 200, micros, "c-1");
        let ours = String::from_utf8_lossy(&ours).into_owned();
        // Equal after the timestamps (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, 27 characters), which
        // are taken at different times.
        assert_eq!(ours.len(), theirs.len(), "{ours:?} vs {theirs:?}");
        assert_eq!(ours[27..], theirs[27..]);
        assert_eq!(&ours[..27], "2026-12-07T00:38:47.000042Z");
        assert!(theirs.as_bytes()[..27].iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            26 => *b == b'Z',
            _ => b.is_ascii_digit(),
        }));
        Ok(())
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
