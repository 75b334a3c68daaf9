//! customer-area: a self-contained customer area for a retailer's web shop.
//!
//! - `http`: where requests enter (filters, handlers, error mapping, the server)
//! - `flows`: the rules: every operation on customers, shared by HTTP and the CLI
//! - `domain`: customer types that parse (email, password, country, profile fields)
//! - `store`: the SQLite database; all SQL lives there
//! - `mail`: where mail leaves (templates, outbox worker, file and SMTP transports)
//! - `auth`: password hashing, tokens, one-time codes, the reset JWT
//! - `lanes`: the threads that run blocking work (hashing, SQLite) off the async executor
//! - `web`: the built-in customer pages, which call only the public HTTP API
//! - `cli`: the admin commands; `app`: the boot path shared by `serve` and the tests

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
pub mod store;
pub mod telemetry;
pub mod throttle;
pub mod web;
