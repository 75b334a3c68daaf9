//! The `customer-area` command: parses the command line and runs it (`cli`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    customer_area::cli::Cli::parse().run()
}
