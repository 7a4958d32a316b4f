//! Turns the engine's events into Discord messages for interviews asked for in Discord: the one
//! status message per interview in the channel where it was asked (posted once, then edited in
//! place), the credentials DM to the requester when the instance is active, and the warning DM
//! ten minutes before the destroy time.
//!
//! The decisions — claim-once through notes across replicas, never moving a message back in
//! time, replaying the store's change feed after a lag — are shared with Slack's notifier in
//! [`crate::notify`]; this module is Discord's [`Outbox`] and its notes.
//!
//! Notes used (all in the store, none secret):
//! - [`CHANNEL_NOTE`] — the channel id the command came from; written by the inbound handler
//!   at command time.
//! - [`MESSAGE_ID_NOTE`] — the status message's id; [`PENDING`] while the winner posts it.
//! - [`CREDENTIALS_NOTE`] — the claim on the credentials DM.
//! - `discord.dm.warning.<destroy_at>` — the claim on the warning DM for one destroy time.

use std::sync::Arc;

use prequel_core::Prequel;
use prequel_core::domain::{Interview, Platform, SecretString};
use prequel_core::events::Event;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api::{DiscordApi, DiscordError};
use super::render::{self, Message};
use crate::notify::{self, NoteKeys, Outbox};

/// Note: the Discord channel id where the interview was asked (set by the inbound handler).
pub const CHANNEL_NOTE: &str = "discord.channel";
/// Note: the id of the interview's status message in that channel.
pub const MESSAGE_ID_NOTE: &str = "discord.message_id";
/// Note: claimed before the credentials DM goes out.
pub const CREDENTIALS_NOTE: &str = "discord.dm.credentials";
/// The value of [`MESSAGE_ID_NOTE`] while the replica that claimed it is posting the message.
pub const PENDING: &str = notify::PENDING;

/// The claim note for the warning about the interview's current destroy time.
pub fn warning_note(interview: &Interview) -> String {
    DiscordOutbox::NOTES.warning(interview)
}

/// Starts the notifier: it follows `prequel.subscribe()` until `shutdown` turns true. Start it
/// in `prequel serve` when Discord is enabled (after `Prequel::start`, which feeds the events).
pub fn spawn(
    prequel: Prequel,
    api: Arc<DiscordApi>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let notifier = Notifier::new(prequel, api);
    tokio::spawn(notify::run(notifier.inner, shutdown))
}

/// Sends what the engine's events call for to Discord. See the module docs.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: notify::Notifier<DiscordOutbox>,
}

impl Notifier {
    /// A notifier over `prequel` sending with `api`.
    pub fn new(prequel: Prequel, api: Arc<DiscordApi>) -> Self {
        Self {
            inner: notify::Notifier::new(prequel, DiscordOutbox { api }),
        }
    }

    /// Acts on one event (ignores what is not about a Discord interview).
    pub async fn handle(&self, event: &Event) {
        self.inner.handle(event).await;
    }

    /// Posts the interview's status message if no replica has, or edits it to show `interview`
    /// (or the stored interview, when that is newer). The inbound handler may call this right
    /// after writing [`CHANNEL_NOTE`] so the message appears at once; the claim makes it
    /// harmless to call from everywhere.
    pub async fn status(&self, interview: &Interview) {
        self.inner.status(interview).await;
    }
}

/// How Discord messages are sent: channel messages by id, DMs through `users/@me/channels`.
#[derive(Debug, Clone)]
struct DiscordOutbox {
    api: Arc<DiscordApi>,
}

impl DiscordOutbox {
    async fn dm(&self, user: &str, message: &Message) -> Result<(), DiscordError> {
        let channel = self.api.open_dm(user).await?;
        self.api.create_message(&channel, message).await?;
        Ok(())
    }
}

impl Outbox for DiscordOutbox {
    type Error = DiscordError;
    const PLATFORM: Platform = Platform::Discord;
    const NAME: &'static str = "discord";
    const NOTES: NoteKeys = NoteKeys {
        channel: CHANNEL_NOTE,
        message: MESSAGE_ID_NOTE,
        credentials: CREDENTIALS_NOTE,
        archive: "discord.dm.archive",
        warning_prefix: "discord.dm.warning",
    };

    async fn post_status(
        &self,
        channel: &str,
        interview: &Interview,
    ) -> Result<String, DiscordError> {
        self.api
            .create_message(channel, &render::status_message(interview))
            .await
    }

    async fn edit_status(
        &self,
        channel: &str,
        message: &str,
        interview: &Interview,
    ) -> Result<(), DiscordError> {
        self.api
            .edit_message(channel, message, &render::status_message(interview))
            .await
    }

    async fn send_credentials(
        &self,
        to: &str,
        interview: &Interview,
        password: &SecretString,
    ) -> Result<(), DiscordError> {
        self.dm(to, &render::credentials_dm(interview, password))
            .await
    }

    async fn send_warning(&self, to: &str, interview: &Interview) -> Result<(), DiscordError> {
        self.dm(to, &render::warning_dm(interview)).await
    }

    async fn send_archive_link(
        &self,
        to: &str,
        interview: &Interview,
        link: &str,
        valid_for: std::time::Duration,
    ) -> Result<(), DiscordError> {
        self.dm(to, &render::archive_dm(interview, link, valid_for))
            .await
    }
}
