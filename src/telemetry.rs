//! Logging: text or JSON lines on stderr, filtered by `log.level` unless `RUST_LOG` is set.
//!
//! Lines are written by a thread of their own (see [`LineWriter`]), so a request never waits on
//! a slow reader of stderr (the journal, a pipe). When its buffer is full, logging waits rather
//! than drops a line.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::{Log, LogFormat};

/// Installs the global log subscriber (once; later calls are ignored). Every line logged is
/// written out by the time the returned guard is dropped.
pub fn init(settings: &Log) -> Flush {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<EnvFilter>().ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.level));
    let (writer, guard) = LineWriter::start(std::io::stderr(), LINGER, CAPACITY);
    // Colours only for a person at a terminal, never in files or the journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}

/// How long the writer thread gathers lines after the first one arrives: under load one
/// `write` and one wake-up carry every line of the last millisecond, where a wake-up and a
/// `write` per line were about a tenth of the server's CPU on `GET /customers/self`.
const LINGER: Duration = Duration::from_millis(1);

/// Bytes of lines that may wait for the writer; past it, logging waits for room.
const CAPACITY: usize = 1 << 20;

/// A log sink whose lines a thread of its own writes out, in batches: a line is appended to a
/// buffer (a copy under a lock), and the writer thread, woken only when it sleeps, waits
/// [`LINGER`] for more before it writes them all at once. Nothing is dropped: a full buffer
/// makes loggers wait, and the [`Flush`] guard writes out what is left before it returns.
#[derive(Clone)]
pub struct LineWriter(Arc<Shared>);

/// Dropped, writes out every line logged so far and stops the writer thread.
pub struct Flush {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when lines arrive while the writer sleeps, and at the end.
    filled: Condvar,
    /// Signalled when the writer has taken the buffer's lines.
    drained: Condvar,
    capacity: usize,
}

struct Pending {
    lines: Vec<u8>,
    writer_asleep: bool,
    closed: bool,
}

impl LineWriter {
    /// Starts the writer thread for `out`, which gathers lines for `linger` and holds at most
    /// `capacity` bytes of them (any one longer line is taken whole).
    pub fn start<W: Write + Send + 'static>(
        mut out: W,
        linger: Duration,
        capacity: usize,
    ) -> (LineWriter, Flush) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                lines: Vec::with_capacity(64 * 1024),
                writer_asleep: false,
                closed: false,
            }),
            filled: Condvar::new(),
            drained: Condvar::new(),
            capacity,
        });
        let writer = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writer.write_out(&mut out, linger))
            .ok();
        if thread.is_none() {
            // No thread: the writer is closed from the start, and every line is written at once.
            shared.lock().closed = true;
        }
        (LineWriter(shared.clone()), Flush { shared, thread })
    }

    fn append(&self, line: &[u8]) {
        let mut pending = self.0.lock();
        while !pending.closed
            && !pending.lines.is_empty()
            && pending.lines.len() + line.len() > self.0.capacity
        {
            pending = self
                .0
                .drained
                .wait(pending)
                .unwrap_or_else(|e| e.into_inner());
        }
        if pending.closed {
            // After the guard: no thread to hand it to, so written here and now.
            drop(pending);
            let _ = std::io::stderr().write_all(line);
            return;
        }
        pending.lines.extend_from_slice(line);
        let wake = std::mem::replace(&mut pending.writer_asleep, false);
        drop(pending);
        if wake {
            self.0.filled.notify_one();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Nothing panics while holding the lock; recovering keeps logging alive regardless.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The writer thread: takes every pending line at once, writes them, and sleeps when none
    /// are left; at the end, writes out what is left and returns.
    fn write_out(&self, out: &mut impl Write, linger: Duration) {
        let mut spare = Vec::with_capacity(64 * 1024);
        loop {
            let mut pending = self.lock();
            while pending.lines.is_empty() {
                if pending.closed {
                    return;
                }
                pending.writer_asleep = true;
                pending = self.filled.wait(pending).unwrap_or_else(|e| e.into_inner());
            }
            pending.writer_asleep = false;
            if !pending.closed {
                // Lines that arrive meanwhile join this batch without waking anyone.
                drop(pending);
                std::thread::sleep(linger);
                pending = self.lock();
            }
            std::mem::swap(&mut pending.lines, &mut spare);
            drop(pending);
            self.drained.notify_all();
            let _ = out.write_all(&spare).and_then(|()| out.flush());
            spare.clear();
        }
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.filled.notify_one();
        self.shared.drained.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event's handle on the sink: the formatter writes each line with one `write_all`.
pub struct Line<'a>(&'a LineWriter);

impl Write for Line<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.append(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LineWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that records each `write` it receives, to see how lines were batched.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Write for Recorded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(bytes.to_vec());
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Recorded {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().concat()).unwrap()
        }
        fn writes(&self) -> usize {
            self.0.lock().unwrap().len()
        }
    }

    fn log(writer: &LineWriter, line: &str) {
        writer.make_writer().write_all(line.as_bytes()).unwrap();
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_the_guard_is_dropped() {
        let sink = Recorded::default();
        let (writer, flush) = LineWriter::start(sink.clone(), Duration::from_millis(1), 4096);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let writer = writer.clone();
                std::thread::spawn(move || {
                    for n in 0..2_000 {
                        log(&writer, &format!("thread {t} line {n}\n"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        drop(flush);
        let text = sink.text();
        assert_eq!(text.lines().count(), 8_000);
        for t in 0..4 {
            let own: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("thread {t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(own, (0..2_000).collect::<Vec<_>>(), "thread {t}'s lines");
        }
    }

    #[test]
    fn lines_that_arrive_together_share_one_write() {
        let sink = Recorded::default();
        let (writer, flush) = LineWriter::start(sink.clone(), Duration::from_millis(200), 1 << 20);
        for n in 0..100 {
            log(&writer, &format!("line {n}\n"));
        }
        drop(flush);
        assert_eq!(sink.text().lines().count(), 100);
        assert!(sink.writes() <= 2, "{} writes for 100 lines", sink.writes());
    }

    #[test]
    fn a_full_buffer_makes_the_logger_wait_and_loses_nothing() {
        // A sink that takes a while per write, and room for about three lines.
        #[derive(Clone, Default)]
        struct Slow(Recorded);
        impl Write for Slow {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                std::thread::sleep(Duration::from_millis(2));
                self.0.write(bytes)
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let sink = Slow::default();
        let (writer, flush) = LineWriter::start(sink.clone(), Duration::from_millis(1), 40);
        for n in 0..200 {
            log(&writer, &format!("line {n:08}\n"));
        }
        drop(flush);
        let text = sink.0.text();
        let numbers: Vec<usize> = text
            .lines()
            .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
            .collect();
        assert_eq!(numbers, (0..200).collect::<Vec<_>>());
        // Each write carried at most what fits, so the loggers did wait for room.
        assert!(sink.0.0.lock().unwrap().iter().all(|w| w.len() <= 40));
    }

    #[test]
    fn a_line_logged_after_the_guard_is_still_written() {
        let sink = Recorded::default();
        let (writer, flush) = LineWriter::start(sink.clone(), Duration::from_millis(1), 4096);
        log(&writer, "before\n");
        drop(flush);
        // Goes to stderr directly; what matters is that it neither blocks nor panics.
        log(&writer, "after\n");
        assert_eq!(sink.text(), "before\n");
    }
}
