//! The command grammar fuzzed (issue 9, "bad input"): random Unicode, random sequences of the
//! grammar's own words, and mutations of valid phrases (words inserted, dropped, swapped,
//! doubled; control, right-to-left and zero-width characters; huge numbers; very long input).
//!
//! Whatever the text, [`parse`] (and the typed-option readers [`resolve_when`], [`parse_length`],
//! [`parse_zone`]) must not panic; every error must read as one short, non-empty, printable line;
//! and every command must be sane (lengths within 30 minutes to 4 hours, schedules in the future,
//! extensions within bounds) and read back to itself when written out again.
//!
//! The generators and the check live in [`run`], shared with the release-mode bench
//! `benches/grammar_fuzz.rs` (`cargo bench -p prequel-core --bench grammar_fuzz`), which runs
//! more than 10^6 cases; this test runs [`CI_CASES`] of them in a debug build. The seed is fixed,
//! so a failure is reproducible; proptest shrinks it to a small input before reporting it.

use std::cell::Cell;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use prequel_core::command::{
    COMMANDS, Command, EXTENSION_MINUTES, MAX_CANDIDATE_CHARS, ParseContext, parse, parse_length,
    parse_zone, resolve_when,
};
use prequel_core::domain::ChallengeId;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

/// Cases in the debug-build test (the bench runs more).
pub const CI_CASES: u32 = 3_000;

/// The longest error line accepted, in characters.
pub const MAX_ERROR_CHARS: usize = 300;

/// The challenges installed while fuzzing.
const CHALLENGES: &[&str] = &["javascript", "python", "sql"];

/// Zones with DST both ways, none, a +14:00 offset and a half-hour one.
const ZONES: &[Tz] = &[
    chrono_tz::Europe::Berlin,
    chrono_tz::America::New_York,
    chrono_tz::UTC,
    chrono_tz::Pacific::Kiritimati,
    chrono_tz::Asia::Kolkata,
];

/// "Now" for a case: Monday 10:00, just before Berlin's spring-forward, and a leap day.
const NOWS: &[(i32, u32, u32, u32)] = &[(2026, 11, 23, 10), (2027, 3, 27, 12), (2028, 2, 29, 23)];

/// Phrases that parse (on 2026-11-23 in Berlin at least), the seeds of the mutations.
const VALID: &[&str] = &[
    "schedule tomorrow 2pm 90m python",
    "schedule python 90m 2pm tomorrow",
    "book tmrw 2 pm 90m python",
    "schedule tomorrow at 2pm 1h30m sql for Ada Lovelace",
    "schedule next friday 9:30am 2h sql",
    "schedule on Fri at 9:30 a.m. 2h sql",
    "schedule 2026-11-25 14:00 1h30m javascript",
    "schedule nov 25 2:30pm 1.5h python",
    "schedule 25th of November 2027 noon 2 hours python",
    "schedule November 25, 2027 noon 2 hours python",
    "schedule jan 5 10am 1 hour 30 minutes python",
    "schedule in 2 hours 2h python",
    "schedule tomorrow midnight 1h python for José at 9am",
    "now 90m python",
    "create sql 1h for Ada",
    "list",
    "status k7mq2xw9ab3c",
    "cancel k7mq2xw9ab3c",
    "destroy k7mq2xw9ab3c",
    "creds k7mq2xw9ab3c",
    "extend k7mq2xw9ab3c 30m",
    "extend k7mq2xw9ab3c by 1 hour",
    "challenges",
    "help",
    "tz america/new_york",
];

