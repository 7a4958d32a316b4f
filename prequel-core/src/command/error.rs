//! What can be wrong with a command, each with one line a person can act on.

use thiserror::Error;

use crate::domain::{ChallengeId, InvalidValue, describe_minutes};

/// Why some words are not a command. `Display` is the problem alone (lowercase, no trailing
/// period); [`CommandError::user_message`] adds the hint and is what a person should see.
///
/// Every piece of user text held here is already shortened, so a pasted essay cannot become an
/// essay-sized error.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// No words at all.
    #[error("nothing to do")]
    Empty,
    /// The first word is not an action.
    #[error("unknown action `{word}`")]
    UnknownAction {
        /// The word as typed.
        word: String,
        /// A close action name, when the word looks like a typo of one.
        suggestion: Option<&'static str>,
    },
    /// A required part is not there.
    #[error("missing {what}")]
    Missing {
        /// The parts, in words: `the duration`, `the start time and the challenge`.
        what: String,
        /// What the missing words could look like: `90m`, `tomorrow 2pm 90m`.
        example: String,
    },
    /// Words the grammar has no place for.
    #[error("did not understand `{words}`")]
    Leftover {
        /// The words as typed.
        words: String,
        /// What to do instead.
        hint: String,
    },
    /// A word in the challenge's place that names no installed challenge.
    #[error("unknown challenge `{name}`")]
    UnknownChallenge {
        /// The word as typed.
        name: String,
        /// The challenges that exist.
        known: Vec<ChallengeId>,
        /// A close known challenge, when the word looks like a typo of one.
        suggestion: Option<ChallengeId>,
    },
    /// A duration outside 30 minutes to 4 hours.
    #[error("{0}")]
    Length(InvalidValue),
    /// Text given as a duration that is not one.
    #[error("`{text}` is not a duration")]
    BadDuration {
        /// The text as typed.
        text: String,
    },
    /// An extension outside 5 minutes to 3h30m.
    #[error("an extension is between 5m and 3h30m, not {}", describe_minutes(*.minutes))]
    Extension {
        /// The extension asked for, in minutes (saturated).
        minutes: u32,
    },
    /// Looks like a clock time but is not one (`13pm`, `9:75`).
    #[error("`{text}` is not a time of day")]
    BadTime {
        /// The text as typed.
        text: String,
    },
    /// Looks like a date but is not one (`feb 30`, `2026-13-01`).
    #[error("`{text}` is not a date")]
    BadDate {
        /// The text as typed.
        text: String,
    },
    /// The start has already passed.
    #[error("time in the past: {start} in {zone}")]
    PastTime {
        /// The start, local wall-clock time (`2026-11-23 09:00`).
        start: String,
        /// The user's IANA zone.
        zone: String,
        /// The local wall-clock time now.
        now: String,
        /// What they may have meant (`tomorrow 9am`), when only a time of day was given.
        suggestion: Option<String>,
    },
    /// The local time falls in a daylight-saving gap: the clocks skip it.
    #[error("{local} does not exist in {zone}")]
    NonexistentTime {
        /// The local wall-clock time asked for.
        local: String,
        /// The user's IANA zone.
        zone: String,
    },
    /// Not an interview id.
    #[error("{0}")]
    BadInterviewId(InvalidValue),
    /// Not an IANA time zone name.
    #[error("unknown time zone `{name}`")]
    UnknownZone {
        /// The text as typed.
        name: String,
    },
    /// The same part given twice, so which one is meant is a guess.
    #[error("two {parts} given: `{first}` and `{second}`")]
    Repeated {
        /// The part, plural: `durations`, `challenges`.
        parts: &'static str,
        /// The first as typed.
        first: String,
        /// The second as typed.
        second: String,
    },
    /// `create`/`now` with a start time.
    #[error("`{action}` starts right away and takes no start time, but got `{when}`")]
    StartNotAllowed {
        /// The action word as typed.
        action: String,
        /// The start time words as typed.
        when: String,
    },
    /// A candidate's name longer than [`MAX_CANDIDATE_CHARS`](super::MAX_CANDIDATE_CHARS).
    #[error("the candidate's name has {chars} characters, more than the {limit} allowed")]
    CandidateTooLong {
        /// Its length in characters.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// A candidate's name with a character that shows as something else or as nothing: a
    /// control, a format character (bidi overrides, zero-width) or one Unicode has not assigned.
    #[error("the candidate's name has an invisible or control character ({codepoint})")]
    CandidateCharacter {
        /// The character, as `U+202E RIGHT-TO-LEFT OVERRIDE`-style code point (`U+202E`).
        codepoint: String,
    },
    /// `with` followed by something other than people.
    #[error("`with` takes people, but got `{word}`")]
    BadCoInterviewer {
        /// The word as typed.
        word: String,
    },
    /// More co-interviewers than [`MAX_CO_INTERVIEWERS`](super::MAX_CO_INTERVIEWERS).
    #[error("{count} co-interviewers is more than the {limit} allowed")]
    TooManyCoInterviewers {
        /// How many were named.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// `list` with a word other than `all`.
    #[error("`list` takes only `all`, but got `{word}`")]
    BadListScope {
        /// The word as typed.
        word: String,
    },
    /// `score` with a word that is not a verdict.
    #[error("`{word}` is not a score")]
    BadVerdict {
        /// The word as typed.
        word: String,
    },
    /// A note or score comment longer than [`MAX_REVIEW_CHARS`](crate::review::MAX_REVIEW_CHARS).
    #[error("the {what} has {chars} characters, more than the {limit} allowed")]
    ReviewTooLong {
        /// `note` or `comment`.
        what: &'static str,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        limit: usize,
    },
    /// A note or comment with a control, format or unassigned character.
    #[error("the {what} has an invisible or control character ({codepoint})")]
    ReviewCharacter {
        /// `note` or `comment`.
        what: &'static str,
        /// The character's code point (`U+202E`).
        codepoint: String,
    },
}

const HELP: &str = "type `help` for the commands";

impl CommandError {
    /// A [`CommandError::Missing`] for one or more parts, each with an example; the examples are
    /// joined into one (`tomorrow 2pm 90m`) so the hint reads as the words to add.
    pub(crate) fn missing(parts: &[&str], examples: &[&str]) -> Self {
        let what = match parts {
            [] => String::new(),
            [one] => (*one).to_owned(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        };
        // Examples may hold the user's own words (`january 1 2pm`): one line, no controls.
        let examples: Vec<String> = examples
            .iter()
            .map(|example| crate::domain::truncate_for_message(example))
            .collect();
        Self::Missing {
            what,
            example: examples.join(" "),
        }
    }

    /// The line to show a person: the problem and, after it, what to do about it.
    pub fn user_message(&self) -> String {
        let hint = match self {
            Self::Empty => HELP.to_owned(),
            Self::UnknownAction {
                suggestion: Some(name),
                ..
            } => format!("did you mean `{name}`? {HELP}"),
            Self::UnknownAction {
                suggestion: None, ..
            } => HELP.to_owned(),
            // "missing the duration, e.g. `90m`" reads better with a comma than a semicolon.
            Self::Missing { example, .. } => return format!("{self}, e.g. `{example}`"),
            Self::Leftover { hint, .. } => hint.clone(),
            Self::UnknownChallenge {
                known, suggestion, ..
            } => {
                let known = if known.is_empty() {
                    "no challenges are installed".to_owned()
                } else {
                    let names: Vec<&str> = known.iter().map(ChallengeId::as_str).collect();
                    format!("known challenges: {}", names.join(", "))
                };
                match suggestion {
                    Some(close) => format!("did you mean `{close}`? {known}"),
                    None => known,
                }
            }
            Self::Length(_) | Self::BadDuration { .. } => {
                "write durations like `90m`, `1h30m` or `2h`".to_owned()
            }
            Self::Extension { .. } => "e.g. `extend k7mq2xw9ab3c 30m`".to_owned(),
            Self::BadTime { .. } => "write times like `2pm`, `2:30pm` or `14:00`".to_owned(),
            Self::BadDate { .. } => {
                "write dates like `tomorrow`, `friday`, `nov 25` or `2026-11-25`".to_owned()
            }
            Self::PastTime {
                suggestion: Some(suggestion),
                ..
            } => format!("did you mean \"{suggestion}\"?"),
            Self::PastTime {
                now,
                suggestion: None,
                ..
            } => format!("it is now {now} there"),
            Self::NonexistentTime { .. } => {
                "the clocks jump forward then; pick a time outside the change".to_owned()
            }
            Self::BadInterviewId(_) => "`list` shows your interviews".to_owned(),
            Self::UnknownZone { .. } => {
                "use an IANA name like `Europe/Berlin`, `America/New_York` or `UTC`".to_owned()
            }
            Self::Repeated { .. } => "give each part once".to_owned(),
            Self::StartNotAllowed { .. } => {
                "use `schedule` to start later, e.g. `schedule tomorrow 2pm 90m python`".to_owned()
            }
            Self::CandidateTooLong { .. } => "shorten it".to_owned(),
            Self::CandidateCharacter { .. } => {
                "type the name again with letters, digits, spaces and punctuation only".to_owned()
            }
            Self::BadCoInterviewer { .. } => {
                "name them with the chat's @-mention (pick the person from the list), e.g. `with @alice`, before `for`".to_owned()
            }
            Self::TooManyCoInterviewers { .. } => "name fewer people".to_owned(),
            Self::BadListScope { .. } => {
                "`list` shows yours, `list all` every interview (admins only)".to_owned()
            }
            Self::BadVerdict { .. } => {
                "score with `strong-yes`, `yes`, `no` or `strong-no`, e.g. `score k7mq2xw9ab3c yes clean code`".to_owned()
            }
            Self::ReviewTooLong { .. } => "shorten it, or write two".to_owned(),
            Self::ReviewCharacter { .. } => {
                "type it again with letters, digits, spaces and punctuation only".to_owned()
            }
        };
        format!("{self}; {hint}")
    }
}
