//! `prequel token create --user NAME | list | revoke ID`: personal API tokens, made by an admin
//! over the JSON API, so each person uses `prequel interview` as themselves.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::client::{Client, Failure, ServerArgs, say, say_err};

/// Arguments of `prequel token`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    prequel token create --user alice > alice.token   (hand the file to alice)\n  \
    prequel token list\n  \
    prequel token revoke q3v8m2k9x1ab\n\n\
    These need the admin token (by default <data dir>/admin-token). Whoever holds a personal \
    token runs `prequel interview --token-file FILE …` as that user: their own interviews and \
    the ones they were named on, nothing else.")]
pub struct TokenArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// Print JSON on stdout instead of text
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    action: TokenAction,
}

/// What to do with tokens.
#[derive(Debug, Subcommand)]
enum TokenAction {
    /// Make a token acting as USER; prints the token (shown this once) on stdout
    Create {
        /// The login the token acts as: letters, digits, `.`, `_`, `-`, `@`
        #[arg(long, value_name = "NAME")]
        user: String,
    },
    /// List every token (never the tokens themselves): id, user, made, last used, revoked
    List,
    /// Revoke a token by its id (from `list`); from then on it opens nothing
    Revoke {
        /// The token's id: 12 lowercase letters and digits
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// Runs `prequel token`.
pub fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(token(&args)).or_else(Failure::report)
}

async fn token(args: &TokenArgs) -> Result<ExitCode, Failure> {
    let client = Client::new(&args.server)?;
    match &args.action {
        TokenAction::Create { user } => {
            let answer = client.post("/api/tokens", &json!({ "user": user })).await?;
            let token = answer["token"].as_str().unwrap_or_default();
            if args.json {
                say(&answer.to_string());
            } else {
                // The token alone on stdout, so `> FILE` keeps exactly it; the rest on stderr.
                say(token);
                say_err(&format!(
                    "made token {} for {user}; it is shown this once: hand it over privately \
                     (they use it with `prequel interview --token-file FILE`)",
                    answer["api_token"]["id"].as_str().unwrap_or("?"),
                ));
            }
        }
        TokenAction::List => {
            let answer = client.get("/api/tokens").await?;
            let tokens = answer["tokens"].as_array().cloned().unwrap_or_default();
            if args.json {
                say(&answer.to_string());
            } else if tokens.is_empty() {
                say("no API tokens yet; make one with `prequel token create --user NAME`");
            } else {
                say(&format!(
                    "{:<12}  {:<16}  {:<20}  {:<20}  {}",
                    "ID", "USER", "MADE", "LAST USED", "REVOKED"
                ));
                for token in &tokens {
                    say(&row(token));
                }
            }
        }
        TokenAction::Revoke { id } => {
            let answer = client.delete(&format!("/api/tokens/{id}")).await?;
            if args.json {
                say(&answer.to_string());
            } else {
                say(&format!(
                    "revoked token {id} of {} at {}",
                    answer["user"].as_str().unwrap_or("?"),
                    answer["revoked_at"].as_str().unwrap_or("?"),
                ));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn row(token: &Value) -> String {
    let text = |key: &str| token[key].as_str().unwrap_or("-").to_owned();
    format!(
        "{:<12}  {:<16}  {:<20}  {:<20}  {}",
        text("id"),
        text("user"),
        text("created_at"),
        text("last_used_at"),
        text("revoked_at"),
    )
}
