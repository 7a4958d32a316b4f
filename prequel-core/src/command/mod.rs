//! The command grammar: the words after `/interview` (or `prequel parse --`) become a [`Command`].
//!
//! ```text
//! schedule <when> <duration> <challenge> [with @someone…] [for <candidate name…>]
//! now <duration> <challenge> [with …] [for …]   (also `create …`)
//! list [all] | status <id> | cancel <id> | destroy <id> | extend <id> <duration> | creds <id>
//! challenges | tz <IANA zone> | help
//! ```
//!
//! Every command is declared once, in [`COMMANDS`]; the action lookup here, [`help_text`], and
//! the frontends' help and command registration are generated from it.
//!
//! # How it reads
//!
//! Words are split on whitespace (`lex.rs`) and matched case-insensitively. The parts of
//! `schedule` and `now` may come in any order (`90m python tomorrow 2pm` works): each word is
//! tried as, in order, a time of day, a duration, a date phrase and a known challenge. `at` and
//! `on` are filler; `with` takes one or more people as the chat mentions them (`people.rs`); `for`
//! starts the candidate's name, which runs to the end and is kept as typed (on one line:
//! whitespace runs become one space; invisible and control characters are refused).
//! A part given twice, a word with no place, or a missing part is an error rather than a guess.
//! Every error is one [`CommandError`] whose [`user_message`](CommandError::user_message) is one
//! line with a hint.
//!
//! # Natural-language time: why `interim`, and only for dates
//!
//! The design card named `chrono-english`. A phrase table at a base time of Monday
//! 2026-11-23 10:00 (whole phrases handed to each crate, Dialect::Uk) decided otherwise:
//!
//! | phrase               | wanted           | chrono-english 0.2.1 | interim 0.2.2    |
//! |----------------------|------------------|----------------------|------------------|
//! | `tomorrow 2pm`       | 11-24 14:00      | 11-24 10:00 ✗        | 11-24 14:00      |
//! | `today 5pm`          | 11-23 17:00      | 11-23 10:00 ✗        | 11-23 17:00      |
//! | `tomorrow 14:00`     | 11-24 14:00      | 11-24 10:00 ✗        | 11-24 14:00      |
//! | `2pm tomorrow`       | 11-24 14:00      | 11-24 10:00 ✗        | 11-23 14:00 ✗    |
//! | `tomorrow at 2pm`    | 11-24 14:00      | 11-24 10:00 ✗        | error ✗          |
//! | `25 november 2pm`    | 11-25 14:00      | 11-25 14:00          | error ✗          |
//! | `12am` / `12pm`      | 00:00 / 12:00    | error ✗              | 00:00 / 12:00    |
//! | `tomorrow 12am`      | 11-24 00:00      | 11-24 10:00 ✗        | 11-24 12:00 ✗    |
//! | `tomorrow 12pm`      | 11-24 12:00      | 11-24 10:00 ✗        | 11-25 00:00 ✗    |
//! | `nov 25th`           | 11-25            | error ✗              | error ✗          |
//! | `in 2 hours`         | 12:00            | error ✗              | error ✗          |
//! | `jan 5`              | 2027-01-05       | 2026-01-05 ✗         | 2026-01-05 ✗     |
//! | `next friday 9:30am` | 12-04 09:30      | 12-04 09:30          | 12-04 09:30      |
//! | `this friday`        | 11-27            | error ✗              | 11-27            |
//!
//! chrono-english 0.2.1 drops the time after a date, so it is out. interim (a maintained fork)
//! gets dates right but not time-of-day handling in every position. So `when.rs` picks out the
//! time-of-day words itself (`2pm`, `2:30 pm`, `14:00`, `noon`, `midnight`, `12am`), recognises
//! the date words and hands interim only a normalised date phrase (`tomorrow`, `next friday`,
//! `25 nov`, `2026-11-25`) with the user's local wall-clock time as "now"; it keeps only the date.
//! Then chrono-tz turns local date + time into an instant: a time in a DST gap is an error, a
//! time in a DST fold takes the earlier instant. `in 2 hours` is plain instant arithmetic, and a
//! month and day without a year that has passed this year means next year. Durations (`1h30m`,
//! `1.5h`, `90 min`) are read by hand in `length.rs`: the environment notes measured that both
//! crates fail `1h30m`. The table in `tests/it/grammar.rs` holds the phrases and their expected
//! results.
//!
//! "next friday" follows interim's Dialect::Uk: the Friday of next week (`friday` is the coming
//! one). A weekday named on that same weekday means a week later, as in interim.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::domain::{ChallengeId, InterviewId, InterviewLength, truncate_for_message};