/// Words of the grammar beyond the action names (those come from [`COMMANDS`]).
const WORDS: &[&str] = &[
    "at",
    "on",
    "in",
    "for",
    "by",
    "and",
    "of",
    "the",
    "tomorrow",
    "tmrw",
    "today",
    "tonight",
    "next",
    "this",
    "week",
    "monday",
    "mon",
    "tuesday",
    "wed",
    "thursday",
    "friday",
    "fri",
    "saturday",
    "sun",
    "january",
    "jan",
    "feb",
    "february",
    "mar",
    "june",
    "sept",
    "nov",
    "november",
    "dec",
    "25",
    "25th",
    "1st",
    "29",
    "31",
    "0",
    "2026",
    "2027",
    "9999",
    "2026-11-25",
    "2027-03-28",
    "2026-02-30",
    "2026-13-01",
    "0000-00-00",
    "2pm",
    "2",
    "pm",
    "am",
    "a.m.",
    "p.m.",
    "12am",
    "12pm",
    "0am",
    "2:30pm",
    "14:00",
    "02:30",
    "24:00",
    "23:59",
    "13pm",
    "9:75",
    "2.30pm",
    "noon",
    "midnight",
    "90m",
    "1h30m",
    "1h",
    "30m",
    "29m",
    "1.5h",
    "0.5h",
    "4h",
    "4h1m",
    "90",
    "minutes",
    "minute",
    "min",
    "mins",
    "hours",
    "hour",
    "hrs",
    "h",
    "m",
    "2h",
    "5h",
    "0m",
    "-30m",
    "1e9h",
    "NaNh",
    "infh",
    "99999999999999999999h",
    "python",
    "PYTHON",
    "sql",
    "javascript",
    "rust",
    "pyhton",
    "Ada",
    "Lovelace",
    "k7mq2xw9ab3c",
    "K7MQ2XW9AB3C",
    "12",
    "x",
    "Europe/Berlin",
    "europe/berlin",
    "America/New_York",
    "UTC",
    "Mars/Base",
    "",
    ",",
    "ü",
    "`",
    "``",
    "\"",
    "…",
];

/// Characters that have broken parsers and renderers elsewhere: controls, bidi overrides,
/// zero-width ones, line and paragraph separators, a BOM, combining marks, wide and astral ones.
const WEIRD: &[char] = &[
    '\0',
    '\u{1}',
    '\u{7}',
    '\u{8}',
    '\t',
    '\n',
    '\u{b}',
    '\u{c}',
    '\r',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{a0}',
    '\u{200b}',
    '\u{200c}',
    '\u{200d}',
    '\u{200e}',
    '\u{200f}',
    '\u{202a}',
    '\u{202e}',
    '\u{2066}',
    '\u{2069}',
    '\u{2028}',
    '\u{2029}',
    '\u{3000}',
    '\u{feff}',
    '\u{fffd}',
    '\u{301}',
    '\u{fe0f}',
    'İ',
    'ß',
    'ﬃ',
    '٣',
    '２',
    '𝟐',
    '😀',
    '\u{10ffff}',
    '\u{e000}',
];

/// One input: the text, the user's zone and "now".
#[derive(Debug, Clone)]
pub struct Case {
    text: String,
    zone: Tz,
    now: DateTime<Utc>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Cases run.
    pub cases: u64,
    /// Of them, how many parsed to a command.
    pub commands: u64,
    /// Wall time.
    pub elapsed: Duration,
}

fn challenges() -> Vec<ChallengeId> {
    CHALLENGES
        .iter()
        .filter_map(|id| ChallengeId::parse(id).ok())
        .collect()
}

/// A word of the grammar's vocabulary: action words from [`COMMANDS`], [`WORDS`], and generated
/// numbers, durations, clock times, dates, ids and zones.
fn word() -> impl Strategy<Value = String> {
    let actions: Vec<String> = COMMANDS
        .iter()
        .flat_map(|spec| std::iter::once(spec.name).chain(spec.aliases.iter().copied()))
        .map(str::to_owned)
        .collect();
    let zones: Vec<String> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| zone.name().to_owned())
        .collect();
    prop_oneof![
        4 => prop::sample::select(actions),
        8 => prop::sample::select(WORDS).prop_map(str::to_owned),
        1 => prop::sample::select(zones),
        2 => (0u32..300, prop::sample::select(&["m", "h", "min", "hours", ""][..]))
            .prop_map(|(n, unit)| format!("{n}{unit}")),
        1 => (0u32..6, 0u32..90).prop_map(|(h, m)| format!("{h}h{m}m")),
        1 => (0u32..6, 0u32..100).prop_map(|(h, d)| format!("{h}.{d}h")),
        2 => (0u32..30, prop::sample::select(&["am", "pm", "", "a.m.", "PM"][..]))
            .prop_map(|(h, suffix)| format!("{h}{suffix}")),
        2 => (0u32..30, 0u32..100, prop::sample::select(&["am", "pm", ""][..]))
            .prop_map(|(h, m, suffix)| format!("{h}:{m:02}{suffix}")),
        1 => (1990i32..2200, 0u32..15, 0u32..35)
            .prop_map(|(y, m, d)| format!("{y}-{m:02}-{d:02}")),
        1 => "[a-z2-9]{1,16}",
        1 => any::<u128>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| format!("{n}m")),
        1 => "\\PC{1,12}",
    ]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            " ", " ", " ", "  ", "\t", "\n", "\r\n", "\u{3000}", "\u{2028}",
        ][..],
    )
}

