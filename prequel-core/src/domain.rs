//! The nouns of Prequel: interviews, operations and the small value types they are made of.
//!
//! Every type here validates on construction (`parse`/`new`), so the rest of the code never sees an
//! interview id that is not DNS-safe or an interview length of 29 minutes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A value that failed validation; the message names what was wrong, in words a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

/// The conversions every text newtype here shares: shown as its text, stored as its text, and
/// read back through its own `parse` (so storage and serde validate exactly like user input).
macro_rules! text_newtype {
    ($name:ident) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------------------------

/// Alphabet for generated ids: lowercase letters and digits without the look-alikes `l`, `o`, `0`,
/// `1`, so an id read aloud or typed from a screenshot survives. 32 symbols = 5 bits each.
const ID_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
/// Letters only, for the first character: DNS labels read best starting with a letter.
const ID_FIRST: &[u8; 24] = b"abcdefghijkmnpqrstuvwxyz";

fn random_id(len: usize) -> String {
    // `rand::rng()` is a CSPRNG (ChaCha, seeded from the OS), so ids are unguessable.
    let mut rng = rand::rng();
    let mut out = String::with_capacity(len);
    out.push(ID_FIRST[rng.random_range(0..ID_FIRST.len())] as char);
    for _ in 1..len {
        out.push(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())] as char);
    }
    out
}

/// Identifies one interview. Short, lowercase, URL- and DNS-label-safe and unguessable: it becomes
/// the subdomain of the instance (`{id}.{domain}`), so it must not be enumerable.
///
/// Generated ids have 12 characters (≈ 59 bits of entropy); `parse` accepts 4–32 characters of
/// `[a-z0-9]` starting with a letter, so ids typed by a person are normalised to lowercase first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InterviewId(String);

impl InterviewId {
    /// Length of generated ids.
    pub const GENERATED_LEN: usize = 12;

    /// A fresh random id.
    pub fn generate() -> Self {
        Self(random_id(Self::GENERATED_LEN))
    }

    /// Validates an id given by a person or read back from storage (case-insensitive).
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let id = text.trim().to_ascii_lowercase();
        let valid = (4..=32).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if valid {
            Ok(Self(id))
        } else {
            Err(InvalidValue(format!(
                "`{}` is not an interview id (ids look like `k7mq2xw9ab3c`)",
                truncate_for_message(text)
            )))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(InterviewId);

/// Identifies one operation (a create or a destroy of one interview).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperationId(String);

impl OperationId {
    /// A fresh random id, prefixed `op-` so logs tell operations and interviews apart.
    pub fn generate() -> Self {
        Self(format!("op-{}", random_id(16)))
    }

    /// Validates an operation id read back from storage.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let valid = text.len() <= 64
            && text.starts_with("op-")
            && text[3..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            && text.len() > 3;
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidValue(format!(
                "`{}` is not an operation id",
                truncate_for_message(text)
            )))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(OperationId);

/// Names a challenge: the folder name under `challenge/` (`python`, `javascript`, `sql`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ChallengeId(String);

impl ChallengeId {
    /// Validates a challenge id: 1–40 characters of `[a-z0-9_-]`, starting with a letter or digit.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let id = text.trim().to_ascii_lowercase();
        let valid = (1..=40).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_alphanumeric())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if valid {
            Ok(Self(id))
        } else {
            Err(InvalidValue(format!(
                "`{}` is not a challenge name",
                truncate_for_message(text)
            )))
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

text_newtype!(ChallengeId);

// ---------------------------------------------------------------------------------------------
// Interview length
// ---------------------------------------------------------------------------------------------

/// How long an interview lasts: at least 30 minutes, at most 4 hours. The type cannot hold
/// anything else, so "29 minutes" is rejected where it is typed, not somewhere downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct InterviewLength(u32);

impl InterviewLength {
    /// The shortest interview, in minutes.
    pub const MIN_MINUTES: u32 = 30;
    /// The longest interview, in minutes (also the cap on extensions).
    pub const MAX_MINUTES: u32 = 240;

    /// A length of `minutes`, or an error that says the bounds.
    pub fn from_minutes(minutes: u32) -> Result<Self, InvalidValue> {
        if (Self::MIN_MINUTES..=Self::MAX_MINUTES).contains(&minutes) {
            Ok(Self(minutes))
        } else {
            Err(InvalidValue(format!(
                "an interview lasts between 30 minutes and 4 hours, not {}",
                describe_minutes(minutes)
            )))
        }
    }

    /// The length in minutes.
    pub fn minutes(self) -> u32 {
        self.0
    }

    /// The length as a chrono duration.
    pub fn as_duration(self) -> Duration {
        Duration::minutes(i64::from(self.0))
    }
}

impl TryFrom<u32> for InterviewLength {
    type Error = InvalidValue;
    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::from_minutes(value)
    }
}

impl From<InterviewLength> for u32 {
    fn from(value: InterviewLength) -> Self {
        value.0
    }
}

impl fmt::Display for InterviewLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_minutes(self.0))
    }
}

