//! What every chat frontend's notifier does, whatever the platform: follow the engine's events,
//! keep one status message per interview (posted once, then edited in place), send the
//! credentials DM to the requester once when the instance is active, and the warning DM once per
//! destroy time. The platform part — how a message is posted, edited or DMed — is an
//! [`Outbox`]; Slack's and Discord's notifiers are each an `Outbox` plus a call to [`run`].
//!
//! Every replica runs a notifier and every replica hears every change (the events come from the
//! store's change feed), so each message that must go out once is *claimed* first with a
//! conditional note on the interview (`Prequel::put_note(…, only_if_absent = true)`, DESIGN
//! invariant 6): only the replica whose claim wins sends it. Edits of the status message need no
//! claim — they are idempotent — but they always show the newest of (the caller's copy, the
//! stored interview), so a late or stale copy never moves a message back in time.
//!
//! The notes are named by the platform ([`NoteKeys`]); none holds a secret.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use prequel_core::access::Actor;
use prequel_core::command::Command;
use prequel_core::domain::{Interview, InterviewState, Platform, SecretString};
use prequel_core::events::Event;
use prequel_core::store::ChangeCursor;
use prequel_core::{Outcome, Prequel};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

/// The value of the message-id note while the replica that claimed it is posting the message.
pub const PENDING: &str = "pending";

/// How long the notifier waits for the inbound handler to write the channel note of a just
/// recorded interview (the interview is recorded first, so its id exists, then the channel).
const CHANNEL_WAIT: Duration = Duration::from_secs(2);
const CHANNEL_POLL: Duration = Duration::from_millis(50);

/// The names of one platform's notes on an interview.
#[derive(Debug, Clone, Copy)]
pub struct NoteKeys {
    /// The channel the command came from; written by the inbound handler.
    pub channel: &'static str,
    /// The status message's id in that channel; [`PENDING`] while the winner posts it.
    pub message: &'static str,
    /// The claim on the credentials DM.
    pub credentials: &'static str,
    /// The claim on the DM with the link to the archived work.
    pub archive: &'static str,
    /// The prefix of the claim on the warning DM; the destroy time (unix seconds) follows, as
    /// an extension moves the destroy time and so makes a new warning due.
    pub warning_prefix: &'static str,
}

impl NoteKeys {
    /// The claim note for the warning about the interview's current destroy time.
    pub fn warning(&self, interview: &Interview) -> String {
        format!(
            "{}.{}",
            self.warning_prefix,
            interview.destroy_at.timestamp()
        )
    }
}

