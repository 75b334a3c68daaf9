//! Logging: text or JSON lines on stderr, filtered by `log.level` unless `RUST_LOG` is set.
//! Lines are written by a thread of their own, so a request never waits on a slow reader of
//! stderr (the journal, a pipe); when its buffer is full, logging waits rather than drops.

use std::io::IsTerminal;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{Log, LogFormat};

/// Installs the global log subscriber (once; later calls are ignored). Every line logged is
/// written out by the time the returned guard is dropped.
pub fn init(settings: &Log) -> WorkerGuard {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<EnvFilter>().ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.level));
    // Colours only for a person at a terminal, never in files or the journal.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::stderr());
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
