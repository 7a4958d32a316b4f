//! The command line: one clap `Subcommand` variant per subcommand, each in its own module with
//! its `Args` struct and a `run` function.
//!
//! To add a subcommand: add a module here, a variant to [`CliCommand`]
//! with the module's `Args`, and a match arm in [`run`]. Exit codes: 0 success, 2 the input was
//! refused (bad words, bad flags — clap uses 2 too), 1 anything else.

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[cfg(feature = "aws")]
mod aws;
mod challenges;
mod client;
mod discord;
mod interview;
mod parse;
mod serve;
mod token;

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

    /// Run the scheduler, the JSON API and the chat frontends
    ///
    /// By default SQLite, local code-server instances, challenges from a folder and secrets in
    /// files, all under one data dir; with PREQUEL_BACKEND=aws, DynamoDB, ECS Fargate, S3 and
    /// SSM. Prints `prequel serving on http://…` when ready; stops gracefully on
    /// Ctrl-C or SIGTERM.
    Serve(Box<serve::ServeArgs>),

    /// Send the words to a running `prequel serve`, as `/interview` does in chat
    ///
    /// `now` waits until the instance is ready and prints its URL and password (stages go to
    /// stderr). Exit 0 on success, 2 when the server refused the words (its one-line reason is on
    /// stderr as `error: …`), 1 when the server could not be reached or failed.
    Interview(interview::InterviewArgs),

    /// Make, list and revoke personal API tokens (admins; `prequel token create --user NAME`)
    ///
    /// A personal token lets its holder use `prequel interview --token-file FILE` as themselves:
    /// their own interviews and the ones they were named on. The token is printed once, on
    /// stdout; the server keeps only its hash. Needs the admin token.
    Token(token::TokenArgs),

    /// Set up the Discord application (`prequel discord register`)
    Discord(discord::DiscordArgs),

    /// Manage the challenges of the AWS backend (`prequel challenges sync`)
    Challenges(challenges::ChallengesArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        CliCommand::Parse(args) => parse::run(args),
        CliCommand::Serve(args) => serve::run(*args),
        CliCommand::Interview(args) => interview::run(args),
        CliCommand::Token(args) => token::run(args),
        CliCommand::Discord(args) => discord::run(args),
        CliCommand::Challenges(args) => challenges::run(args),
    }
}

/// Exit code for input that was refused.
const REFUSED: u8 = 2;

/// Tells the person what went wrong that was not their input (no server, a server error), in
/// one `error:` line, and gives exit code 1.
pub(crate) fn fail(message: &str) -> anyhow::Result<ExitCode> {
    writeln!(std::io::stderr().lock(), "error: {message}")?;
    Ok(ExitCode::FAILURE)
}

/// Tells the person what was wrong with their input, in one `error:` line, and gives the exit
/// code for it.
pub(crate) fn refuse(message: &str) -> anyhow::Result<ExitCode> {
    writeln!(std::io::stderr().lock(), "error: {message}")?;
    Ok(ExitCode::from(REFUSED))
}
