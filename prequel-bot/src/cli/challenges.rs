//! `prequel challenges sync`: uploads the challenges folder to the challenges bucket, where the
//! AWS backend reads them (cargo feature `aws`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

/// Arguments of `prequel challenges`.
#[derive(Debug, Args)]
pub struct ChallengesArgs {
    #[command(subcommand)]
    command: ChallengesCommand,
}

#[derive(Debug, Subcommand)]
enum ChallengesCommand {
    /// Upload each challenge's manifest and starter files (never its tests or reference) to
    /// s3://{prefix}-{environment}-challenges, with checksums
    ///
    /// Unchanged challenges are skipped (same checksum), and challenges no longer in the folder
    /// are removed from the bucket. Uses the standard AWS variables (AWS_REGION, AWS_PROFILE,
    /// AWS_ENDPOINT_URL, …).
    Sync(SyncArgs),
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// The challenges folder [default: ./challenge]
    #[arg(
        long,
        value_name = "DIR",
        env = "PREQUEL_CHALLENGES",
        default_value = "challenge"
    )]
    challenges: PathBuf,

    /// The first part of every resource name
    #[arg(long, env = "PREQUEL_PREFIX", default_value = "prequel")]
    prefix: String,

    /// The second part of every resource name
    #[arg(long, env = "PREQUEL_ENVIRONMENT", default_value = "prod")]
    environment: String,
}

/// Runs `prequel challenges …`.
pub fn run(args: ChallengesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ChallengesCommand::Sync(args) => sync(args),
    }
}

#[cfg(not(feature = "aws"))]
fn sync(_: SyncArgs) -> anyhow::Result<ExitCode> {
    super::fail(
        "this prequel was built without AWS support; build it with `cargo build --release \
         --features aws`",
    )
}

#[cfg(feature = "aws")]
fn sync(args: SyncArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;

    use anyhow::Context as _;
    use prequel_core::aws::{AwsClients, ConnectOptions, ResourceNames};
    use prequel_core::challenge::DirChallenges;
    use prequel_core::challenge::s3::S3Challenges;

    let names = match ResourceNames::new(&args.prefix, &args.environment) {
        Ok(names) => names,
        Err(error) => return super::refuse(&error.to_string()),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let clients = AwsClients::connect(&ConnectOptions::default()).await;
        let bucket = names.challenges_bucket();
        let remote = S3Challenges::new(clients.s3, bucket.clone());
        let local = DirChallenges::new(&args.challenges);
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "syncing {} to s3://{bucket} …",
            args.challenges.display()
        )?;
        match remote.sync(&local).await {
            Ok(report) => {
                let mut out = std::io::stdout().lock();
                write!(out, "{report}")?;
                Ok(ExitCode::SUCCESS)
            }
            Err(error) => super::fail(&error.to_string()),
        }
    })
}
