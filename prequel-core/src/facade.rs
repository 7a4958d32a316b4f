//! The [`Prequel`] facade: the one door frontends use.
//!
//! A frontend handler is: identify the user → build a [`Command`] (from text with
//! [`Prequel::parse`], or from typed options) → [`Prequel::execute`] → render the [`Outcome`] →
//! reply. Live changes come from [`Prequel::subscribe`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use thiserror::Error;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;

use crate::access::{Actor, may_act};
use crate::archive::{Archive, ArchiveError};
use crate::clock::{Clock, SystemClock};
use crate::command::{self, CoInterviewer, Command, CommandError, InterviewRequest, ParseContext};
use crate::domain::{
    ChallengeId, Interview, InterviewId, InterviewLength, LogLine, Operation, OperationId,
    Platform, Requester, SecretString, describe_minutes,
};
use crate::events::{ChangeFollower, Event, EventBus};
use crate::provision::Provisioner;
use crate::scheduler::{Backends, Scheduler, SchedulerConfig, SchedulerStats};
use crate::secrets::{SecretError, SecretStore};
use crate::store::{
    ChangeBatch, ChangeCursor, DestroyRequested, InterviewScope, NewInterview, OperationStore,
    Page, PageRequest, StoreError,
};

mod review;
mod tokens;

pub use tokens::{API_TOKEN_PREFIX, IssuedApiToken, MAX_TOKEN_USER_CHARS, looks_like_api_token};

/// The per-user setting `tz` writes: the IANA name of the user's zone.
pub const TIME_ZONE_SETTING: &str = "tz";

/// What a command did, for the frontend to render.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An interview was scheduled for later.
    Scheduled(Interview),
    /// An interview is being provisioned now. The password is for the requester only.
    Created {
        /// The interview (state `scheduled` until the scheduler picks it up, at once).
        interview: Interview,
        /// The password the instance will require.
        password: SecretString,
    },
    /// The open interviews.
    List(Vec<Interview>),
    /// One interview and its operations.
    Status {
        /// The interview.
        interview: Interview,
        /// Its create and (if any) destroy operation.
        operations: Vec<Operation>,
    },
    /// The interview was called off before it started.
    Cancelled(Interview),
    /// The interview's destroy was requested (archive, then tear down).
    DestroyRequested(Interview),
    /// The interview now ends later.
    Extended(Interview),
    /// Where to reach the interview and its password (for the requester only). The password is
    /// `None` before the instance is first provisioned and after it is destroyed.
    Credentials {
        /// The interview (its `access_url` is set once active).
        interview: Interview,
        /// The password, while there is one.
        password: Option<SecretString>,
    },
    /// The challenges one can ask for.
    Challenges(Vec<ChallengeId>),
    /// The user's time zone (frontends that cannot read the platform's zone keep it).
    TimeZone(Tz),
    /// The help text, generated from the command list.
    Help(String),
    /// A private note was added (for the people who may act on the interview only).
    Noted {
        /// The interview.
        interview: Interview,
        /// The note as kept.
        note: crate::review::ReviewNote,
    },
    /// Everything about one interview, for someone who may act on it.
    Report(Box<crate::review::Report>),
    /// The person's score was recorded (replacing theirs, if they had given one).
    Scored {
        /// The interview.
        interview: Interview,
        /// The score as kept.
        score: crate::review::Score,
    },
}