mod error;
mod length;
mod lex;
mod people;
mod review;
mod spec;
mod when;

pub use error::CommandError;
pub use length::parse_length;
pub use people::{
    CoInterviewer, MAX_CANDIDATE_CHARS, MAX_CO_INTERVIEWERS, candidate_name, co_interviewers,
};
pub use spec::{ArgSlot, COMMANDS, CommandSpec, help_text};

use lex::Word;
use when::When;

/// The shortest and longest extension, in minutes. The facade checks the 4-hour total; the
/// grammar only checks that the extension itself is sane.
pub const EXTENSION_MINUTES: std::ops::RangeInclusive<u32> = 5..=210;

/// What parsing needs to know about the person and the installation.
#[derive(Debug, Clone, Copy)]
pub struct ParseContext<'a> {
    /// The current time; relative words (`tomorrow`, `in 2 hours`) count from here.
    pub now: DateTime<Utc>,
    /// The user's time zone; times are read as its wall-clock times.
    pub zone: Tz,
    /// The challenges that exist.
    pub challenges: &'a [ChallengeId],
}

/// What an interviewer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Book an interview for later.
    Schedule(InterviewRequest),
    /// Start an interview now (`now …` or `create …`).
    Create(InterviewRequest),
    /// Show the user's open interviews; with `all` (admins only), everyone's.
    List {
        /// Every open interview, not only the user's.
        all: bool,
    },
    /// Show one interview.
    Status(InterviewId),
    /// Call off an interview that has not started.
    Cancel(InterviewId),
    /// End an interview now.
    Destroy(InterviewId),
    /// Give a running interview more time.
    Extend {
        /// The interview.
        interview: InterviewId,
        /// Extra minutes, within [`EXTENSION_MINUTES`].
        minutes: u32,
    },
    /// Send the interview's URL and password again.
    Creds(InterviewId),
    /// List the challenges.
    Challenges,
    /// Set the user's time zone.
    Tz(Tz),
    /// Show the commands.
    Help,
    /// Add a private note to an interview.
    Note {
        /// The interview.
        interview: InterviewId,
        /// The note, one line.
        text: String,
    },
    /// Everything about one interview: times, notes, scores.
    Report(InterviewId),
    /// Give (or change) one's score of an interview.
    Score {
        /// The interview.
        interview: InterviewId,
        /// The verdict.
        verdict: crate::review::Verdict,
        /// Why, if said.
        comment: Option<String>,
    },
}

impl Command {
    /// The interview the command acts on, for those that act on one.
    pub fn interview(&self) -> Option<&InterviewId> {
        match self {
            Self::Status(id)
            | Self::Cancel(id)
            | Self::Destroy(id)
            | Self::Creds(id)
            | Self::Report(id) => Some(id),
            Self::Extend { interview, .. }
            | Self::Note { interview, .. }
            | Self::Score { interview, .. } => Some(interview),
            Self::Schedule(_)
            | Self::Create(_)
            | Self::List { .. }
            | Self::Challenges
            | Self::Tz(_)
            | Self::Help => None,
        }
    }