/// How one chat platform sends what the notifier decided to send.
pub trait Outbox: Send + Sync + 'static {
    /// Why a send failed; shown in log lines, so it must never hold a token or a password.
    type Error: Display + Send;

    /// The platform whose interviews this outbox serves (the requester's platform).
    const PLATFORM: Platform;
    /// The platform's name in log lines.
    const NAME: &'static str;
    /// The notes this platform uses.
    const NOTES: NoteKeys;

    /// Posts the status message for `interview` in `channel`; answers its message id.
    fn post_status(
        &self,
        channel: &str,
        interview: &Interview,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Edits the status message `message` in `channel` to show `interview`.
    fn edit_status(
        &self,
        channel: &str,
        message: &str,
        interview: &Interview,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sends the credentials DM to `to`, one of the interview's [`people`].
    fn send_credentials(
        &self,
        to: &str,
        interview: &Interview,
        password: &SecretString,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sends the warning DM to `to`, one of the interview's [`people`].
    fn send_warning(
        &self,
        to: &str,
        interview: &Interview,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sends `to`, one of the interview's [`people`], the link to the archived work (a
    /// capability: DM only, never logged).
    fn send_archive_link(
        &self,
        to: &str,
        interview: &Interview,
        link: &str,
        valid_for: Duration,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Who gets an interview's DMs: its requester and the co-interviewers they named (user ids on
/// the requester's platform) — the people the ownership rule lets act on it, and nobody else.
pub fn people(interview: &Interview) -> impl Iterator<Item = &str> {
    std::iter::once(interview.requested_by.user_id.as_str())
        .chain(interview.co_interviewers.iter().map(String::as_str))
}

/// How long the archive link in the DM works: a week to download the candidate's work, short
/// enough that a forwarded DM does not stay a key to it.
pub const ARCHIVE_LINK_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Follows `prequel.subscribe()` with `notifier` until `shutdown` turns true. When the bus
/// drops events (a slow notifier), what was missed is read back from the store's change feed
/// (DESIGN invariant 5: the store is the source of truth).
pub async fn run<O: Outbox>(notifier: Notifier<O>, mut shutdown: watch::Receiver<bool>) {
    let mut events = notifier.prequel.subscribe();
    let mut last = None;
    loop {
        let event = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            event = events.recv() => event,
        };
        match event {
            Ok(event) => {
                last = event.cursor().or(last);
                notifier.handle(&event).await;
            }
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    platform = O::NAME,
                    "notifier lagged; replaying from the store"
                );
                if let Some(cursor) = last {
                    last = Some(notifier.replay(cursor).await);
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Sends what the engine's events call for through an [`Outbox`]. See the module docs.
#[derive(Debug)]
pub struct Notifier<O> {
    prequel: Prequel,
    outbox: O,
}

impl<O: Clone> Clone for Notifier<O> {
    fn clone(&self) -> Self {
        Self {
            prequel: self.prequel.clone(),
            outbox: self.outbox.clone(),
        }
    }
}

impl<O: Outbox> Notifier<O> {
    /// A notifier over `prequel` sending through `outbox`.
    pub fn new(prequel: Prequel, outbox: O) -> Self {
        Self { prequel, outbox }
    }

    async fn replay(&self, mut cursor: ChangeCursor) -> ChangeCursor {
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
                    tracing::warn!(platform = O::NAME, error = %err, "notifier could not replay the change feed");
                    return cursor;
                }
            }
        }
    }

    /// Acts on one event (ignores what is not about an interview of this platform).
    pub async fn handle(&self, event: &Event) {
        match event {
            Event::InterviewUpdate { interview, .. } if self.ours(interview) => {
                self.status(interview).await;
                if interview.state == InterviewState::Active {
                    self.credentials(interview).await;
                }
                if interview.state == InterviewState::Destroyed && interview.archive.is_some() {
                    self.archive_link(interview).await;
                }
            }
            // An interview that never started has no work to lose and nothing to extend into.
            Event::Warning { interview, .. }
                if self.ours(interview)
                    && !interview.state.is_terminal()
                    && interview.state != InterviewState::Scheduled =>
            {
                self.warning(interview).await;
            }
            _ => {}
        }
    }

    fn ours(&self, interview: &Interview) -> bool {
        interview.requested_by.platform == O::PLATFORM
    }

    /// Posts the interview's status message if no replica has, or edits it to show the newest
    /// of `interview` and the stored interview. The inbound handler may call this right after
    /// writing the channel note, so the message appears at once; the claim makes it harmless to
    /// call from everywhere.
    pub async fn status(&self, interview: &Interview) {
        let id = &interview.id;
        let keys = O::NOTES;
        let Some(notes) = self.notes_with_channel(interview).await else {
            tracing::debug!(interview = %id, platform = O::NAME, "no channel recorded; no status message");
            return;
        };
        let Some(channel) = notes.get(keys.channel) else {
            return;
        };
        match notes.get(keys.message).map(String::as_str) {
            // Another replica is posting it; it renders the newest state once posted.
            Some(PENDING) => {}
            Some(message) => {
                // The caller's copy may be older than what another replica or an earlier event
                // already showed (the inbound handler passes the command's answer; replicas
                // follow the feed at their own pace): never move the message back in time.
                let newest = self.newest(interview).await;
                let shown = if newest.version > interview.version {
                    &newest
                } else {
                    interview
                };
                if let Err(err) = self.outbox.edit_status(channel, message, shown).await {
                    tracing::warn!(interview = %id, platform = O::NAME, error = %err, "could not update the status message");
                }
            }
            None => {
                match self.prequel.put_note(id, keys.message, PENDING, true).await {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(err) => {
                        tracing::warn!(interview = %id, platform = O::NAME, error = %err.to_string(), "could not claim the status message");
                        return;
                    }
                }
                let message = match self.outbox.post_status(channel, interview).await {
                    Ok(message) => message,
                    Err(err) => {
                        tracing::warn!(interview = %id, platform = O::NAME, error = %err, "could not post the status message");
                        return;
                    }
                };
                if let Err(err) = self
                    .prequel
                    .put_note(id, keys.message, &message, false)
                    .await
                {
                    tracing::warn!(interview = %id, platform = O::NAME, error = %err.to_string(), "could not record the status message");
                    return;
                }
                // Other replicas skipped the changes made while this one was posting: catch up.
                match self.prequel.get(id).await {
                    Ok(current) if current.version > interview.version => {
                        if let Err(err) = self.outbox.edit_status(channel, &message, &current).await
                        {
                            tracing::warn!(interview = %id, platform = O::NAME, error = %err, "could not update the status message");
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

    /// The interview's notes once the channel note is there. A just-recorded interview gets a
    /// short wait for it: the inbound handler writes it right after the interview is recorded.
    async fn notes_with_channel(&self, interview: &Interview) -> Option<BTreeMap<String, String>> {
        let deadline = tokio::time::Instant::now() + CHANNEL_WAIT;
        loop {
            match self.prequel.notes(&interview.id).await {
                Ok(notes) if notes.contains_key(O::NOTES.channel) => return Some(notes),
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
            .put_note(id, O::NOTES.credentials, "sent", true)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(interview = %id, error = %err.to_string(), "could not claim the credentials DM");
                return;
            }
        }
        // Asked as the requester: the facade gives a password only to the interview's people.
        let requester = Actor::member(interview.requested_by.clone());
        let password = match self
            .prequel
            .execute(&requester, Command::Creds(id.clone()))
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
        for to in people(interview) {
            if let Err(err) = self.outbox.send_credentials(to, interview, &password).await {
                tracing::warn!(interview = %id, platform = O::NAME, user = to, error = %err, "could not send the credentials DM");
            } else {
                tracing::info!(interview = %id, platform = O::NAME, user = to, "credentials sent by DM");
            }
        }
    }

    /// The DM with a link to the archived work, once across replicas, when the engine has an
    /// archive that can make links (on AWS: a presigned S3 URL).
    async fn archive_link(&self, interview: &Interview) {
        let id = &interview.id;
        let link = match self.prequel.archive_link(id, ARCHIVE_LINK_VALIDITY).await {
            Ok(Some(link)) => link,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(interview = %id, error = %err.to_string(), "could not make the archive link");
                return;
            }
        };
        match self
            .prequel
            .put_note(id, O::NOTES.archive, "sent", true)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(interview = %id, error = %err.to_string(), "could not claim the archive DM");
                return;
            }
        }
        for to in people(interview) {
            match self
                .outbox
                .send_archive_link(to, interview, &link, ARCHIVE_LINK_VALIDITY)
                .await
            {
                Ok(()) => {
                    tracing::info!(interview = %id, platform = O::NAME, user = to, "archive link sent by DM")
                }
                Err(err) => {
                    tracing::warn!(interview = %id, platform = O::NAME, user = to, error = %err, "could not send the archive DM")
                }
            }
        }
    }

    /// The warning DM for the interview's current destroy time, once across replicas.
    async fn warning(&self, interview: &Interview) {
        let id = &interview.id;
        match self
            .prequel
            .put_note(id, &O::NOTES.warning(interview), "sent", true)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(err) => {
                tracing::warn!(interview = %id, error = %err.to_string(), "could not claim the warning DM");
                return;
            }
        }
        for to in people(interview) {
            if let Err(err) = self.outbox.send_warning(to, interview).await {
                tracing::warn!(interview = %id, platform = O::NAME, user = to, error = %err, "could not send the warning DM");
            }
        }
    }
}

/// A failure reason as stored by the engine, in words a person reads — the same words on every
/// platform. `escape` makes the engine's reason safe for the platform's markup.
pub fn failure_in_words(reason: Option<&str>, escape: impl Fn(&str) -> String) -> String {
    match reason {
        Some(reason) if reason.starts_with("missed") => {
            "The start time passed while Prequel was not running, so the interview was not started."
                .to_owned()
        }
        Some(reason) if !reason.trim().is_empty() => {
            format!(
                "Prequel could not set up the instance: {}.",
                escape(reason.trim().trim_end_matches('.'))
            )
        }
        _ => "Prequel could not set up the instance.".to_owned(),
    }
}

/// What a state means, in words, for status lines (platforms add their own icons).
pub fn state_in_words(state: InterviewState) -> &'static str {
    match state {
        InterviewState::Scheduled => "Scheduled",
        InterviewState::Initializing => "Starting the instance",
        InterviewState::Configuring => "Putting the challenge in place",
        InterviewState::Active => "Active",
        InterviewState::Destroying => "Archiving and removing",
        InterviewState::Destroyed => "Finished",
        InterviewState::Failed => "Failed",
        InterviewState::Cancelled => "Cancelled",
    }
}