/// Words joined by assorted whitespace.
fn sentence() -> impl Strategy<Value = String> {
    prop::collection::vec((word(), separator()), 0..12).prop_map(|words| {
        words
            .into_iter()
            .map(|(word, sep)| format!("{word}{sep}"))
            .collect()
    })
}

/// One edit to a phrase's words.
#[derive(Debug, Clone)]
enum Mutation {
    Insert(Index, String),
    Delete(Index),
    Swap(Index, Index),
    Duplicate(Index),
    Replace(Index, String),
    /// A character into a word.
    Char(Index, Index, char),
    /// Every digit of a word made into a 30-digit number.
    Huge(Index),
    /// A word repeated, joined without spaces.
    Repeat(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let weird = prop_oneof![prop::sample::select(WEIRD), any::<char>()];
    prop_oneof![
        3 => (any::<Index>(), word()).prop_map(|(at, w)| Mutation::Insert(at, w)),
        2 => any::<Index>().prop_map(Mutation::Delete),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        2 => any::<Index>().prop_map(Mutation::Duplicate),
        3 => (any::<Index>(), word()).prop_map(|(at, w)| Mutation::Replace(at, w)),
        3 => (any::<Index>(), any::<Index>(), weird).prop_map(|(w, at, c)| Mutation::Char(w, at, c)),
        1 => any::<Index>().prop_map(Mutation::Huge),
        1 => (any::<Index>(), 2usize..400).prop_map(|(at, n)| Mutation::Repeat(at, n)),
    ]
}

fn apply(words: &mut Vec<String>, mutation: &Mutation) {
    let len = words.len();
    let pick = |at: &Index| (len > 0).then(|| at.index(len));
    match mutation {
        Mutation::Insert(at, word) => words.insert(at.index(len + 1), word.clone()),
        Mutation::Delete(at) => {
            if let Some(i) = pick(at) {
                words.remove(i);
            }
        }
        Mutation::Swap(a, b) => {
            if let (Some(i), Some(j)) = (pick(a), pick(b)) {
                words.swap(i, j);
            }
        }
        Mutation::Duplicate(at) => {
            if let Some(i) = pick(at) {
                let copy = words[i].clone();
                words.insert(i, copy);
            }
        }
        Mutation::Replace(at, word) => {
            if let Some(i) = pick(at) {
                words[i] = word.clone();
            }
        }
        Mutation::Char(at, position, c) => {
            if let Some(i) = pick(at) {
                let mut chars: Vec<char> = words[i].chars().collect();
                chars.insert(position.index(chars.len() + 1), *c);
                words[i] = chars.into_iter().collect();
            }
        }
        Mutation::Huge(at) => {
            if let Some(i) = pick(at) {
                words[i] = words[i]
                    .chars()
                    .map(|c| {
                        if c.is_ascii_digit() {
                            "999999999999999999999999999999".to_owned()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
            }
        }
        Mutation::Repeat(at, n) => {
            if let Some(i) = pick(at) {
                words[i] = words[i].repeat(*n);
            }
        }
    }
}

/// A valid phrase with up to four edits.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(VALID),
        prop::collection::vec(mutation(), 0..5),
    )
        .prop_map(|(phrase, mutations)| {
            let mut words: Vec<String> = phrase.split(' ').map(str::to_owned).collect();
            for mutation in &mutations {
                apply(&mut words, mutation);
            }
            words.join(" ")
        })
}

/// Input far longer than anyone types: a phrase followed by thousands of words or one huge word.
fn long() -> impl Strategy<Value = String> {
    (
        prop::sample::select(VALID),
        word(),
        1usize..3000,
        any::<bool>(),
    )
        .prop_map(|(phrase, word, n, spaced)| {
            let filler = if spaced {
                vec![word.as_str(); n].join(" ")
            } else {
                word.repeat(n.min(20_000 / word.len().max(1)))
            };
            format!("{phrase} {filler}")
        })
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::collection::vec(any::<char>(), 0..80)
            .prop_map(|chars| chars.into_iter().collect::<String>()),
        2 => "\\PC{0,120}",
        5 => sentence(),
        8 => mutated(),
        1 => long(),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (
        text(),
        prop::sample::select(ZONES),
        prop::sample::select(NOWS),
    )
        .prop_map(|(text, zone, (y, m, d, h))| Case {
            text,
            zone,
            now: Utc
                .with_ymd_and_hms(y, m, d, h, 0, 0)
                .single()
                .unwrap_or_default(),
        })
}

/// Characters that break a line or are not printable.
fn breaks_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// One error line: non-empty, short, and one printable line — also when the input had line
/// breaks or control characters (quoted user text is shown with spaces and `�` instead; this
/// fuzz found them echoed as typed, terminal escapes included).
fn check_line(input: &str, what: &str, line: &str) -> Result<(), TestCaseError> {
    prop_assert!(!line.trim().is_empty(), "{what}: empty error for {input:?}");
    let chars = line.chars().count();
    prop_assert!(
        chars <= MAX_ERROR_CHARS,
        "{what}: {chars}-character error for {input:?}: {line:?}"
    );
    prop_assert!(
        !line.chars().any(breaks_line),
        "{what}: a line break or control character in the error for {input:?}: {line:?}"
    );
    Ok(())
}

fn check_error(
    input: &str,
    error: &prequel_core::command::CommandError,
) -> Result<(), TestCaseError> {
    check_line(input, "user_message", &error.user_message())?;
    check_line(input, "Display", &error.to_string())
}

/// Writes a command back out as words the grammar reads.
fn written(command: &Command) -> String {
    match command {
        Command::Schedule(request) | Command::Create(request) => {
            let mut line = match command {
                Command::Schedule(_) => format!(
                    "schedule {}",
                    request
                        .start
                        .with_timezone(&request.zone)
                        .format("%Y-%m-%d %H:%M")
                ),
                _ => "now".to_owned(),
            };
            line.push_str(&format!(
                " {}m {}",
                request.length.minutes(),
                request.challenge
            ));
            if let Some(name) = &request.candidate {
                line.push_str(&format!(" for {name}"));
            }
            line
        }
        Command::Status(id)
        | Command::Cancel(id)
        | Command::Destroy(id)
        | Command::Creds(id)
        | Command::Report(id) => {
            format!("{} {id}", command.action())
        }
        Command::Extend { interview, minutes } => format!("extend {interview} {minutes}m"),
        Command::Tz(zone) => format!("tz {}", zone.name()),
        Command::List { all: false } | Command::Challenges | Command::Help => {
            command.action().to_owned()
        }
        Command::List { all: true } => "list all".to_owned(),
        Command::Note { interview, text } => format!("note {interview} {text}"),
        Command::Score {
            interview,
            verdict,
            comment,
        } => match comment {
            Some(comment) => format!("score {interview} {verdict} {comment}"),
            None => format!("score {interview} {verdict}"),
        },
    }
}

fn check(case: &Case) -> Result<bool, TestCaseError> {
    let known = challenges();
    let ctx = ParseContext {
        now: case.now,
        zone: case.zone,
        challenges: &known,
    };
    let input = case.text.as_str();
    let parsed = parse(input, &ctx);
    let ok = parsed.is_ok();
    match &parsed {
        Err(error) => check_error(input, error)?,
        Ok(command) => {
            match command {
                Command::Schedule(request) | Command::Create(request) => {
                    let minutes = request.length.minutes();
                    prop_assert!(
                        (30..=240).contains(&minutes),
                        "{input:?}: {minutes} minutes"
                    );
                    prop_assert_eq!(request.zone, case.zone);
                    prop_assert!(known.contains(&request.challenge));
                    if let Command::Schedule(_) = command {
                        prop_assert!(request.start >= case.now, "{input:?} starts in the past");
                    } else {
                        prop_assert_eq!(request.start, case.now);
                    }
                    if let Some(name) = &request.candidate {
                        prop_assert!(!name.is_empty() && name.trim() == name, "{name:?}");
                        prop_assert!(name.chars().count() <= MAX_CANDIDATE_CHARS);
                    }
                }
                Command::Extend { minutes, .. } => {
                    prop_assert!(EXTENSION_MINUTES.contains(minutes), "{input:?}: {minutes}");
                }
                _ => {}
            }
            // Read back: the command written out again means the same command. (A time in a DST
            // fold reads back as its earlier instant, which `in 2 hours` need not have been.)
            let again = written(command);
            match parse(&again, &ctx) {
                Ok(same) if &same == command => {}
                Ok(Command::Schedule(other))
                    if matches!(command, Command::Schedule(r)
                        if r.start.with_timezone(&r.zone).naive_local()
                            == other.start.with_timezone(&other.zone).naive_local()
                            && r.length == other.length
                            && r.challenge == other.challenge
                            && r.candidate == other.candidate) => {}
                other => prop_assert!(
                    false,
                    "{input:?} parsed to {command:?}, written {again:?}, read back as {other:?}"
                ),
            }
        }
    }
    // The typed-option readers take the same text on Discord.
    if let Err(error) = resolve_when(input, &ctx) {
        check_error(input, &error)?;
    }
    match parse_length(input) {
        Ok(length) => prop_assert!((30..=240).contains(&length.minutes())),
        Err(error) => check_error(input, &error)?,
    }
    if let Err(error) = parse_zone(input) {
        check_error(input, &error)?;
    }
    Ok(ok)
}

/// Runs `cases` generated inputs from a fixed seed; the first failure, shrunk, as an error.
pub fn run(cases: u32, seed: u64) -> Result<Summary, String> {
    let mut runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    });
    let started = Instant::now();
    let commands = Cell::new(0u64);
    let count = Cell::new(0u64);
    let result = runner.run(&case(), |case| {
        count.set(count.get() + 1);
        if check(&case)? {
            commands.set(commands.get() + 1);
        }
        Ok(())
    });
    let (commands, count) = (commands.get(), count.get());
    match result {
        Ok(()) => Ok(Summary {
            cases: u64::from(cases),
            commands,
            elapsed: started.elapsed(),
        }),
        Err(TestError::Fail(why, case)) => Err(format!(
            "after {count} cases: {why}\n  text {:?}\n  zone {}, now {}",
            case.text, case.zone, case.now
        )),
        Err(TestError::Abort(why)) => Err(format!("aborted: {why}")),
    }
}