    /// The action's name, as in [`COMMANDS`]: `schedule`, `create`, `list`, `status`, `cancel`,
    /// `destroy`, `extend`, `creds`, `challenges`, `tz`, `help`, `note`, `score`, `report`.
    pub fn action(&self) -> &'static str {
        match self {
            Self::Schedule(_) => "schedule",
            Self::Create(_) => "create",
            Self::List { .. } => "list",
            Self::Status(_) => "status",
            Self::Cancel(_) => "cancel",
            Self::Destroy(_) => "destroy",
            Self::Extend { .. } => "extend",
            Self::Creds(_) => "creds",
            Self::Note { .. } => "note",
            Self::Report(_) => "report",
            Self::Score { .. } => "score",
            Self::Challenges => "challenges",
            Self::Tz(_) => "tz",
            Self::Help => "help",
        }
    }
}

/// An interview to schedule or start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterviewRequest {
    /// When the candidate starts (for `create`, the parse time).
    pub start: DateTime<Utc>,
    /// How long it lasts.
    pub length: InterviewLength,
    /// Which challenge.
    pub challenge: ChallengeId,
    /// The candidate's name as typed (trimmed), if given.
    pub candidate: Option<String>,
    /// The people the requester shares it with (`with @someone`).
    pub co_interviewers: Vec<CoInterviewer>,
    /// The zone the start was read in, to show times back in it.
    pub zone: Tz,
}

impl InterviewRequest {
    /// When the interview ends.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + self.length.as_duration()
    }
}

/// Reads the words after `/interview`. Never panics, whatever the text.
pub fn parse(text: &str, ctx: &ParseContext<'_>) -> Result<Command, CommandError> {
    let words = lex::words(text);
    let Some((first, rest)) = words.split_first() else {
        return Err(CommandError::Empty);
    };
    let Some(spec) = spec::find(&first.norm) else {
        return Err(CommandError::UnknownAction {
            word: truncate_for_message(first.raw),
            suggestion: lex::closest(&first.norm, spec::action_words()),
        });
    };
    let id = || one_id(text, rest, spec);
    match spec.name {
        "schedule" => request(text, first, rest, ctx, spec, true).map(Command::Schedule),
        "create" => request(text, first, rest, ctx, spec, false).map(Command::Create),
        "list" => list(rest),
        "challenges" => no_more(text, rest, spec).map(|()| Command::Challenges),
        "help" => no_more(text, rest, spec).map(|()| Command::Help),
        "status" => id().map(Command::Status),
        "cancel" => id().map(Command::Cancel),
        "destroy" => id().map(Command::Destroy),
        "creds" => id().map(Command::Creds),
        "report" => id().map(Command::Report),
        "extend" => extend(text, rest, spec),
        "tz" => tz(text, rest, spec),
        "note" => review::note(text, rest, spec),
        "score" => review::score(text, rest, spec),
        // A spec without a branch here; a unit test parses every spec's example, so this is
        // unreachable in practice, but an error is better than a panic.
        _ => Err(CommandError::UnknownAction {
            word: truncate_for_message(first.raw),
            suggestion: None,
        }),
    }
}

/// Reads a start time on its own (`tomorrow 2pm`, `friday at 9:30am`, `in 2 hours`): for typed
/// options (Discord's `when`), where the text holds only the start.
pub fn resolve_when(text: &str, ctx: &ParseContext<'_>) -> Result<DateTime<Utc>, CommandError> {
    let words = lex::words(text);
    let mut parts = Parts::default();
    let mut leftovers = Vec::new();
    let mut at = 0;
    while let Some(rest) = words.get(at..).filter(|rest| !rest.is_empty()) {
        match parts.read_when(text, rest)? {
            Some(used) => at += used,
            None => {
                leftovers.extend(rest.first());
                at += 1;
            }
        }
    }
    if !leftovers.is_empty() {
        return Err(leftover(
            &leftovers,
            ctx,
            "write the start like `tomorrow 2pm` or `friday at 9:30am`".to_owned(),
        ));
    }
    parts.check_one_start()?;
    when::resolve(&parts.when, ctx)
}

