//! `prequel discord register`: puts the `/interview` command definitions (generated from the
//! same command list as the grammar) to Discord, in one guild or globally.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::config;
use crate::discord::api::DiscordApi;
use crate::discord::commands;

/// Arguments of `prequel discord`.
#[derive(Debug, Args)]
pub struct DiscordArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DiscordCommand,
}

/// The `prequel discord` subcommands.
#[derive(Debug, Subcommand)]
pub enum DiscordCommand {
    /// Register the `/interview` command with Discord
    ///
    /// Reads PREQUEL_DISCORD_BOT_TOKEN, PREQUEL_DISCORD_APPLICATION_ID and
    /// PREQUEL_DISCORD_API_URL (and the rest of the Discord settings) like `prequel serve`.
    /// Registers in the guild given by --guild or PREQUEL_DISCORD_GUILD_ID (shown at once),
    /// else globally (Discord may take up to an hour to show global commands).
    Register(RegisterArgs),
}

/// Arguments of `prequel discord register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The guild (server) id to register in; overrides PREQUEL_DISCORD_GUILD_ID.
    #[arg(long, value_name = "ID")]
    pub guild: Option<String>,
    /// The config file, as for `prequel serve`.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

/// Runs `prequel discord …`.
pub fn run(args: DiscordArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        DiscordCommand::Register(args) => register(args),
    }
}

fn register(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let flags = config::Flags {
        config: args.config,
        ..config::Flags::default()
    };
    let config = match config::resolve(
        &flags,
        &|name| std::env::var(name).ok(),
        config::system_zone(),
    ) {
        Ok(config) => config,
        Err(error) => return super::refuse(&error.to_string()),
    };
    let config::DiscordSetup::On(discord, _) = config.discord else {
        return super::refuse(
            "Discord is not configured: set PREQUEL_DISCORD_PUBLIC_KEY, \
             PREQUEL_DISCORD_BOT_TOKEN and PREQUEL_DISCORD_APPLICATION_ID",
        );
    };
    let Ok(application_id) = discord.application_id.parse::<u64>() else {
        return super::refuse("PREQUEL_DISCORD_APPLICATION_ID is not a numeric application id");
    };
    let guild = match args.guild.or(discord.guild_id.clone()) {
        Some(text) => match text.trim().parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return super::refuse(&format!("`{text}` is not a numeric guild id")),
        },
        None => None,
    };
    let api = DiscordApi::new(discord.bot_token.clone(), application_id, discord.api_url)
        .context("cannot set up the Discord client")?;
    let payload = commands::registration();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    if let Err(error) = runtime.block_on(api.put_commands(guild, &payload)) {
        return super::fail(&format!("could not register the commands: {error}"));
    }
    let names: Vec<&str> = payload[0]["options"]
        .as_array()
        .map(|subs| subs.iter().filter_map(|sub| sub["name"].as_str()).collect())
        .unwrap_or_default();
    let place = guild.map_or_else(
        || "globally (may take up to an hour to appear)".to_owned(),
        |guild| format!("in guild {guild}"),
    );
    writeln!(
        std::io::stdout().lock(),
        "registered /{} {place} with subcommands: {}",
        commands::COMMAND_NAME,
        names.join(", ")
    )?;
    Ok(ExitCode::SUCCESS)
}
