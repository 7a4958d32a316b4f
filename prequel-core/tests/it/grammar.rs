//! The command grammar as a table: each row is the words typed, the time and zone they were typed
//! in, and either the command they mean or the exact line the person sees.
//!
//! Most rows are typed on Monday 2026-11-23 10:00 UTC (11:00 in Berlin, 05:00 in New York).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use prequel_core::command::{
    COMMANDS, Command, ParseContext, help_text, parse, parse_length, resolve_when,
};
use prequel_core::domain::{ChallengeId, describe_minutes};

const NOW: &str = "2026-11-23T10:00:00Z";
const BERLIN: &str = "Europe/Berlin";
const NEW_YORK: &str = "America/New_York";
const UTC: &str = "UTC";

fn challenges() -> Vec<ChallengeId> {
    ["javascript", "python", "sql"]
        .into_iter()
        .filter_map(|id| ChallengeId::parse(id).ok())
        .collect()
}

/// A command in one line, times in the user's zone with their offset, so a row shows at a
/// glance which instant was meant.
fn render(command: &Command) -> String {
    match command {
        Command::Schedule(request) | Command::Create(request) => {
            let mut line = format!(
                "{} {} {} {}",
                command.action(),
                request.start.with_timezone(&request.zone).to_rfc3339(),
                describe_minutes(request.length.minutes()),
                request.challenge,
            );
            if let Some(name) = &request.candidate {
                line.push_str(&format!(" for {name:?}"));
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
        Command::Extend { interview, minutes } => format!("extend {interview} {minutes}"),
        Command::Tz(zone) => format!("tz {}", zone.name()),
        Command::List { all: false } | Command::Challenges | Command::Help => {
            command.action().to_owned()
        }
        Command::List { all: true } => "list all".to_owned(),
        Command::Note { interview, text } => format!("note {interview} {text:?}"),
        Command::Score {
            interview,
            verdict,
            comment,
        } => format!("score {interview} {verdict} {comment:?}"),
    }
}

fn context_parts(now: &str, zone: &str) -> (DateTime<Utc>, Tz) {
    let now = DateTime::parse_from_rfc3339(now)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad now {now}: {e}"));
    let zone: Tz = zone
        .parse()
        .unwrap_or_else(|e| panic!("bad zone {zone}: {e}"));
    (now, zone)
}

type Row = (
    &'static str,
    &'static str,
    &'static str,
    Result<&'static str, &'static str>,
);

/// Runs every row and reports all mismatches at once, so one run shows the whole picture.
fn check_table(rows: &[Row]) {
    let known = challenges();
    let mut failures = Vec::new();
    for &(now, zone, input, ref want) in rows {
        let (now, zone) = context_parts(now, zone);
        let ctx = ParseContext {
            now,
            zone,
            challenges: &known,
        };
        let got = parse(input, &ctx)
            .map(|c| render(&c))
            .map_err(|e| e.user_message());
        let want = want.map(str::to_owned).map_err(str::to_owned);
        if got != want {
            failures.push(format!("{input:?}\n    want {want:?}\n    got  {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const TOMORROW_2PM_90M: Result<&str, &str> = Ok("schedule 2026-11-24T14:00:00+01:00 1h30m python");

#[test]
#[rustfmt::skip] // a table reads best one row per line
fn schedule_phrases_resolve_in_the_users_zone() {
    check_table(&[
        (NOW, BERLIN, "schedule tomorrow 2pm 90m python", TOMORROW_2PM_90M),
        (NOW, BERLIN, "schedule 2pm tomorrow 90m python", TOMORROW_2PM_90M),
        (NOW, BERLIN, "schedule tomorrow at 2pm 90m python", TOMORROW_2PM_90M),
        (NOW, BERLIN, "schedule python 90m 2pm tomorrow", TOMORROW_2PM_90M),
        (NOW, BERLIN, "SCHEDULE Tomorrow 2PM 90M Python", TOMORROW_2PM_90M),
        (NOW, BERLIN, "book tmrw 2 pm 90m python", TOMORROW_2PM_90M),
        (NOW, BERLIN, "schedule tomorrow 14:00 90m python", TOMORROW_2PM_90M),
        (NOW, BERLIN, "schedule tomorrow 12am 1h python", Ok("schedule 2026-11-24T00:00:00+01:00 1h python")),
        (NOW, BERLIN, "schedule tomorrow 12pm 1h python", Ok("schedule 2026-11-24T12:00:00+01:00 1h python")),
        (NOW, BERLIN, "schedule tomorrow midnight 1h python", Ok("schedule 2026-11-24T00:00:00+01:00 1h python")),
        (NOW, BERLIN, "schedule 12:30am tomorrow 1h python", Ok("schedule 2026-11-24T00:30:00+01:00 1h python")),
        (NOW, BERLIN, "schedule next friday 9:30am 2h sql", Ok("schedule 2026-12-04T09:30:00+01:00 2h sql")),
        (NOW, BERLIN, "schedule friday 9:30am 2h sql", Ok("schedule 2026-11-27T09:30:00+01:00 2h sql")),
        (NOW, BERLIN, "schedule on Fri at 9:30 a.m. 2h sql", Ok("schedule 2026-11-27T09:30:00+01:00 2h sql")),
        (NOW, BERLIN, "schedule 2026-11-25 14:00 1h30m javascript", Ok("schedule 2026-11-25T14:00:00+01:00 1h30m javascript")),
        (NOW, BERLIN, "schedule nov 25 2:30pm 1.5h python", Ok("schedule 2026-11-25T14:30:00+01:00 1h30m python")),
        (NOW, BERLIN, "schedule 25 november at 2:30 pm 90 minutes python", Ok("schedule 2026-11-25T14:30:00+01:00 1h30m python")),
        (NOW, BERLIN, "schedule 25th of November 2027 noon 2 hours python", Ok("schedule 2027-11-25T12:00:00+01:00 2h python")),
        (NOW, BERLIN, "schedule November 25, 2027 noon 2 hours python", Ok("schedule 2027-11-25T12:00:00+01:00 2h python")),
        (NOW, BERLIN, "schedule jan 5 10am 1 hour 30 minutes python", Ok("schedule 2027-01-05T10:00:00+01:00 1h30m python")),
        (NOW, BERLIN, "schedule 3pm 90 min python", Ok("schedule 2026-11-23T15:00:00+01:00 1h30m python")),
        (NOW, BERLIN, "schedule today 5pm 1h 30m python", Ok("schedule 2026-11-23T17:00:00+01:00 1h30m python")),
        (NOW, BERLIN, "schedule in 2 hours 2h python", Ok("schedule 2026-11-23T13:00:00+01:00 2h python")),
        (NOW, BERLIN, "schedule in 90 minutes 30m sql", Ok("schedule 2026-11-23T12:30:00+01:00 30m sql")),
        (NOW, BERLIN, "schedule in 2 hours 90m python", Ok("schedule 2026-11-23T13:00:00+01:00 1h30m python")),
        (NOW, BERLIN, "schedule tomorrow 2pm 4h python", Ok("schedule 2026-11-24T14:00:00+01:00 4h python")),
        (NOW, NEW_YORK, "schedule tomorrow 9am 90m python", Ok("schedule 2026-11-24T09:00:00-05:00 1h30m python")),
        (NOW, NEW_YORK, "schedule 2pm 90m python", Ok("schedule 2026-11-23T14:00:00-05:00 1h30m python")),
        (NOW, UTC, "schedule tomorrow 14:00 2hrs python", Ok("schedule 2026-11-24T14:00:00+00:00 2h python")),
    ]);
}

#[test]
#[rustfmt::skip] // a table reads best one row per line
fn candidate_names_are_kept_as_typed() {
    check_table(&[
        (NOW, BERLIN, "schedule tomorrow 2pm 30m python for Ada Lovelace", Ok("schedule 2026-11-24T14:00:00+01:00 30m python for \"Ada Lovelace\"")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m python for   Dr. Grace O'Hara-Hopper  ", Ok("schedule 2026-11-24T14:00:00+01:00 1h30m python for \"Dr. Grace O'Hara-Hopper\"")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m python FOR José at 9am", Ok("schedule 2026-11-24T14:00:00+01:00 1h30m python for \"José at 9am\"")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m python for", Err("missing the candidate's name after `for`, e.g. `for Ada Lovelace`")),
        (NOW, BERLIN, format!("schedule tomorrow 2pm 90m python for {}", "x".repeat(101)).leak(), Err("the candidate's name has 101 characters, more than the 100 allowed; shorten it")),
    ]);
}

#[test]
#[rustfmt::skip] // a table reads best one row per line
fn daylight_saving_changes_are_resolved_or_reported() {
    check_table(&[
        // Berlin springs forward at 02:00 on 2027-03-28: 02:30 never happens.
        (NOW, BERLIN, "schedule 2027-03-28 2:30am 1h python", Err("2027-03-28 02:30 does not exist in Europe/Berlin; the clocks jump forward then; pick a time outside the change")),
        // New York falls back at 02:00: 01:30 happens twice; the earlier (EDT) one is meant.
        ("2026-10-20T12:00:00Z", NEW_YORK, "schedule 2026-11-01 1:30am 1h python", Ok("schedule 2026-11-01T01:30:00-04:00 1h python")),
        (NOW, NEW_YORK, "schedule 2027-11-07 1:30am 1h python", Ok("schedule 2027-11-07T01:30:00-04:00 1h python")),
        // Typed in winter time, resolved in summer time.
        (NOW, BERLIN, "schedule 2027-04-01 2pm 1h python", Ok("schedule 2027-04-01T14:00:00+02:00 1h python")),
        ("2027-03-27T12:00:00Z", BERLIN, "schedule tomorrow 2pm 1h python", Ok("schedule 2027-03-28T14:00:00+02:00 1h python")),
    ]);
}

#[test]
#[rustfmt::skip] // a table reads best one row per line
fn other_actions_parse_their_arguments() {
    check_table(&[
        (NOW, BERLIN, "now 90m python", Ok("create 2026-11-23T11:00:00+01:00 1h30m python")),
        (NOW, BERLIN, "create sql 1h for Ada", Ok("create 2026-11-23T11:00:00+01:00 1h sql for \"Ada\"")),
        (NOW, BERLIN, "LIST", Ok("list")),
        (NOW, BERLIN, "status K7MQ2XW9AB3C", Ok("status k7mq2xw9ab3c")),
        (NOW, BERLIN, "cancel k7mq2xw9ab3c", Ok("cancel k7mq2xw9ab3c")),
        (NOW, BERLIN, "destroy k7mq2xw9ab3c", Ok("destroy k7mq2xw9ab3c")),
        (NOW, BERLIN, "creds k7mq2xw9ab3c", Ok("creds k7mq2xw9ab3c")),
        (NOW, BERLIN, "extend k7mq2xw9ab3c 30m", Ok("extend k7mq2xw9ab3c 30")),
        (NOW, BERLIN, "extend k7mq2xw9ab3c by 1 hour", Ok("extend k7mq2xw9ab3c 60")),
        (NOW, BERLIN, "challenges", Ok("challenges")),
        (NOW, BERLIN, "help", Ok("help")),
        (NOW, BERLIN, "tz america/new_york", Ok("tz America/New_York")),
    ]);
}

#[test]
#[rustfmt::skip] // a table reads best one row per line
fn every_bad_input_gets_one_line_with_a_hint() {
    check_table(&[
        (NOW, BERLIN, "schedule 9am 90m python", Err("time in the past: 2026-11-23 09:00 in Europe/Berlin; did you mean \"tomorrow 9am\"?")),
        (NOW, BERLIN, "schedule today 9am 90m python", Err("time in the past: 2026-11-23 09:00 in Europe/Berlin; did you mean \"tomorrow 9am\"?")),
        (NOW, BERLIN, "schedule 2026-11-20 2pm 90m python", Err("time in the past: 2026-11-20 14:00 in Europe/Berlin; it is now 2026-11-23 11:00 there")),
        (NOW, BERLIN, "schedule tomorrow 2pm 5h python", Err("an interview lasts between 30 minutes and 4 hours, not 5h; write durations like `90m`, `1h30m` or `2h`")),
        (NOW, BERLIN, "schedule tomorrow 2pm 20 minutes python", Err("an interview lasts between 30 minutes and 4 hours, not 20m; write durations like `90m`, `1h30m` or `2h`")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m rust", Err("unknown challenge `rust`; known challenges: javascript, python, sql")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m pyhton", Err("unknown challenge `pyhton`; did you mean `python`? known challenges: javascript, python, sql")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m python please", Err("did not understand `please`; usage: `schedule <when> <duration> <challenge> [with @someone] [for <candidate name>]`")),
        (NOW, BERLIN, "schedule tommorow 2pm 90m python", Err("did not understand `tommorow`; did you mean `tomorrow`?")),
        (NOW, BERLIN, "schedule tomorrow at 14 90m python", Err("did not understand `14`; write times like `2pm` or `14:00` and durations like `90m`")),
        (NOW, BERLIN, format!("schedule tomorrow 2pm 90m python {}", "blah".repeat(30)).leak(), Err("did not understand `blahblahblahblahblahblahblahblahblahblah…`; usage: `schedule <when> <duration> <challenge> [with @someone] [for <candidate name>]`")),
        (NOW, BERLIN, "schedule tomorrow 2pm python", Err("missing the duration, e.g. `90m`")),
        (NOW, BERLIN, "schedule 90m python", Err("missing the start time, e.g. `tomorrow 2pm`")),
        (NOW, BERLIN, "schedule friday 90m python", Err("missing the time of day, e.g. `friday 2pm`")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m", Err("missing the challenge, e.g. `javascript`")),
        (NOW, BERLIN, "schedule", Err("missing the start time, the duration and the challenge, e.g. `tomorrow 2pm 90m javascript`")),
        (NOW, BERLIN, "shedule tomorrow 2pm 90m python", Err("unknown action `shedule`; did you mean `schedule`? type `help` for the commands")),
        (NOW, BERLIN, "dance", Err("unknown action `dance`; type `help` for the commands")),
        (NOW, BERLIN, "   ", Err("nothing to do; type `help` for the commands")),
        (NOW, BERLIN, "status 12", Err("`12` is not an interview id (ids look like `k7mq2xw9ab3c`); `list` shows your interviews")),
        (NOW, BERLIN, "status", Err("missing the interview id, e.g. `status k7mq2xw9ab3c`")),
        (NOW, BERLIN, "tz Mars/Olympus", Err("unknown time zone `Mars/Olympus`; use an IANA name like `Europe/Berlin`, `America/New_York` or `UTC`")),
        (NOW, BERLIN, "schedule tomorrow 2pm 90m 2h python", Err("two durations given: `90m` and `2h`; give each part once")),
        (NOW, BERLIN, "schedule in 2 hours tomorrow 90m python", Err("two start times given: `in 2 hours` and `tomorrow`; give each part once")),
        (NOW, BERLIN, "schedule tomorrow 13pm 90m python", Err("`13pm` is not a time of day; write times like `2pm`, `2:30pm` or `14:00`")),
        (NOW, BERLIN, "schedule feb 30 2pm 90m python", Err("`feb 30` is not a date; write dates like `tomorrow`, `friday`, `nov 25` or `2026-11-25`")),
        (NOW, BERLIN, "now tomorrow 2pm 90m python", Err("`now` starts right away and takes no start time, but got `tomorrow 2pm`; use `schedule` to start later, e.g. `schedule tomorrow 2pm 90m python`")),
        (NOW, BERLIN, "extend k7mq2xw9ab3c 4h", Err("an extension is between 5m and 3h30m, not 4h; e.g. `extend k7mq2xw9ab3c 30m`")),
        (NOW, BERLIN, "extend k7mq2xw9ab3c soon", Err("`soon` is not a duration; write durations like `90m`, `1h30m` or `2h`")),
        (NOW, BERLIN, "list everything", Err("`list` takes only `all`, but got `everything`; `list` shows yours, `list all` every interview (admins only)")),
        (NOW, BERLIN, "now 1h python with", Err("`with` takes people, but got `nothing`; name them with the chat's @-mention (pick the person from the list), e.g. `with @alice`, before `for`")),
        (NOW, BERLIN, "now 1h python with alice", Err("`with` takes people, but got `alice`; name them with the chat's @-mention (pick the person from the list), e.g. `with @alice`, before `for`")),
        (NOW, BERLIN, "now 1h python for Ev\u{202e}il", Err("the candidate's name has an invisible or control character (U+202E); type the name again with letters, digits, spaces and punctuation only")),
        (NOW, BERLIN, "now 1h python for Eve\u{200b}", Err("the candidate's name has an invisible or control character (U+200B); type the name again with letters, digits, spaces and punctuation only")),
    ]);
}

#[test]
fn typed_options_use_the_same_readers() {
    let known = challenges();
    let (now, zone) = context_parts(NOW, BERLIN);
    let ctx = ParseContext {
        now,
        zone,
        challenges: &known,
    };
    let when = |text: &str| {
        resolve_when(text, &ctx)
            .map(|t| t.with_timezone(&zone).to_rfc3339())
            .map_err(|e| e.user_message())
    };
    assert_eq!(
        when("tomorrow at 2pm"),
        Ok("2026-11-24T14:00:00+01:00".to_owned())
    );
    assert_eq!(
        when("in 2 hours"),
        Ok("2026-11-23T13:00:00+01:00".to_owned())
    );
    assert_eq!(
        when("tomorrow 2pm 90m"),
        Err(
            "did not understand `90m`; write times like `2pm` or `14:00` and durations like `90m`"
                .to_owned()
        )
    );
    assert_eq!(
        when(""),
        Err("missing the start time, e.g. `tomorrow 2pm`".to_owned())
    );

    let length = |text: &str| {
        parse_length(text)
            .map(u32::from)
            .map_err(|e| e.user_message())
    };
    assert_eq!(length("1h 30m"), Ok(90));
    assert_eq!(length("1.5 hours"), Ok(90));
    assert_eq!(length("10m"), Err("an interview lasts between 30 minutes and 4 hours, not 10m; write durations like `90m`, `1h30m` or `2h`".to_owned()));
}

#[test]
fn help_text_lists_every_command() {
    let help = help_text();
    for spec in COMMANDS {
        assert!(help.contains(spec.usage), "help misses {}", spec.name);
        assert!(help.contains(spec.summary), "help misses {}", spec.name);
    }
    assert_eq!(COMMANDS.len(), 14);
}
