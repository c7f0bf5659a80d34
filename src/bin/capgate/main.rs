//! The `capgate` command: argument parsing, file I/O and rendering over the
//! library. Exit codes: 0 ok (warnings allowed), 1 manifest rejected or
//! verify mismatch, 2 usage or I/O error.

mod args;
mod audit;
mod commands;
mod diff;
mod exec;
mod import;
mod report;
mod review;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() == 2 && (argv[1] == "--version" || argv[1] == "-V") {
        println!("{VERSION_STR}");
        return ExitCode::SUCCESS;
    }
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ => 2,
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    ExitCode::from(commands::run(cli))
}

/// `--version` prints exactly the library version.
pub const VERSION_STR: &str = capgate::VERSION;