/// "90 minutes" → "1h30m"-style text people read in messages: `30m`, `2h`, `1h30m`.
pub fn describe_minutes(minutes: u32) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

// ---------------------------------------------------------------------------------------------
// Who asked
// ---------------------------------------------------------------------------------------------

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// A Slack slash command or button.
    Slack,
    /// A Discord application command or button.
    Discord,
    /// The `prequel` command line, through the JSON API.
    Cli,
    /// The JSON API called directly.
    Api,
}

impl Platform {
    /// The platform's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Cli => "cli",
            Self::Api => "api",
        }
    }

    /// Parses a stored platform name.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "slack" => Ok(Self::Slack),
            "discord" => Ok(Self::Discord),
            "cli" => Ok(Self::Cli),
            "api" => Ok(Self::Api),
            other => Err(InvalidValue(format!("unknown platform `{other}`"))),
        }
    }
}

/// The person who asked for something: recorded on interviews and operations (the audit trail)
/// and used to send them their credentials.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Requester {
    /// The chat platform or tool the request came through.
    pub platform: Platform,
    /// The platform's stable user id (`U2CERLKJA` on Slack, a snowflake on Discord, a login on the CLI).
    pub user_id: String,
    /// The name to show, as the platform gave it at the time.
    pub display_name: String,
}

// ---------------------------------------------------------------------------------------------
// States
// ---------------------------------------------------------------------------------------------

/// The life of an interview:
/// `scheduled → initializing → configuring → active → destroying → destroyed`, or `failed` /
/// `cancelled` from any non-terminal state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterviewState {
    /// Recorded; waiting for its start time (minus the lead time).
    Scheduled,
    /// The instance is being started.
    Initializing,
    /// The instance runs; the challenge's files are being put in place.
    Configuring,
    /// Ready: the candidate can log in.
    Active,
    /// The work is being archived and the instance torn down.
    Destroying,
    /// Archived and gone. Terminal.
    Destroyed,
    /// Could not be provisioned (or its start was missed). Terminal; see the failure reason.
    Failed,
    /// Called off before it started. Terminal.
    Cancelled,
}

impl InterviewState {
    /// Every state, in life order.
    pub const ALL: [Self; 8] = [
        Self::Scheduled,
        Self::Initializing,
        Self::Configuring,
        Self::Active,
        Self::Destroying,
        Self::Destroyed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Whether nothing more will happen to the interview (and its record may expire).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Destroyed | Self::Failed | Self::Cancelled)
    }

    /// The state's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Initializing => "initializing",
            Self::Configuring => "configuring",
            Self::Active => "active",
            Self::Destroying => "destroying",
            Self::Destroyed => "destroyed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored state name.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| InvalidValue(format!("unknown interview state `{text}`")))
    }
}

impl fmt::Display for InterviewState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operation does to its interview.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Provision the instance.
    Create,
    /// Archive the work and tear the instance down. At most one per interview.
    Destroy,
}

