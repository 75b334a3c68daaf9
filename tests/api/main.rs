//! The black-box tests: one test binary (`cargo test --test api`), one module per area.
//!
//! Every module boots the real app (or the built binary) through `common`, so the harness is
//! compiled and linked once for the whole suite.
//!
//! To add an area: create `tests/api/AREA.rs` with `use crate::common::{...};` at the top and
//! `#[tokio::test]` functions named as sentences, then add `mod AREA;` below (keep the list
//! sorted). Run only that area with `cargo test --test api AREA::`. A test that changes
//! process-global state (environment variables, signal handlers, the working directory) would
//! leak into every other test of this binary: give it a binary of its own in `tests/` instead,
//! with a comment saying why.
//!
//! The harness in `common` gives one way to do each thing: boot the app (`spawn_app`,
//! `spawn_app_with`), run the built binary (`binary::Binary`), wait for a condition
//! (`eventually`, never a fixed sleep), and check that an email was *not* sent (`queued`, read
//! from the outbox table, never by waiting for it not to arrive). Time-based rules are tested
//! by moving the throttles' clock (`throttles.clock().advance(..)`), not by sleeping.
//!
//! Statistical timing tests are `#[ignore = "statistical: ..."]`: a loaded machine must not
//! fail the main run, so `.ci/run` runs them in a step of their own
//! (`cargo test --test api -- --ignored --skip exhaustion::`). The long memory test under
//! hostile traffic (`exhaustion`) is ignored too and has a step of its own.

mod common;

mod acknowledged;
mod activation;
mod admin_api;
mod audit;
mod backup_under_writes;
mod bounces;
mod browser;
mod cli;
mod cli_admin;
mod consents;
mod cors;
mod counters;
mod customer_totp;
mod delivery;
mod dkim;
mod durability;
mod email_change;
mod email_undo;
mod enumeration;
mod errors;
mod exhaustion;
mod export;
mod fuzz;
mod hostile;
mod imported_hashes;
mod instances;
mod journey;
mod journeys;
mod languages;
mod lockout;
mod login_code;
mod mail_cli;
mod moving_in;
mod openapi;
mod operations;
mod operator;
mod outbox_hygiene;
mod overview;
mod passkeys;
mod password_reset;
mod preferences;
mod profile;
mod races;
mod readme;
mod roles;
mod second_factor;
mod security;
mod signup;
mod slow_clients;
mod smtp_refusals;
mod staff;
mod staff_passkeys;
mod subscriptions;
mod support;
mod takeover;
mod throttling;
mod unsubscribe;
mod unwritable;
mod web;
mod webhooks;