/// Why a command could not be carried out. [`PrequelError::user_message`] is the line to show.
#[derive(Debug, Error)]
pub enum PrequelError {
    /// The words did not make a command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// No such interview (or it has expired).
    #[error("interview {0} not found")]
    NotFound(InterviewId),
    /// The command is valid but not possible now; the message says why and what to do.
    #[error("{0}")]
    Refused(String),
    /// The person may not do this (someone else's interview, or an admin's command); nothing
    /// changed. The message says whose it is and who may.
    #[error("{0}")]
    Forbidden(String),
    /// An input other than a command's words (a token's user name, a token id) is not
    /// acceptable; the message says what would be. Nothing changed.
    #[error("{0}")]
    Invalid(String),
    /// The store failed; details are logged, not shown.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    /// The secret store failed; details are logged, not shown.
    #[error("secret store error: {0}")]
    Secrets(#[from] SecretError),
    /// The archive backend failed; details are logged, not shown.
    #[error("archive error: {0}")]
    Archive(#[from] ArchiveError),
}

impl PrequelError {
    /// One line, with a hint, for a person. Never includes internal details.
    pub fn user_message(&self) -> String {
        match self {
            Self::Command(err) => err.user_message(),
            Self::NotFound(id) => {
                format!("there is no interview `{id}` (see `list` for yours)")
            }
            Self::Refused(message) | Self::Forbidden(message) | Self::Invalid(message) => {
                message.clone()
            }
            Self::Store(StoreError::Conflict(message)) => message.clone(),
            Self::Store(StoreError::NotFound { what }) => format!("{what} not found"),
            Self::Store(_) => {
                "Prequel could not reach its database; please try again in a minute".to_owned()
            }
            Self::Secrets(_) => {
                "Prequel could not reach its secret store; please try again in a minute".to_owned()
            }
            Self::Archive(_) => {
                "Prequel could not reach its archive; please try again in a minute".to_owned()
            }
        }
    }
}

/// Settings of the facade.
#[derive(Debug, Clone, Default)]
pub struct PrequelConfig {
    /// How the scheduler paces itself (lead time, grace, leases, retries).
    pub scheduler: SchedulerConfig,
}

/// Builds a [`Prequel`].
#[derive(Debug, Default)]
pub struct PrequelBuilder {
    store: Option<Arc<dyn OperationStore>>,
    provisioner: Option<Arc<dyn Provisioner>>,
    secrets: Option<Arc<dyn SecretStore>>,
    clock: Option<Arc<dyn Clock>>,
    archive: Option<Arc<dyn Archive>>,
    challenges: Vec<ChallengeId>,
    config: PrequelConfig,
}

/// What the builder was missing.
#[derive(Debug, Error)]
pub enum BuildError {
    /// A required backend was not given.
    #[error("the {0} was not configured")]
    Missing(&'static str),
}

impl PrequelBuilder {
    /// The operation store (required).
    pub fn store(mut self, store: Arc<dyn OperationStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The provisioner (required).
    pub fn provisioner(mut self, provisioner: Arc<dyn Provisioner>) -> Self {
        self.provisioner = Some(provisioner);
        self
    }

    /// The secret store for interview passwords (required).
    pub fn secrets(mut self, secrets: Arc<dyn SecretStore>) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where archived work can be fetched from by link (optional: the local provisioner keeps
    /// archives in its data dir and has none; on AWS it is the history bucket).
    pub fn archive(mut self, archive: Arc<dyn Archive>) -> Self {
        self.archive = Some(archive);
        self
    }

    /// The challenges one can ask for.
    pub fn challenges(mut self, challenges: Vec<ChallengeId>) -> Self {
        self.challenges = challenges;
        self
    }

    /// The settings.
    pub fn config(mut self, config: PrequelConfig) -> Self {
        self.config = config;
        self
    }

    /// The facade.
    pub fn build(self) -> Result<Prequel, BuildError> {
        let mut challenges = self.challenges;
        challenges.sort();
        challenges.dedup();
        Ok(Prequel {
            inner: Arc::new(Inner {
                store: self.store.ok_or(BuildError::Missing("operation store"))?,
                provisioner: self.provisioner.ok_or(BuildError::Missing("provisioner"))?,
                secrets: self.secrets.ok_or(BuildError::Missing("secret store"))?,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                archive: self.archive,
                challenges,
                config: self.config,
                bus: EventBus::new(4096),
                new_work: Arc::new(Notify::new()),
                stats: Arc::new(SchedulerStats::default()),
            }),
        })
    }
}

/// The facade over Prequel's engine. Cheap to clone; all clones share one engine.
#[derive(Debug, Clone)]
pub struct Prequel {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn OperationStore>,
    provisioner: Arc<dyn Provisioner>,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    archive: Option<Arc<dyn Archive>>,
    challenges: Vec<ChallengeId>,
    config: PrequelConfig,
    bus: EventBus,
    new_work: Arc<Notify>,
    /// Made here, not by the scheduler, so readers (`/metrics`, `/readyz`) have it before and
    /// whether or not [`Prequel::start`] ran.
    stats: Arc<SchedulerStats>,
}

/// The background tasks of a running engine (scheduler and change-feed follower).
#[derive(Debug)]
pub struct Background {
    tasks: Vec<JoinHandle<()>>,
}

impl Background {
    /// Waits for the tasks to end (after the shutdown signal).
    pub async fn join(self) {
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

impl Prequel {
    /// Starts building a facade.
    pub fn builder() -> PrequelBuilder {
        PrequelBuilder::default()
    }

    /// A link to download an interview's archived work, valid for `valid_for`, when there is an
    /// archive backend and an archive (`Ok(None)` otherwise). The link is a capability: it goes
    /// to the interviewer in a DM only, never into a log, event or the API.
    #[tracing::instrument(skip_all, fields(interview = %id))]
    pub async fn archive_link(
        &self,
        id: &InterviewId,
        valid_for: std::time::Duration,
    ) -> Result<Option<String>, PrequelError> {
        let Some(archive) = &self.inner.archive else {
            return Ok(None);
        };
        archive
            .download_link(id, valid_for)
            .await
            .map_err(PrequelError::Archive)
    }

    /// The current time on the engine's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The challenges one can ask for.
    pub fn challenges(&self) -> &[ChallengeId] {
        &self.inner.challenges
    }

    /// Reads a command from the words after `/interview`, with times in `zone`.
    pub fn parse(&self, text: &str, zone: Tz) -> Result<Command, CommandError> {
        command::parse(
            text,
            &ParseContext {
                now: self.now(),
                zone,
                challenges: &self.inner.challenges,
            },
        )
    }

    /// Parses and executes in one step.
    #[tracing::instrument(skip_all, fields(user = %actor.requester.user_id))]
    pub async fn execute_text(
        &self,
        actor: &Actor,
        text: &str,
        zone: Tz,
    ) -> Result<Outcome, PrequelError> {
        let command = self.parse(text, zone)?;
        self.execute(actor, command).await
    }

    /// Carries out a command for `actor`. What acts on one interview (`status`, `creds`,
    /// `extend`, `destroy`, `cancel`, `note`, `score`, `report`) first checks the ownership rule ([`crate::access`]): a
    /// refusal is [`PrequelError::Forbidden`] and changes nothing.
    #[tracing::instrument(skip_all, fields(user = %actor.requester.user_id, platform = actor.requester.platform.as_str(), admin = actor.is_admin(), action = command.action()))]
    pub async fn execute(&self, actor: &Actor, command: Command) -> Result<Outcome, PrequelError> {
        let store = &self.inner.store;
        let requester = &actor.requester;
        let now = self.now();
        if let Some(id) = command.interview() {
            self.check_may_act(actor, id, command.action()).await?;
        }
        match command {
            Command::Schedule(request) => {
                let (interview, _) = self.record(requester, request).await?;
                Ok(Outcome::Scheduled(interview))
            }
            Command::Create(request) => {
                let (interview, password) = self.record(requester, request).await?;
                Ok(Outcome::Created {
                    interview,
                    password,
                })
            }
            Command::List { all } => {
                if all && !actor.is_admin() {
                    return Err(PrequelError::Forbidden(
                        "only Prequel admins can list every interview; `list` shows yours"
                            .to_owned(),
                    ));
                }
                let mine = |interview: &Interview| all || interview.involves(requester);
                Ok(Outcome::List(self.open_interviews(mine).await?))
            }
            Command::Status(id) => {
                let interview = self.get(&id).await?;
                let operations = store.operations_for(&id).await?;
                Ok(Outcome::Status {
                    interview,
                    operations,
                })
            }
            Command::Cancel(id) => match store
                .cancel(&id, requester, now)
                .await
                .map_err(|err| not_found_as(err, &id))?
            {
                Some(interview) => {
                    self.wrote();
                    self.forget_password(&id).await;
                    Ok(Outcome::Cancelled(interview))
                }
                None => {
                    let interview = self.get(&id).await?;
                    Err(PrequelError::Refused(if interview.state.is_terminal() {
                        format!("interview `{id}` has already ended ({})", interview.state)
                    } else {
                        format!(
                            "interview `{id}` has already started; use `destroy {id}` to end it"
                        )
                    }))
                }
            },
            Command::Destroy(id) => {
                let max_attempts = self.inner.config.scheduler.max_attempts;
                match store
                    .request_destroy(&id, requester, max_attempts, now)
                    .await
                {
                    Ok(DestroyRequested::Destroy(_)) => {
                        self.wrote();
                        Ok(Outcome::DestroyRequested(self.get(&id).await?))
                    }
                    Ok(DestroyRequested::Cancelled(interview)) => {
                        self.wrote();
                        self.forget_password(&id).await;
                        Ok(Outcome::Cancelled(interview))
                    }
                    Ok(DestroyRequested::AlreadyFinished(interview)) => Err(PrequelError::Refused(
                        format!("interview `{id}` has already ended ({})", interview.state),
                    )),
                    Err(err) => Err(not_found_as(err, &id)),
                }
            }
            Command::Extend { interview, minutes } => {
                self.extend(requester, &interview, minutes).await
            }
            Command::Creds(id) => {
                let interview = self.get(&id).await?;
                let password = self
                    .inner
                    .secrets
                    .existing_password(&id)
                    .await
                    .map_err(PrequelError::Secrets)?;
                Ok(Outcome::Credentials {
                    interview,
                    password,
                })
            }
            Command::Challenges => Ok(Outcome::Challenges(self.inner.challenges.clone())),
            Command::Tz(zone) => {
                // Kept for platforms that do not tell Prequel the user's zone (Discord); for
                // the others it is harmless.
                store
                    .put_user_setting(
                        requester.platform,
                        &requester.user_id,
                        TIME_ZONE_SETTING,
                        zone.name(),
                        now,
                    )
                    .await?;
                Ok(Outcome::TimeZone(zone))
            }
            Command::Help => Ok(Outcome::Help(command::help_text())),
            Command::Note { interview, text } => self.note(requester, &interview, text).await,
            Command::Report(id) => Ok(Outcome::Report(Box::new(self.report(&id).await?))),
            Command::Score {
                interview,
                verdict,
                comment,
            } => self.score(requester, &interview, verdict, comment).await,
        }
    }

    /// Deletes a cancelled interview's password: it will never open anything. A failure is
    /// logged, not the command's: the cancel is recorded, and the password opens nothing.
    async fn forget_password(&self, id: &InterviewId) {
        if let Err(err) = self.inner.secrets.forget(id).await {
            tracing::warn!(interview = %id, error = %err, "could not delete a cancelled interview's password");
        }
    }

    /// Refuses, with [`PrequelError::Forbidden`], an actor the ownership rule does not let act
    /// on interview `id` (an unknown id is [`PrequelError::NotFound`] for everyone).
    async fn check_may_act(
        &self,
        actor: &Actor,
        id: &InterviewId,
        action: &str,
    ) -> Result<(), PrequelError> {
        let interview = self.get(id).await?;
        if may_act(actor, &interview) {
            return Ok(());
        }
        tracing::info!(interview = %id, action, "refused: not the requester's, a co-interviewer's or an admin's");
        Err(PrequelError::Forbidden(format!(
            "interview `{id}` is {}'s: only they, the co-interviewers they named and Prequel admins can {action} it",
            interview.requested_by.display_name
        )))
    }

    /// The open interviews `keep` accepts, oldest start first, at most [`MAX_LISTED`].
    async fn open_interviews(
        &self,
        keep: impl Fn(&Interview) -> bool,
    ) -> Result<Vec<Interview>, PrequelError> {
        let mut found = Vec::new();
        let mut page = PageRequest::first(100);
        loop {
            let batch = self
                .inner
                .store
                .list_interviews(InterviewScope::Open, &page)
                .await?;
            found.extend(batch.items.into_iter().filter(|i| keep(i)));
            match batch.next {
                Some(next) if found.len() < MAX_LISTED => page = PageRequest::after(100, next),
                _ => break,
            }
        }
        found.truncate(MAX_LISTED);
        Ok(found)
    }

    /// Records an interview and makes its password first, so a `now` answer can carry it (a
    /// password left behind by a failed write opens nothing: ids are never reused).
    async fn record(
        &self,
        requester: &Requester,
        request: InterviewRequest,
    ) -> Result<(Interview, SecretString), PrequelError> {
        let co_interviewers = co_interviewer_ids(requester, &request.co_interviewers)?;
        let now = self.now();
        let lead = self.inner.config.scheduler.lead_time;
        let id = InterviewId::generate();
        let password = self
            .inner
            .secrets
            .password(&id)
            .await
            .map_err(PrequelError::Secrets)?;
        let new = NewInterview {
            id,
            challenge: request.challenge,
            candidate: request.candidate,
            requested_by: requester.clone(),
            co_interviewers,
            time_zone: request.zone.name().to_owned(),
            start_at: request.start,
            length: request.length,
            create_due_at: (request.start - lead).max(now),
            max_attempts: self.inner.config.scheduler.max_attempts,
        };
        let created = self.inner.store.create_interview(&new, now).await?;
        self.wrote();
        tracing::info!(interview = %created.interview.id, start = %created.interview.start_at, "interview recorded");
        Ok((created.interview, password))
    }

    async fn extend(
        &self,
        requester: &Requester,
        id: &InterviewId,
        minutes: u32,
    ) -> Result<Outcome, PrequelError> {
        let interview = self.get(id).await?;
        let total = interview.length.minutes() + minutes;
        let length = InterviewLength::from_minutes(total).map_err(|_| {
            PrequelError::Refused(format!(
                "interview `{id}` lasts {} already; extending it by {} would make {}, and an interview lasts at most 4h",
                interview.length,
                describe_minutes(minutes),
                describe_minutes(total)
            ))
        })?;
        let extended = self
            .inner
            .store
            .extend(id, length, self.now())
            .await
            .map_err(|err| not_found_as(err, id))?;
        self.wrote();
        // The audit trail: cancel and destroy are operations that record who asked; an
        // extension changes only the interview, so who did it goes into its create's log.
        self.audit(
            id,
            format!(
                "extended by {} to {} by {} ({} {})",
                describe_minutes(minutes),
                extended.length,
                requester.display_name,
                requester.platform.as_str(),
                requester.user_id
            ),
        )
        .await;
        Ok(Outcome::Extended(extended))
    }

    /// Appends `message` to the log of the interview's create operation (which lives as long as
    /// the interview). A failure is logged, not the command's: the change itself is recorded.
    async fn audit(&self, id: &InterviewId, message: String) {
        let store = &self.inner.store;
        let now = self.now();
        let create = match store.operations_for(id).await {
            Ok(operations) => operations
                .into_iter()
                .find(|op| op.kind == crate::domain::OperationKind::Create),
            Err(err) => {
                tracing::warn!(interview = %id, error = %err, "could not find the operation to audit");
                return;
            }
        };
        let Some(create) = create else { return };
        let line = LogLine { at: now, message };
        if let Err(err) = store.append_logs(&create.id, &[line], now).await {
            tracing::warn!(interview = %id, error = %err, "could not write the audit line");
        }
    }

    /// Writes a per-user setting (see [`OperationStore::put_user_setting`]).
    pub async fn put_user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
        value: &str,
    ) -> Result<(), PrequelError> {
        Ok(self
            .inner
            .store
            .put_user_setting(platform, user_id, key, value, self.now())
            .await?)
    }

    /// A per-user setting, if it was written.
    pub async fn user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
    ) -> Result<Option<String>, PrequelError> {
        Ok(self
            .inner
            .store
            .user_setting(platform, user_id, key)
            .await?)
    }

    /// The zone `requester` set with `tz`, if any (and still a known zone).
    pub async fn user_zone(&self, requester: &Requester) -> Result<Option<Tz>, PrequelError> {
        let stored = self
            .user_setting(requester.platform, &requester.user_id, TIME_ZONE_SETTING)
            .await?;
        Ok(stored.and_then(|name| name.parse().ok()))
    }

    /// One interview.
    pub async fn get(&self, id: &InterviewId) -> Result<Interview, PrequelError> {
        self.inner
            .store
            .interview(id)
            .await?
            .ok_or_else(|| PrequelError::NotFound(id.clone()))
    }

    /// One interview's operations.
    pub async fn operations(&self, id: &InterviewId) -> Result<Vec<Operation>, PrequelError> {
        Ok(self.inner.store.operations_for(id).await?)
    }

    /// An operation's log lines, one page at a time.
    pub async fn logs(
        &self,
        operation: &OperationId,
        page: &PageRequest,
    ) -> Result<Page<LogLine>, PrequelError> {
        Ok(self.inner.store.logs(operation, page).await?)
    }

    /// Interviews, one page at a time.
    pub async fn list(
        &self,
        scope: InterviewScope,
        page: &PageRequest,
    ) -> Result<Page<Interview>, PrequelError> {
        Ok(self.inner.store.list_interviews(scope, page).await?)
    }

    /// Live events from now on: every change to the store (from this process or another) and
    /// this process's scheduler notes. Requires [`Prequel::start`] to be running.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.bus.subscribe()
    }

    /// Up to `limit` changes after `cursor` from the store's change feed, oldest first (turn
    /// each into an [`Event`] with [`Event::from_change`]). For replaying what a subscriber
    /// missed — a client reconnecting from its last event, or one that lagged behind the bus —
    /// before it goes on with [`Prequel::subscribe`]: subscribe first, then replay, then skip
    /// live events whose cursor was already replayed, and nothing is lost or repeated.
    pub async fn changes_since(
        &self,
        cursor: ChangeCursor,
        limit: u32,
    ) -> Result<ChangeBatch, PrequelError> {
        Ok(self.inner.store.changes_since(cursor, limit).await?)
    }

    /// The cursor of the newest change in the store (where a subscriber "from now" starts).
    pub async fn latest_change(&self) -> Result<ChangeCursor, PrequelError> {
        Ok(self.inner.store.latest_change().await?)
    }

    /// Writes a frontend's note on an interview (see [`OperationStore::put_note`]): `true` if it
    /// was written. With `only_if_absent`, exactly one caller across all replicas gets `true` —
    /// frontends claim a notification this way before sending it, so it goes out once. Notes
    /// are shared by every replica and must hold no secrets.
    #[tracing::instrument(skip_all, fields(interview = %id, key = key))]
    pub async fn put_note(
        &self,
        id: &InterviewId,
        key: &str,
        value: &str,
        only_if_absent: bool,
    ) -> Result<bool, PrequelError> {
        self.inner
            .store
            .put_note(id, key, value, only_if_absent, self.now())
            .await
            .map_err(|err| not_found_as(err, id))
    }

    /// Every note frontends wrote on an interview, by key.
    pub async fn notes(&self, id: &InterviewId) -> Result<BTreeMap<String, String>, PrequelError> {
        Ok(self.inner.store.notes(id).await?)
    }

    /// Claims a chat request's identity (`key`, e.g. `slack:<signature>`) for `window` from now:
    /// `true` the first time any replica on this store sees it, `false` for a replay (see
    /// [`OperationStore::claim_once`]). Frontends call it after a request's signature checked
    /// out and before acting on it.
    pub async fn claim_request(
        &self,
        key: &str,
        window: chrono::Duration,
    ) -> Result<bool, PrequelError> {
        let now = self.now();
        let until = now.checked_add_signed(window).unwrap_or(now);
        Ok(self.inner.store.claim_once(key, until, now).await?)
    }

    /// This process's scheduler counters (all zero while [`Prequel::start`] has not run).
    pub fn stats(&self) -> Arc<SchedulerStats> {
        self.inner.stats.clone()
    }

    /// Whether the store answers, by its cheapest read: for readiness probes.
    pub async fn check_store(&self) -> Result<(), PrequelError> {
        self.inner.store.latest_change().await?;
        Ok(())
    }

    /// Whether this process's scheduler is running: its latest loop pass started within twice
    /// the poll cap (the loop wakes at least once per poll cap, so a scheduler that missed two
    /// wake-ups is stuck or gone). False when [`Prequel::start`] never ran.
    pub fn scheduler_alive(&self) -> bool {
        let cap = self.inner.config.scheduler.poll_cap;
        self.inner
            .stats
            .last_tick()
            .is_some_and(|last| self.now() - last <= cap * 2)
    }

    /// Starts the scheduler and the change-feed follower; they stop when `shutdown` turns true.
    pub async fn start(&self, shutdown: watch::Receiver<bool>) -> Result<Background, PrequelError> {
        let inner = &self.inner;
        let from = inner.store.latest_change().await?;
        let follower =
            ChangeFollower::new(inner.store.clone(), inner.clock.clone(), inner.bus.clone());
        self.sweep_orphans().await;
        let scheduler = Scheduler::new(
            Backends {
                store: inner.store.clone(),
                provisioner: inner.provisioner.clone(),
                secrets: inner.secrets.clone(),
                clock: inner.clock.clone(),
            },
            inner.bus.clone(),
            inner.config.scheduler.clone(),
            inner.new_work.clone(),
        )
        .with_stats(inner.stats.clone());
        let tasks = vec![
            tokio::spawn(follower.run(from, shutdown.clone())),
            tokio::spawn(scheduler.run(shutdown)),
        ];
        Ok(Background { tasks })
    }

    /// Destroys instances whose interview is unknown or has ended (left by a crash between
    /// tearing down and recording it, or by a store that was reset). Instances of live
    /// interviews are left alone: their operations adopt them (provisioners are idempotent).
    async fn sweep_orphans(&self) {
        let inner = &self.inner;
        let instances = match inner.provisioner.instances().await {
            Ok(instances) => instances,
            Err(err) => {
                tracing::warn!(error = %err, "could not list instances to sweep orphans");
                return;
            }
        };
        for id in instances {
            let orphan = match inner.store.interview(&id).await {
                Ok(None) => true,
                Ok(Some(interview)) => {
                    interview.state.is_terminal()
                        && inner
                            .store
                            .operations_for(&id)
                            .await
                            .is_ok_and(|ops| ops.iter().all(|op| op.status.is_terminal()))
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not check instance {id}; leaving it");
                    false
                }
            };
            if orphan {
                tracing::warn!(interview = %id, "destroying an orphan instance");
                let progress = crate::provision::LogOnly;
                if let Err(err) = inner.provisioner.destroy(&id, &progress).await {
                    tracing::warn!(interview = %id, error = %err, "could not destroy an orphan instance");
                }
            }
        }
    }

    /// Rings the bells after a local write: the scheduler looks for new work and the follower
    /// reads the feed at once.
    fn wrote(&self) {
        self.inner.new_work.notify_one();
        self.inner.bus.wrote();
    }
}

/// The most interviews `list` answers with.
const MAX_LISTED: usize = 100;

/// The user ids of the people named with `with`, on the requester's platform. Slack and Discord
/// name people by id (a picked @-mention); a plain `@name` there is not an identity, so it is
/// refused with a hint rather than stored as someone nobody is. The command line and the API
/// name people by login. The requester naming themselves is dropped.
fn co_interviewer_ids(
    requester: &Requester,
    people: &[CoInterviewer],
) -> Result<Vec<String>, PrequelError> {
    let chat = matches!(requester.platform, Platform::Slack | Platform::Discord);
    let mut ids = Vec::new();
    for person in people {
        if chat && let CoInterviewer::Name(name) = person {
            return Err(PrequelError::Command(CommandError::BadCoInterviewer {
                word: format!("@{name}"),
            }));
        }
        let id = person.as_str();
        if id != requester.user_id && !ids.iter().any(|known| known == id) {
            ids.push(id.to_owned());
        }
    }
    Ok(ids)
}

/// A store's "not found" for an interview the user named becomes the facade's own, whose message
/// points to `list`; every other store error stays what it is.
fn not_found_as(err: StoreError, id: &InterviewId) -> PrequelError {
    match err {
        StoreError::NotFound { .. } => PrequelError::NotFound(id.clone()),
        other => PrequelError::Store(other),
    }
}
