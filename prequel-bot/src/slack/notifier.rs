//! Turns the engine's events into Slack messages for interviews asked for in Slack: the one
//! status message per interview in the channel where it was asked (posted once, then edited in
//! place), the credentials DM to the requester when the instance is active, and the warning DM
//! ten minutes before the destroy time.
//!
//! Every replica runs a notifier and every replica hears every change (the events come from the
//! store's change feed), so each message that must go out once is *claimed* first with a
//! conditional note on the interview (`Prequel::put_note(…, only_if_absent = true)`): only the
//! replica whose claim wins sends it. Edits of the status message need no claim — they are
//! idempotent, and every replica renders the newest state it has seen.
//!
//! Notes used (all in the store, none secret):
//! - [`CHANNEL_NOTE`] — the channel the command came from; written by the inbound handler.
//! - [`MESSAGE_TS_NOTE`] — the status message's `ts`; [`PENDING`] while the winner posts it.
//! - [`CREDENTIALS_NOTE`] — the claim on the credentials DM.
//! - `slack.dm.warning.<destroy_at>` — the claim on the warning DM for one destroy time (an
//!   extension moves the destroy time, so a new warning is due).

use std::time::Duration;

use prequel_core::command::Command;
use prequel_core::domain::{Interview, InterviewState, Platform};
use prequel_core::events::Event;
use prequel_core::{Outcome, Prequel};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::api::SlackApi;
use super::render;

/// Note: the Slack channel id where the interview was asked (set by the inbound handler).
pub const CHANNEL_NOTE: &str = "slack.channel";
/// Note: the `ts` of the interview's status message in that channel.
pub const MESSAGE_TS_NOTE: &str = "slack.message_ts";
/// Note: claimed before the credentials DM goes out.
pub const CREDENTIALS_NOTE: &str = "slack.dm.credentials";
/// The value of [`MESSAGE_TS_NOTE`] while the replica that claimed it is posting the message.
pub const PENDING: &str = "pending";

/// How long the notifier waits for the inbound handler to write [`CHANNEL_NOTE`] of a just
/// recorded interview (the interview is recorded first, so its id exists, then the channel).
const CHANNEL_WAIT: Duration = Duration::from_secs(2);
const CHANNEL_POLL: Duration = Duration::from_millis(50);

/// The claim note for the warning about one destroy time.
pub fn warning_note(interview: &Interview) -> String {
    format!("slack.dm.warning.{}", interview.destroy_at.timestamp())
}

/// Starts the notifier: it follows `prequel.subscribe()` until `shutdown` turns true. Start it
/// in `prequel serve` when Slack is enabled (after `Prequel::start`, which feeds the events).
pub fn spawn(
    prequel: Prequel,
    api: Arc<SlackApi>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let notifier = Notifier { prequel, api };
    tokio::spawn(notifier.run(shutdown))
}

/// Sends what the engine's events call for to Slack. See the module docs.
#[derive(Debug, Clone)]
pub struct Notifier {
    prequel: Prequel,
    api: Arc<SlackApi>,
}