impl OperationKind {
    /// The kind's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Destroy => "destroy",
        }
    }

    /// Parses a stored kind name.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        match text {
            "create" => Ok(Self::Create),
            "destroy" => Ok(Self::Destroy),
            other => Err(InvalidValue(format!("unknown operation kind `{other}`"))),
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an operation is in its life. `pending` (due now) and `scheduled` (due later, or waiting
/// for a retry) are claimable once due; `running` holds a lease; the rest are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Waiting for a worker; due immediately.
    Pending,
    /// Waiting for its due time (the start minus lead time, or the next retry).
    Scheduled,
    /// Claimed by a worker whose lease has not expired.
    Running,
    /// Done. Terminal.
    Completed,
    /// Gave up after the last attempt (or was refused). Terminal.
    Failed,
    /// Called off. Terminal.
    Cancelled,
}

impl OperationStatus {
    /// Every status.
    pub const ALL: [Self; 6] = [
        Self::Pending,
        Self::Scheduled,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// Whether the operation is finished.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The status's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored status name.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| InvalidValue(format!("unknown operation status `{text}`")))
    }
}

impl fmt::Display for OperationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// One interview: what was asked for, by whom, for when, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interview {
    /// The interview's id (and subdomain).
    pub id: InterviewId,
    /// Which challenge's files the candidate gets.
    pub challenge: ChallengeId,
    /// The candidate's name, when the interviewer gave one.
    pub candidate: Option<String>,
    /// Who asked for it.
    pub requested_by: Requester,
    /// The people the requester named to share it (`with @someone`): user ids on the
    /// requester's platform. They may act on it as the requester may and get its credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_interviewers: Vec<String>,
    /// The IANA time zone the requester's times were read in; used to show times back to them.
    pub time_zone: String,
    /// When the candidate starts. The instance is made ready before this (the scheduler's lead time).
    pub start_at: DateTime<Utc>,
    /// How long it lasts, including extensions.
    pub length: InterviewLength,
    /// When the work is archived and the instance destroyed (`start_at + length`).
    pub destroy_at: DateTime<Utc>,
    /// Where the interview stands.
    pub state: InterviewState,
    /// The instance's URL, once it has one.
    pub access_url: Option<String>,
    /// The checksum (`sha256:…`) of the challenge bundle put into the workspace, once created.
    pub challenge_checksum: Option<String>,
    /// Where the candidate's work was archived, once destroyed.
    pub archive: Option<String>,
    /// Why it failed or was cancelled, in words (`missed`, the provisioner's error, …).
    pub reason: Option<String>,
    /// When the 10-minute warning before the destroy time went out (at most once).
    pub warned_at: Option<DateTime<Utc>>,
    /// When the record was made.
    pub created_at: DateTime<Utc>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// When the record may be deleted; set only once the interview is terminal.
    pub expires_at: Option<DateTime<Utc>>,
    /// Bumped on every change (optimistic concurrency).
    pub version: u64,
}

/// One create or destroy of one interview, with the bookkeeping that makes it happen exactly once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The operation's id.
    pub id: OperationId,
    /// The interview it acts on.
    pub interview_id: InterviewId,
    /// Create or destroy.
    pub kind: OperationKind,
    /// Where it stands.
    pub status: OperationStatus,
    /// When it may next be claimed (the start minus lead time, the destroy time, or a retry time).
    pub due_at: DateTime<Utc>,
    /// How many times it has been claimed.
    pub attempts: u32,
    /// Claims allowed before it is failed for good.
    pub max_attempts: u32,
    /// The worker holding it, while `running`.
    pub lease_holder: Option<String>,
    /// When the holder's lease runs out unless renewed.
    pub lease_until: Option<DateTime<Utc>>,
    /// Who asked for it (the audit trail).
    pub requested_by: Requester,
    /// What it produced, when it completed (for a create, the access URL).
    pub result: Option<String>,
    /// The last error, in words.
    pub error: Option<String>,
    /// When the record was made.
    pub created_at: DateTime<Utc>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// When the record may be deleted; set only once the operation is terminal.
    pub expires_at: Option<DateTime<Utc>>,
    /// Bumped on every change; claims are conditional on it.
    pub version: u64,
}