/// Reads an IANA time zone name, ignoring case (`europe/berlin` works).
pub fn parse_zone(text: &str) -> Result<Tz, CommandError> {
    let name = text.trim();
    Tz::from_str(name)
        .ok()
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .find(|zone| zone.name().eq_ignore_ascii_case(name))
                .copied()
        })
        .ok_or_else(|| CommandError::UnknownZone {
            name: truncate_for_message(name),
        })
}

/// The challenge ids in a challenges directory: the names of its sub-folders, sorted. Files,
/// hidden folders and names that are not valid (or not already lowercase) challenge ids are
/// skipped, so a stray `README.md` or `.git` does not become a challenge.
pub fn challenge_ids_in_dir(dir: &Path) -> std::io::Result<Vec<ChallengeId>> {
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if !entry.path().is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        // `parse` lowercases; a folder `Python` would then be looked up as `python` and missed on
        // a case-sensitive file system, so only names that are ids exactly as they are count.
        if let Ok(id) = ChallengeId::parse(&name)
            && id.as_str() == name
        {
            ids.push(id);
        }
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

// ---------------------------------------------------------------------------------------------
// Actions with arguments
// ---------------------------------------------------------------------------------------------

fn usage_hint(spec: &CommandSpec) -> String {
    format!("usage: `{}`", spec.usage)
}

fn no_more(text: &str, rest: &[Word<'_>], spec: &CommandSpec) -> Result<(), CommandError> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Leftover {
            words: truncate_for_message(lex::span(text, rest)),
            hint: usage_hint(spec),
        })
    }
}

fn interview_id(word: &Word<'_>) -> Result<InterviewId, CommandError> {
    InterviewId::parse(word.raw).map_err(CommandError::BadInterviewId)
}