impl Notifier {
    /// A notifier over `prequel` sending with `api`.
    pub fn new(prequel: Prequel, api: Arc<SlackApi>) -> Self {
        Self { prequel, api }
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut events = self.prequel.subscribe();
        let mut last = None;
        loop {
            let event = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                event = events.recv() => event,
            };
            match event {
                Ok(event) => {
                    last = event.cursor().or(last);
                    self.handle(&event).await;
                }
                Err(RecvError::Lagged(missed)) => {
                    // Fell behind the bus: read what was missed from the store instead.
                    tracing::warn!(missed, "slack notifier lagged; replaying from the store");
                    if let Some(cursor) = last {
                        last = Some(self.replay(cursor).await);
                    }
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn replay(
        &self,
        mut cursor: prequel_core::store::ChangeCursor,
    ) -> prequel_core::store::ChangeCursor {
        loop {
            match self.prequel.changes_since(cursor, 500).await {
                Ok(batch) if batch.changes.is_empty() => return cursor,
                Ok(batch) => {
                    for change in batch.changes {
                        self.handle(&Event::from_change(change.cursor, change.kind))
                            .await;
                    }
                    cursor = batch.cursor;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "slack notifier could not replay the change feed");
                    return cursor;
                }
            }
        }
    }

    /// Acts on one event (ignores what is not about a Slack interview).
    pub async fn handle(&self, event: &Event) {
        match event {
            Event::InterviewUpdate { interview, .. } if is_slack(interview) => {
                self.status(interview).await;
                if interview.state == InterviewState::Active {
                    self.credentials(interview).await;
                }
            }
            // An interview that never started has no work to lose and nothing to extend into.
            Event::Warning { interview, .. }
                if is_slack(interview)
                    && !interview.state.is_terminal()
                    && interview.state != InterviewState::Scheduled =>
            {
                self.warning(interview).await;
            }
            _ => {}
        }
    }

    /// Posts the interview's status message if no replica has, or edits it to show `interview`.
    /// The inbound handler may call this right after writing [`CHANNEL_NOTE`], so the message
    /// appears at once; the claim makes it harmless to call from everywhere.
    pub async fn status(&self, interview: &Interview) {
        let id = &interview.id;
        let Some(notes) = self.notes_with_channel(interview).await else {
            tracing::debug!(interview = %id, "no slack channel recorded; no status message");
            return;
        };
        let Some(channel) = notes.get(CHANNEL_NOTE) else {
            return;
        };
        let (text, blocks) = render::status_message(interview);
        match notes.get(MESSAGE_TS_NOTE).map(String::as_str) {
            // Another replica is posting it; it renders the newest state once posted.
            Some(PENDING) => {}
            Some(ts) => {
                // The caller's copy may be older than what another replica or an earlier event
                // already showed (the inbound handler passes the command's answer; replicas
                // follow the feed at their own pace): never move the message back in time.
                let newest = self.newest(interview).await;
                let (text, blocks) = if newest.version > interview.version {
                    render::status_message(&newest)
                } else {
                    (text, blocks)
                };
                if let Err(err) = self.api.update_message(channel, ts, &text, &blocks).await {
                    tracing::warn!(interview = %id, error = %err, "could not update the slack status message");
                }
            }
            None => {
                match self
                    .prequel
                    .put_note(id, MESSAGE_TS_NOTE, PENDING, true)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(err) => {
                        tracing::warn!(interview = %id, error = %err.to_string(), "could not claim the slack status message");
                        return;
                    }
                }
                let ts = match self.api.post_message(channel, &text, &blocks).await {
                    Ok(ts) => ts,
                    Err(err) => {
                        tracing::warn!(interview = %id, error = %err, "could not post the slack status message");
                        return;
                    }
                };
                if let Err(err) = self.prequel.put_note(id, MESSAGE_TS_NOTE, &ts, false).await {
                    tracing::warn!(interview = %id, error = %err.to_string(), "could not record the slack status message");
                    return;
                }
                // Other replicas skipped the changes made while this one was posting: catch up.
                match self.prequel.get(id).await {
                    Ok(current) if current.version > interview.version => {
                        let (text, blocks) = render::status_message(&current);
                        if let Err(err) =
                            self.api.update_message(channel, &ts, &text, &blocks).await
                        {
                            tracing::warn!(interview = %id, error = %err, "could not update the slack status message");
                        }
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(interview = %id, error = %err.to_string(), "could not re-read the interview");
                    }
                }
            }
        }
    }

    /// The stored interview if it can be read, else `interview` itself.
    async fn newest(&self, interview: &Interview) -> Interview {
        match self.prequel.get(&interview.id).await {
            Ok(current) => current,
            Err(err) => {
                tracing::warn!(interview = %interview.id, error = %err.to_string(), "could not re-read the interview");
                interview.clone()
            }
        }
    }

    /// The interview's notes once [`CHANNEL_NOTE`] is there. A just-recorded interview gets a
    /// short wait for it: the inbound handler writes it right after the interview is recorded.
    async fn notes_with_channel(
        &self,
        interview: &Interview,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        let deadline = tokio::time::Instant::now() + CHANNEL_WAIT;
        loop {
            match self.prequel.notes(&interview.id).await {
                Ok(notes) if notes.contains_key(CHANNEL_NOTE) => return Some(notes),
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(interview = %interview.id, error = %err.to_string(), "could not read the interview's notes");
                    return None;
                }
            }
            if interview.state != InterviewState::Scheduled
                || tokio::time::Instant::now() >= deadline
            {
                return None;
            }
            tokio::time::sleep(CHANNEL_POLL).await;
        }
    }

    /// The credentials DM, once across replicas, to the requester only.
    async fn credentials(&self, interview: &Interview) {
        let id = &interview.id;
        match self
            .prequel
            .put_note(id, CREDENTIALS_NOTE, "sent", true)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(interview = %id, error = %err.to_string(), "could not claim the credentials DM");
                return;
            }
        }
        // Asked as the requester: the facade gives a password to nobody else.
        let password = match self
            .prequel
            .execute(&interview.requested_by, Command::Creds(id.clone()))
            .await
        {
            Ok(Outcome::Credentials {
                password: Some(password),
                ..
            }) => password,
            Ok(_) => {
                tracing::warn!(interview = %id, "no password for an active interview; no credentials DM");
                return;
            }
            Err(err) => {
                tracing::warn!(interview = %id, error = %err.to_string(), "could not read the credentials");
                return;
            }
        };
        let (text, blocks) = render::credentials_dm(interview, &password);
        if let Err(err) = self
            .dm(&interview.requested_by.user_id, &text, &blocks)
            .await
        {
            tracing::warn!(interview = %id, error = %err, "could not send the credentials DM");
        } else {
            tracing::info!(interview = %id, "credentials sent by DM to the requester");
        }
    }

    /// The warning DM for the interview's current destroy time, once across replicas.
    async fn warning(&self, interview: &Interview) {
        let id = &interview.id;
        match self
            .prequel
            .put_note(id, &warning_note(interview), "sent", true)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(interview = %id, error = %err.to_string(), "could not claim the warning DM");
                return;
            }
        }
        let (text, blocks) = render::warning_dm(interview);
        if let Err(err) = self
            .dm(&interview.requested_by.user_id, &text, &blocks)
            .await
        {
            tracing::warn!(interview = %id, error = %err, "could not send the warning DM");
        }
    }

    async fn dm(
        &self,
        user: &str,
        text: &str,
        blocks: &serde_json::Value,
    ) -> Result<(), super::api::SlackError> {
        let channel = self.api.open_dm(user).await?;
        self.api.post_message(&channel, text, blocks).await?;
        Ok(())
    }
}

fn is_slack(interview: &Interview) -> bool {
    interview.requested_by.platform == Platform::Slack
}
