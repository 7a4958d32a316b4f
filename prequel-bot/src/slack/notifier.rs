//! Turns the engine's events into Slack messages for interviews asked for in Slack: the one
//! status message per interview in the channel where it was asked (posted once, then edited in
//! place), the credentials DM to the requester when the instance is active, and the warning DM
//! ten minutes before the destroy time.
//!
//! The decisions — claim-once through notes across replicas, never moving a message back in
//! time, replaying the store's change feed after a lag — are shared with the other frontends in
//! [`crate::notify`]; this module is Slack's [`Outbox`] (how to post, edit and DM) and its notes.
//!
//! Notes used (all in the store, none secret):
//! - [`CHANNEL_NOTE`] — the channel the command came from; written by the inbound handler.
//! - [`MESSAGE_TS_NOTE`] — the status message's `ts`; [`PENDING`] while the winner posts it.
//! - [`CREDENTIALS_NOTE`] — the claim on the credentials DM.
//! - `slack.dm.warning.<destroy_at>` — the claim on the warning DM for one destroy time (an
//!   extension moves the destroy time, so a new warning is due).

use std::sync::Arc;

use prequel_core::Prequel;
use prequel_core::domain::{Interview, Platform, SecretString};
use prequel_core::events::Event;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api::{SlackApi, SlackError};
use super::render;
use crate::notify::{self, NoteKeys, Outbox};

/// Note: the Slack channel id where the interview was asked (set by the inbound handler).
pub const CHANNEL_NOTE: &str = "slack.channel";
/// Note: the `ts` of the interview's status message in that channel.
pub const MESSAGE_TS_NOTE: &str = "slack.message_ts";
/// Note: claimed before the credentials DM goes out.
pub const CREDENTIALS_NOTE: &str = "slack.dm.credentials";
/// The value of [`MESSAGE_TS_NOTE`] while the replica that claimed it is posting the message.
pub const PENDING: &str = notify::PENDING;

/// The claim note for the warning about one destroy time.
pub fn warning_note(interview: &Interview) -> String {
    SlackOutbox::NOTES.warning(interview)
}

/// Starts the notifier: it follows `prequel.subscribe()` until `shutdown` turns true. Start it
/// in `prequel serve` when Slack is enabled (after `Prequel::start`, which feeds the events).
pub fn spawn(
    prequel: Prequel,
    api: Arc<SlackApi>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let notifier = Notifier::new(prequel, api);
    tokio::spawn(notify::run(notifier.inner, shutdown))
}

/// Sends what the engine's events call for to Slack. See the module docs.
#[derive(Debug, Clone)]
pub struct Notifier {
    inner: notify::Notifier<SlackOutbox>,
}

impl Notifier {
    /// A notifier over `prequel` sending with `api`.
    pub fn new(prequel: Prequel, api: Arc<SlackApi>) -> Self {
        Self {
            inner: notify::Notifier::new(prequel, SlackOutbox { api }),
        }
    }

    /// Acts on one event (ignores what is not about a Slack interview).
    pub async fn handle(&self, event: &Event) {
        self.inner.handle(event).await;
    }

    /// Posts the interview's status message if no replica has, or edits it to show `interview`
    /// (or the stored interview, when that is newer). The inbound handler may call this right
    /// after writing [`CHANNEL_NOTE`], so the message appears at once; the claim makes it
    /// harmless to call from everywhere.
    pub async fn status(&self, interview: &Interview) {
        self.inner.status(interview).await;
    }
}

/// How Slack messages are sent: chat.postMessage / chat.update, DMs through conversations.open.
#[derive(Debug, Clone)]
struct SlackOutbox {
    api: Arc<SlackApi>,
}

impl SlackOutbox {
    async fn dm(
        &self,
        user: &str,
        text: &str,
        blocks: &serde_json::Value,
    ) -> Result<(), SlackError> {
        let channel = self.api.open_dm(user).await?;
        self.api.post_message(&channel, text, blocks).await?;
        Ok(())
    }
}

impl Outbox for SlackOutbox {
    type Error = SlackError;
    const PLATFORM: Platform = Platform::Slack;
    const NAME: &'static str = "slack";
    const NOTES: NoteKeys = NoteKeys {
        channel: CHANNEL_NOTE,
        message: MESSAGE_TS_NOTE,
        credentials: CREDENTIALS_NOTE,
        archive: "slack.dm.archive",
        warning_prefix: "slack.dm.warning",
    };

    async fn post_status(
        &self,
        channel: &str,
        interview: &Interview,
    ) -> Result<String, SlackError> {
        let (text, blocks) = render::status_message(interview);
        self.api.post_message(channel, &text, &blocks).await
    }

    async fn edit_status(
        &self,
        channel: &str,
        message: &str,
        interview: &Interview,
    ) -> Result<(), SlackError> {
        let (text, blocks) = render::status_message(interview);
        self.api
            .update_message(channel, message, &text, &blocks)
            .await
    }

    async fn send_credentials(
        &self,
        to: &str,
        interview: &Interview,
        password: &SecretString,
    ) -> Result<(), SlackError> {
        let (text, blocks) = render::credentials_dm(interview, password);
        self.dm(to, &text, &blocks).await
    }

    async fn send_warning(&self, to: &str, interview: &Interview) -> Result<(), SlackError> {
        let (text, blocks) = render::warning_dm(interview);
        self.dm(to, &text, &blocks).await
    }

    async fn send_archive_link(
        &self,
        to: &str,
        interview: &Interview,
        link: &str,
        valid_for: std::time::Duration,
    ) -> Result<(), SlackError> {
        let (text, blocks) = render::archive_dm(interview, link, valid_for);
        self.dm(to, &text, &blocks).await
    }
}