#[test]
fn fuzzed_grammar_never_panics_and_errors_are_one_short_line() {
    match run(CI_CASES, 9) {
        Ok(summary) => {
            eprintln!(
                "grammar fuzz: {} cases ({} commands) in {:.1?}",
                summary.cases, summary.commands, summary.elapsed,
            );
            // The generators reach past the first word: a fair share of inputs are commands.
            assert!(summary.commands > u64::from(CI_CASES) / 100, "{summary:?}");
        }
        Err(failure) => panic!("{failure}"),
    }
}

/// The inputs the fuzz found echoed into error lines (now shown as one line without controls),
/// kept as plain regression cases: the CI run's 3,000 random cases need not meet them again.
#[test]
fn inputs_the_fuzz_found_give_one_line_errors() {
    let known = challenges();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("a valid time");
    let ctx = ParseContext {
        now,
        zone: chrono_tz::Europe::Berlin,
        challenges: &known,
    };
    for input in [
        "list a\nb",
        "dance\u{1b}[31m",
        "schedule in\n2\nhours in\n3\nhours 90m python",
        "schedule january\t1 ",
        "schedule 1\tjanuary ",
        "schedule next\t friday 2h sql",
    ] {
        let errors = [
            parse(input, &ctx).expect_err(input),
            // The start-time reader of typed options (Discord's `when`) sees the words alone.
            resolve_when(input.trim_start_matches("schedule "), &ctx).expect_err(input),
        ];
        for error in errors {
            for line in [error.user_message(), error.to_string()] {
                assert!(
                    !line.chars().any(breaks_line) && !line.trim().is_empty(),
                    "{input:?} gives {line:?}"
                );
            }
        }
    }
}
