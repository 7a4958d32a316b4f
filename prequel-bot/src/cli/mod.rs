//! The command line: one clap `Subcommand` variant per subcommand, each in its own module with
//! its `Args` struct and a `run` function.
//!
//! To add a subcommand (`serve`, `interview`): add a module here, a variant to [`CliCommand`]
//! with the module's `Args`, and a match arm in [`run`]. Exit codes: 0 success, 2 the input was
//! refused (bad words, bad flags — clap uses 2 too), 1 anything else.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod parse;

/// Prequel: coding interviews on demand from chat.
///
/// Interviewers type `/interview schedule tomorrow 2pm 90m python` in Slack or Discord; Prequel
/// provisions an isolated VS Code instance with the challenge's files at the right moment, sends
/// the interviewer the URL and password, and archives and removes it when the time is up.
#[derive(Debug, Parser)]
#[command(name = "prequel", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: CliCommand,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Show how words would be understood, without doing anything
    ///
    /// Reads the words as `/interview` would and prints one JSON object on stdout (exit 0), or
    /// `error: <what is wrong; a hint>` on stderr (exit 2). Nothing is scheduled or changed.
    Parse(parse::ParseArgs),
    // `Serve(serve::ServeArgs)` and `Interview(interview::InterviewArgs)` go here.
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        CliCommand::Parse(args) => parse::run(args),
    }
}

/// Exit code for input that was refused.
const REFUSED: u8 = 2;

/// Tells the person what was wrong with their input, in one `error:` line, and gives the exit
/// code for it.
pub(crate) fn refuse(message: &str) -> anyhow::Result<ExitCode> {
    writeln!(std::io::stderr().lock(), "error: {message}")?;
    Ok(ExitCode::from(REFUSED))
}
