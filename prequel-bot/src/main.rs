//! The `prequel` binary: `prequel serve` (the scheduler and the JSON API), `prequel interview`
//! (the command line client of a running server) and `prequel parse`.
//!
//! Thin on purpose: argument parsing and rendering live in [`cli`], everything else in
//! `prequel-core`. `anyhow` is used only here at the edge.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

mod cli;
mod config;

// The library's frontends, reachable as `crate::slack` like the binary's own modules.
use prequel_bot::{app, discord, slack};

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            // If even stderr is gone there is nobody left to tell.
            let _ = writeln!(std::io::stderr().lock(), "error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
