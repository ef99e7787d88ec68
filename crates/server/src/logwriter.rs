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
use std::sync::{Arc, Condvar, Mutex, PoisonError};
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
