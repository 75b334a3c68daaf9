use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    customer_area::cli::Cli::parse().run()
}