/// One line of an operation's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// When it was written.
    pub at: DateTime<Utc>,
    /// The text (never a secret).
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// A secret (password, token, signing key). Its `Debug` and `Display` print `[redacted]`, it is
/// not `Serialize`, and the only way to read it is [`SecretString::expose`], so a secret cannot
/// slip into a log line, an event or an API response by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Call this only where the secret leaves on purpose (a DM to the
    /// requester, the instance's environment).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([redacted])")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Makes user text fit to be quoted in a one-line error: shortened, so a 10 kB paste does not
/// become a 10 kB error line, and with every line break or other whitespace shown as a space and
/// every other control character as `�`, so the error stays one line and a terminal escape in
/// the input (`\u{1b}[31m`) is never replayed by whoever prints it. (Found by the grammar fuzz.)
pub(crate) fn truncate_for_message(text: &str) -> String {
    const LIMIT: usize = 40;
    let mut chars = text.chars().map(|c| {
        if c.is_whitespace() {
            ' '
        } else if c.is_control() {
            '\u{fffd}'
        } else {
            c
        }
    });
    let head: String = chars.by_ref().take(LIMIT).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_text_is_one_line_without_control_characters() {
        assert_eq!(truncate_for_message("a\nb\r\tc\u{2028}d"), "a b  c d");
        assert_eq!(truncate_for_message("dance\u{1b}[31m"), "dance\u{fffd}[31m");
        assert_eq!(
            truncate_for_message(&"x".repeat(50)),
            format!("{}…", "x".repeat(40))
        );
    }

    #[test]
    fn generated_interview_ids_are_dns_labels_and_distinct() {
        let ids: std::collections::HashSet<_> =
            (0..2000).map(|_| InterviewId::generate()).collect();
        assert_eq!(ids.len(), 2000);
        for id in &ids {
            assert_eq!(id.as_str().len(), InterviewId::GENERATED_LEN);
            assert_eq!(InterviewId::parse(id.as_str()).as_ref(), Ok(id));
            assert!(id.as_str().starts_with(|c: char| c.is_ascii_lowercase()));
        }
    }

    #[test]
    fn interview_id_parse_lowercases_and_rejects_unsafe_text() {
        assert_eq!(
            InterviewId::parse("AbCd2345").map(String::from),
            Ok("abcd2345".into())
        );
        for bad in [
            "",
            "abc",
            "1abcd",
            "ab-cd",
            "ab.cd",
            "ab cd",
            "ab/cd",
            &"a".repeat(33),
        ] {
            assert!(InterviewId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn interview_length_holds_only_30_minutes_to_4_hours() {
        assert!(InterviewLength::from_minutes(29).is_err());
        assert!(InterviewLength::from_minutes(241).is_err());
        assert_eq!(InterviewLength::from_minutes(30).map(u32::from), Ok(30));
        assert_eq!(InterviewLength::from_minutes(240).map(u32::from), Ok(240));
        let err = InterviewLength::from_minutes(300).unwrap_err();
        assert_eq!(
            err.0,
            "an interview lasts between 30 minutes and 4 hours, not 5h"
        );
        assert!(serde_json::from_str::<InterviewLength>("29").is_err());
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        let secret = SecretString::new("hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "SecretString([redacted])");
        assert_eq!(secret.to_string(), "[redacted]");
        assert_eq!(secret.expose(), "hunter2-hunter2");
    }

    #[test]
    fn state_names_round_trip() {
        for state in InterviewState::ALL {
            assert_eq!(InterviewState::parse(state.as_str()), Ok(state));
        }
        for status in OperationStatus::ALL {
            assert_eq!(OperationStatus::parse(status.as_str()), Ok(status));
        }
    }
}