fn one_id(text: &str, rest: &[Word<'_>], spec: &CommandSpec) -> Result<InterviewId, CommandError> {
    let Some((word, more)) = rest.split_first() else {
        return Err(CommandError::missing(
            &["the interview id"],
            &[spec.example],
        ));
    };
    let id = interview_id(word)?;
    no_more(text, more, spec)?;
    Ok(id)
}

fn extend(text: &str, rest: &[Word<'_>], spec: &CommandSpec) -> Result<Command, CommandError> {
    let Some((word, more)) = rest.split_first() else {
        return Err(CommandError::missing(
            &["the interview id and the extra time"],
            &[spec.example],
        ));
    };
    let interview = interview_id(word)?;
    let more = match more.split_first() {
        Some((by, after)) if by.norm == "by" => after,
        _ => more,
    };
    if more.is_empty() {
        return Err(CommandError::missing(&["the extra time"], &[spec.example]));
    }
    let Some((minutes, used)) = length::read_duration(more) else {
        return Err(CommandError::BadDuration {
            text: truncate_for_message(lex::span(text, more)),
        });
    };
    no_more(text, more.get(used..).unwrap_or_default(), spec)?;
    let minutes = u32::try_from(minutes).unwrap_or(u32::MAX);
    if !EXTENSION_MINUTES.contains(&minutes) {
        return Err(CommandError::Extension { minutes });
    }
    Ok(Command::Extend { interview, minutes })
}

fn list(rest: &[Word<'_>]) -> Result<Command, CommandError> {
    match rest {
        [] => Ok(Command::List { all: false }),
        [word] if word.norm == "all" => Ok(Command::List { all: true }),
        [word, ..] => Err(CommandError::BadListScope {
            word: truncate_for_message(word.raw),
        }),
    }
}

fn tz(text: &str, rest: &[Word<'_>], spec: &CommandSpec) -> Result<Command, CommandError> {
    let Some((word, more)) = rest.split_first() else {
        return Err(CommandError::missing(&["the time zone"], &[spec.example]));
    };
    let zone = parse_zone(word.raw)?;
    no_more(text, more, spec)?;
    Ok(Command::Tz(zone))
}

// ---------------------------------------------------------------------------------------------
// schedule / now
// ---------------------------------------------------------------------------------------------

/// The parts of an interview request found so far, with the words each came from.
#[derive(Debug, Default)]
struct Parts {
    when: When,
    duration: Option<(u64, String)>,
    challenge: Option<(ChallengeId, String)>,
    candidate: Option<String>,
    co_interviewers: Vec<CoInterviewer>,
}

/// Records a part, or reports it as given twice.
fn set_once<T>(
    slot: &mut Option<T>,
    value: T,
    parts: &'static str,
    typed: impl Fn(&T) -> &str,
) -> Result<(), CommandError> {
    if let Some(first) = slot {
        return Err(CommandError::Repeated {
            parts,
            first: truncate_for_message(typed(first)),
            second: truncate_for_message(typed(&value)),
        });
    }
    *slot = Some(value);
    Ok(())
}

impl Parts {
    /// Tries the start-time readers at `rest[0]`; `Some(words used)` if one matched.
    fn read_when(&mut self, text: &str, rest: &[Word<'_>]) -> Result<Option<usize>, CommandError> {
        let Some(first) = rest.first() else {
            return Ok(None);
        };
        match first.norm.as_str() {
            "at" | "on" => return Ok(Some(1)),
            "in" => {
                if let Some((minutes, used)) =
                    length::read_duration(rest.get(1..).unwrap_or_default())
                {
                    let typed = lex::span(text, rest.get(..=used).unwrap_or_default()).to_owned();
                    set_once(
                        &mut self.when.after,
                        (minutes, typed),
                        "relative start times",
                        |(_, t)| t,
                    )?;
                    return Ok(Some(used + 1));
                }
            }
            _ => {}
        }
        if let Some(time) = when::read_time(text, rest) {
            let (time, used) = time?;
            set_once(&mut self.when.time, time, "times of day", |t| &t.typed)?;
            return Ok(Some(used));
        }
        if let Some((date, used)) = when::read_date(text, rest) {
            set_once(&mut self.when.date, date, "dates", |d| &d.typed)?;
            return Ok(Some(used));
        }
        Ok(None)
    }

    /// `in 2 hours` cannot be combined with a date or a time.
    fn check_one_start(&self) -> Result<(), CommandError> {
        let absolute = [
            self.when.date.as_ref().map(|d| d.typed.as_str()),
            self.when.time.as_ref().map(|t| t.typed.as_str()),
        ];
        if let (Some((_, after)), Some(other)) =
            (&self.when.after, absolute.into_iter().flatten().next())
        {
            return Err(CommandError::Repeated {
                parts: "start times",
                first: truncate_for_message(after),
                second: truncate_for_message(other),
            });
        }
        Ok(())
    }
}

/// Words a leftover might be a typo of, for the hint.
fn known_words<'c>(ctx: &'c ParseContext<'_>) -> impl Iterator<Item = &'c str> {
    // `chain` needs one item type, so the 'static words are shortened to the context's lifetime.
    let fixed = when::vocabulary().chain(length::UNIT_WORDS.iter().copied());
    fixed
        .map(|word: &'static str| -> &'c str { word })
        .chain(ctx.challenges.iter().map(ChallengeId::as_str))
}

/// Words with no place; the hint is a typo suggestion, a note on numbers, or `otherwise`.
fn leftover(words: &[&Word<'_>], ctx: &ParseContext<'_>, otherwise: String) -> CommandError {
    let typed: Vec<&str> = words.iter().map(|w| w.raw).collect();
    let typo = words
        .iter()
        .find_map(|w| lex::closest(&w.norm, known_words(ctx)));
    let hint = if let Some(close) = typo {
        format!("did you mean `{close}`?")
    } else if words
        .iter()
        .any(|w| w.norm.starts_with(|c: char| c.is_ascii_digit()))
    {
        "write times like `2pm` or `14:00` and durations like `90m`".to_owned()
    } else {
        otherwise
    };
    CommandError::Leftover {
        words: truncate_for_message(&typed.join(" ")),
        hint,
    }
}

/// When no challenge was recognised, the leftover word that was most likely meant as one: shaped
/// like a challenge id, not a number, and not a typo of a date or duration word.
fn unknown_challenge(words: &[&Word<'_>], ctx: &ParseContext<'_>) -> Option<CommandError> {
    let not_challenge_words = || when::vocabulary().chain(length::UNIT_WORDS.iter().copied());
    let word = words.iter().find(|w| {
        ChallengeId::parse(&w.norm).is_ok()
            && !w.norm.starts_with(|c: char| c.is_ascii_digit())
            && lex::closest(&w.norm, not_challenge_words()).is_none()
    })?;
    let suggestion = lex::closest(&word.norm, ctx.challenges.iter().map(ChallengeId::as_str))
        .and_then(|close| ChallengeId::parse(close).ok());
    Some(CommandError::UnknownChallenge {
        name: truncate_for_message(word.raw),
        known: ctx.challenges.to_vec(),
        suggestion,
    })
}

/// `schedule …` (`scheduled` = true) or `now …`.
fn request(
    text: &str,
    action: &Word<'_>,
    rest: &[Word<'_>],
    ctx: &ParseContext<'_>,
    spec: &CommandSpec,
    scheduled: bool,
) -> Result<InterviewRequest, CommandError> {
    let mut parts = Parts::default();
    let mut leftovers = Vec::new();
    let mut at = 0;
    while let Some(words) = rest.get(at..).filter(|words| !words.is_empty()) {
        let Some(first) = words.first() else { break };
        if first.norm == "for" {
            parts.candidate = Some(candidate_name(text.get(first.end..).unwrap_or_default())?);
            break;
        }
        if first.norm == "with" {
            at += people::read_with(words, &mut parts.co_interviewers)?;
            continue;
        }
        if let Some(used) = parts.read_when(text, words)? {
            at += used;
        } else if let Some((minutes, used)) = length::read_duration(words) {
            let typed = lex::span(text, words.get(..used).unwrap_or_default()).to_owned();
            set_once(
                &mut parts.duration,
                (minutes, typed),
                "durations",
                |(_, t)| t,
            )?;
            at += used;
        } else if let Some(id) = ctx.challenges.iter().find(|id| id.as_str() == first.norm) {
            let value = (id.clone(), first.raw.to_owned());
            set_once(&mut parts.challenge, value, "challenges", |(_, t)| t)?;
            at += 1;
        } else {
            leftovers.push(first);
            at += 1;
        }
    }

    if !leftovers.is_empty() {
        let challenge_error = parts
            .challenge
            .is_none()
            .then(|| unknown_challenge(&leftovers, ctx))
            .flatten();
        return Err(challenge_error.unwrap_or_else(|| leftover(&leftovers, ctx, usage_hint(spec))));
    }
    if !scheduled && !parts.when.is_empty() {
        return Err(CommandError::StartNotAllowed {
            action: truncate_for_message(action.raw),
            when: truncate_for_message(&parts.when.typed()),
        });
    }
    parts.check_one_start()?;

    let mut missing: Vec<&str> = Vec::new();
    let mut examples: Vec<String> = Vec::new();
    if scheduled {
        match (&parts.when.date, &parts.when.time, &parts.when.after) {
            (None, None, None) => {
                missing.push("the start time");
                examples.push("tomorrow 2pm".to_owned());
            }
            (Some(date), None, None) => {
                missing.push("the time of day");
                examples.push(format!("{} 2pm", date.typed));
            }
            _ => {}
        }
    }
    if parts.duration.is_none() {
        missing.push("the duration");
        examples.push("90m".to_owned());
    }
    if parts.challenge.is_none() {
        missing.push("the challenge");
        let example = ctx.challenges.first().map_or("python", ChallengeId::as_str);
        examples.push(example.to_owned());
    }
    if !missing.is_empty() {
        let examples: Vec<&str> = examples.iter().map(String::as_str).collect();
        return Err(CommandError::missing(&missing, &examples));
    }

    let (Some((minutes, _)), Some((challenge, _))) = (parts.duration, parts.challenge) else {
        // Both were checked just above; report rather than panic if that ever changes.
        return Err(CommandError::missing(
            &["the duration and the challenge"],
            &["90m python"],
        ));
    };
    let length = length::to_length(minutes)?;
    let start = if scheduled {
        when::resolve(&parts.when, ctx)?
    } else {
        ctx.now
    };
    Ok(InterviewRequest {
        start,
        length,
        challenge,
        candidate: parts.candidate,
        co_interviewers: parts.co_interviewers,
        zone: ctx.zone,
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn challenges() -> Vec<ChallengeId> {
        ["javascript", "python", "sql"]
            .into_iter()
            .filter_map(|id| ChallengeId::parse(id).ok())
            .collect()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn every_spec_example_parses_to_its_own_action() {
        let known = challenges();
        let ctx = ParseContext {
            now: now(),
            zone: chrono_tz::Europe::Berlin,
            challenges: &known,
        };
        for spec in COMMANDS {
            let parsed = parse(spec.example, &ctx).map(|c| c.action());
            assert_eq!(parsed, Ok(spec.name), "example of {}", spec.name);
            for alias in spec.aliases {
                let example = spec.example.replacen(
                    spec.example.split_whitespace().next().unwrap_or_default(),
                    alias,
                    1,
                );
                assert_eq!(
                    parse(&example, &ctx).map(|c| c.action()),
                    Ok(spec.name),
                    "{example}"
                );
            }
        }
    }

    #[test]
    fn typed_options_become_the_words_in_the_grammars_order() {
        let schedule = spec::find("schedule").expect("a spec");
        let values = [
            ("candidate", "Ada Lovelace"),
            ("with", "<@1>"),
            ("challenge", "python"),
            ("when", "tomorrow 2pm"),
            ("duration", " "),
        ];
        let words = schedule.words(|name| {
            values
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        });
        assert_eq!(
            words, "schedule tomorrow 2pm python with <@1> for Ada Lovelace",
            "blank values are left out; `for` comes last"
        );
        for spec in COMMANDS {
            let keywords: Vec<&str> = spec.args.iter().map(|a| a.keyword).collect();
            if let Some(at) = keywords.iter().position(|k| *k == "for") {
                assert_eq!(at, keywords.len() - 1, "{}: `for` must be last", spec.name);
            }
            let required_after_optional = spec
                .args
                .windows(2)
                .any(|pair| !pair[0].required && pair[1].required);
            assert!(
                !required_after_optional,
                "{}: Discord wants required options first",
                spec.name
            );
            assert!(
                spec.args
                    .iter()
                    .all(|a| a.description.chars().count() <= 100)
            );
        }
    }

    #[test]
    fn action_words_and_aliases_are_unique() {
        let mut words: Vec<&str> = spec::action_words().collect();
        let count = words.len();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), count);
    }

    #[test]
    fn help_lists_every_command_and_alias() {
        let help = help_text();
        for spec in COMMANDS {
            assert!(help.contains(&format!("`{}`", spec.usage)), "{}", spec.name);
            for alias in spec.aliases {
                assert!(help.contains(&format!("`{alias}`")), "{alias}");
            }
        }
    }

    #[test]
    fn challenge_ids_are_the_valid_sub_folder_names() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        for name in ["sql", "python", "Upper", ".git", "has space"] {
            std::fs::create_dir(dir.path().join(name))?;
        }
        std::fs::write(dir.path().join("README.md"), "not a challenge")?;
        let ids: Vec<String> = challenge_ids_in_dir(dir.path())?
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(ids, ["python", "sql"]);
        assert!(challenge_ids_in_dir(&dir.path().join("missing")).is_err());
        Ok(())
    }

    #[test]
    fn zones_parse_ignoring_case() {
        assert_eq!(parse_zone("europe/berlin"), Ok(chrono_tz::Europe::Berlin));
        assert_eq!(parse_zone("UTC"), Ok(chrono_tz::UTC));
        assert!(parse_zone("Mars/Olympus").is_err());
    }

    /// The grammar's own words, so generated sequences reach deep into the parser rather than
    /// failing at the first word.
    const VOCABULARY: &[&str] = &[
        "schedule",
        "now",
        "create",
        "list",
        "status",
        "cancel",
        "destroy",
        "extend",
        "creds",
        "challenges",
        "tz",
        "help",
        "book",
        "at",
        "on",
        "in",
        "for",
        "by",
        "and",
        "of",
        "tomorrow",
        "today",
        "next",
        "this",
        "friday",
        "fri",
        "mon",
        "nov",
        "november",
        "jan",
        "feb",
        "25",
        "25th",
        "29",
        "31",
        "2026",
        "2027",
        "2026-11-25",
        "2027-03-28",
        "2026-02-30",
        "2pm",
        "2",
        "pm",
        "am",
        "12am",
        "12pm",
        "2:30pm",
        "14:00",
        "02:30",
        "13pm",
        "9:75",
        "noon",
        "midnight",
        "90m",
        "1h30m",
        "1h",
        "30m",
        "1.5h",
        "90",
        "minutes",
        "min",
        "hours",
        "hour",
        "2h",
        "5h",
        "0m",
        "99999999999999999999h",
        "python",
        "sql",
        "rust",
        "Ada",
        "Lovelace",
        "k7mq2xw9ab3c",
        "x",
        "Europe/Berlin",
        "europe/berlin",
        "Mars/Base",
        "",
        "ü",
        "2.30pm",
        ",",
        "30",
        "4h",
        "tmrw",
    ];

    /// Zones with DST both ways, none, and a +14:00 offset (dates differ from UTC's by a day).
    const ZONES: &[Tz] = &[
        chrono_tz::Europe::Berlin,
        chrono_tz::America::New_York,
        chrono_tz::UTC,
        chrono_tz::Pacific::Kiritimati,
    ];

    fn check_never_panics(text: &str, zone: Tz) {
        let known = challenges();
        let ctx = ParseContext {
            now: now(),
            zone,
            challenges: &known,
        };
        match parse(text, &ctx) {
            Ok(Command::Schedule(request)) => {
                assert!(request.start >= ctx.now, "{text:?} starts in the past");
                assert!(
                    request
                        .candidate
                        .is_none_or(|c| c.chars().count() <= MAX_CANDIDATE_CHARS)
                );
            }
            Ok(Command::Extend { minutes, .. }) => assert!(EXTENSION_MINUTES.contains(&minutes)),
            Ok(_) => {}
            Err(error) => {
                let line = error.user_message();
                assert!(
                    !line.contains('\n'),
                    "{text:?} gave a multi-line error: {line}"
                );
                // Quoted user text is truncated, so errors stay short whatever was typed.
                assert!(
                    line.chars().count() < 400,
                    "{text:?} gave a long error: {line}"
                );
                assert!(!line.ends_with('.'), "{line}");
            }
        }
        let _ = resolve_when(text, &ctx);
        let _ = parse_length(text);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            check_never_panics(&text, chrono_tz::Europe::Berlin);
        }

        #[test]
        fn vocabulary_sequences_never_panic(
            words in prop::collection::vec(prop::sample::select(VOCABULARY), 0..9),
            zone in prop::sample::select(ZONES),
        ) {
            check_never_panics(&words.join(" "), zone);
        }
    }
}
