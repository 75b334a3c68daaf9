//! Logging: text or JSON lines on stderr, filtered by `log.level` unless `RUST_LOG` is set.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{Log, LogFormat};

/// Installs the global log subscriber (once; later calls are ignored).
pub fn init(settings: &Log) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<EnvFilter>().ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.level));
    // Colours only for a person at a terminal, never in files or the journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
