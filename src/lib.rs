//! customer-area: a self-contained customer area for a retailer's web shop.
//!
//! - `http`: where requests enter (filters, handlers, error mapping, the server)
//! - `flows`: the rules: every operation on customers, shared by HTTP and the CLI
//! - `domain`: customer types that parse (email, password, country, profile fields)
//! - `store`: the database, a SQLite file or PostgreSQL; all SQL lives there, and one writer
//!   decides what is acknowledged as stored
//! - `mail`: where mail leaves (templates, outbox worker, file and SMTP transports)
//! - `webhooks`: where events leave for the shop (signatures, the delivery worker)
//! - `auth`: password hashing, tokens, one-time codes, the reset JWT
//! - `lanes`: the threads that run blocking work (hashing, the database) off the async executor
//! - `web`: the built-in customer pages, which call only the public HTTP API
//! - `cli`: the admin commands; `app`: the boot path shared by `serve` and the tests
//! - `config`: typed settings; `error`: the one error type; `metrics`, `telemetry`: metrics
//!   and logs; `throttle`: attempt budgets; `random`: the CSPRNG behind every secret

#![forbid(unsafe_code)]
// The route table grows one warp filter per endpoint; release builds need the deeper limit to
// prove the combined filter's future `Unpin` (debug builds stop short of it).
#![recursion_limit = "256"]

/// The version and the commit it was built from, as `--version` and the banner say it.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("BUILT_FROM_COMMIT"),
    ")"
);

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod domain;
pub mod error;
pub mod flows;
pub mod http;
pub mod lanes;
pub mod mail;
pub mod metrics;
pub mod random;
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod web;
pub mod webhooks;

#[cfg(test)]
mod tests {
    /// The layout table in docs/contributing.md is the map of the code: it must name every top-level module.
    #[test]
    fn the_layout_table_names_every_top_level_module() {
        let readme = include_str!("../docs/contributing.md");
        let layout = &readme[readme
            .find("## How the code is laid out")
            .expect("the section")..];
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        for entry in std::fs::read_dir(src).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let shown = if name.ends_with(".rs") {
                format!("`src/{name}`")
            } else {
                format!("`src/{name}/`")
            };
            assert!(
                layout.contains(&shown),
                "docs/contributing.md's layout lacks {shown}"
            );
        }
    }
}
