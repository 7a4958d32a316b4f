//! `<when>`: when a scheduled interview starts.
//!
//! We pick the time-of-day words out ourselves (`2pm`, `2:30 pm`, `14:00`, `noon`, `midnight`),
//! recognise the date words (`tomorrow`, `next friday`, `nov 25`, `25th of november 2027`,
//! `2026-11-25`) and hand only a normalised date phrase to `interim`, with the user's local
//! wall-clock time as "now". The local date and time are then turned into an instant with
//! chrono-tz. The module doc of [`crate::command`] says why.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

use super::lex::{self, Word};
use super::{CommandError, ParseContext};

/// A time of day as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeOfDay {
    pub time: NaiveTime,
    pub typed: String,
}

/// A date phrase as typed, and its normalised form for interim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DateWords {
    /// What interim reads: `tomorrow`, `next friday`, `25 nov 2027`, `2026-11-25`.
    pub phrase: String,
    pub typed: String,
    /// A month and day without a year: if that day has passed this year, it means next year.
    pub rolls_over: bool,
    /// `today`, so a past time gets the "did you mean tomorrow" hint like a bare time does.
    pub is_today: bool,
}

/// The start time parts found in a command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct When {
    pub date: Option<DateWords>,
    pub time: Option<TimeOfDay>,
    /// `in 2 hours`: minutes from now, and the words as typed.
    pub after: Option<(u64, String)>,
}

impl When {
    pub fn is_empty(&self) -> bool {
        self.date.is_none() && self.time.is_none() && self.after.is_none()
    }

    /// The start as typed, for messages.
    pub fn typed(&self) -> String {
        let parts = [
            self.after.as_ref().map(|(_, typed)| typed.as_str()),
            self.date.as_ref().map(|d| d.typed.as_str()),
            self.time.as_ref().map(|t| t.typed.as_str()),
        ];
        parts.into_iter().flatten().collect::<Vec<_>>().join(" ")
    }
}

const WEEKDAYS: &[(&str, &[&str])] = &[
    ("monday", &["mon"]),
    ("tuesday", &["tue", "tues"]),
    ("wednesday", &["wed"]),
    ("thursday", &["thu", "thur", "thurs"]),
    ("friday", &["fri"]),
    ("saturday", &["sat"]),
    ("sunday", &["sun"]),
];

const MONTHS: &[(&str, &[&str])] = &[
    ("january", &["jan"]),
    ("february", &["feb"]),
    ("march", &["mar"]),
    ("april", &["apr"]),
    ("may", &[]),
    ("june", &["jun"]),
    ("july", &["jul"]),
    ("august", &["aug"]),
    ("september", &["sep", "sept"]),
    ("october", &["oct"]),
    ("november", &["nov"]),
    ("december", &["dec"]),
];

/// Words of `<when>`, for typo suggestions and the no-panic property test.
pub(crate) fn vocabulary() -> impl Iterator<Item = &'static str> {
    let names = |table: &'static [(&'static str, &'static [&'static str])]| {
        table.iter().map(|(name, _)| *name)
    };
    ["today", "tomorrow", "noon", "midnight", "next", "this"]
        .into_iter()
        .chain(names(WEEKDAYS))
        .chain(names(MONTHS))
}

fn lookup(table: &[(&'static str, &[&str])], word: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(name, short)| *name == word || short.contains(&word))
        .map(|(name, _)| *name)
}

fn is_meridiem(word: &str) -> Option<bool> {
    match word {
        "am" | "a.m." | "a.m" => Some(false),
        "pm" | "p.m." | "p.m" => Some(true),
        _ => None,
    }
}

/// Reads a clock time: `2pm`, `2:30pm`, `2.30pm`, `14:00`, `12am`; with `meridiem` given
/// separately (`2 pm`). `None` when the text does not look like a time at all, `Some(None)` when
/// it looks like one but is not (`13pm`, `9:75`).
fn clock(text: &str, meridiem: Option<bool>) -> Option<Option<NaiveTime>> {
    let (digits, pm) = match meridiem {
        Some(pm) => (text, Some(pm)),
        None => ["am", "a.m.", "a.m", "pm", "p.m.", "p.m"]
            .iter()
            .find_map(|suffix| {
                let rest = text.strip_suffix(suffix)?;
                Some((rest, is_meridiem(suffix)))
            })
            .unwrap_or((text, None)),
    };
    let separator = digits.find([':', '.']);
    let (hour_text, minute_text) = match separator {
        Some(at) => (digits.get(..at)?, digits.get(at + 1..)?),
        None => (digits, ""),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let shaped = numeric(hour_text)
        && hour_text.len() <= 2
        && (separator.is_none() || (numeric(minute_text) && minute_text.len() == 2));
    // Without am/pm only `14:00` is a time: a bare `14` or `2.30` is too ambiguous to guess.
    let colon = digits.contains(':');
    if !shaped || (pm.is_none() && !colon) {
        return None;
    }
    let hour: u32 = hour_text.parse().ok()?;
    let minute: u32 = if minute_text.is_empty() {
        0
    } else {
        minute_text.parse().ok()?
    };
    let hour = match pm {
        // 12am is midnight and 12pm noon.
        Some(_) if !(1..=12).contains(&hour) => return Some(None),
        Some(false) => hour % 12,
        Some(true) => hour % 12 + 12,
        None => hour,
    };
    Some(NaiveTime::from_hms_opt(hour, minute, 0))
}

/// Reads a time of day starting at `words[0]`, and how many words it used.
pub(crate) fn read_time(
    text: &str,
    words: &[Word<'_>],
) -> Option<Result<(TimeOfDay, usize), CommandError>> {
    let first = words.first()?;
    let named = match first.norm.as_str() {
        "noon" | "midday" => NaiveTime::from_hms_opt(12, 0, 0),
        "midnight" => NaiveTime::from_hms_opt(0, 0, 0),
        _ => None,
    };
    let (parsed, used) = match named {
        Some(time) => (Some(time), 1),
        None => {
            let meridiem = words.get(1).and_then(|w| is_meridiem(&w.norm));
            match meridiem.and_then(|pm| clock(&first.norm, Some(pm))) {
                Some(parsed) => (parsed, 2),
                None => (clock(&first.norm, None)?, 1),
            }
        }
    };
    let typed = lex::span(text, words.get(..used).unwrap_or_default()).to_owned();
    Some(match parsed {
        Some(time) => Ok((TimeOfDay { time, typed }, used)),
        None => Err(CommandError::BadTime {
            text: crate::domain::truncate_for_message(&typed),
        }),
    })
}

/// A day of the month: `25`, `25th`, `1st`.
fn day_of_month(word: &str) -> Option<u32> {
    let digits = ["st", "nd", "rd", "th"]
        .iter()
        .find_map(|suffix| word.strip_suffix(suffix))
        .unwrap_or(word);
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|day| (1..=31).contains(day))
}

fn year(word: &str) -> Option<i32> {
    (word.len() == 4 && word.bytes().all(|b| b.is_ascii_digit()))
        .then(|| word.parse().ok())
        .flatten()
}

fn is_iso_date(word: &str) -> bool {
    word.len() == 10
        && word.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// Reads a date phrase starting at `words[0]`, and how many words it used.
pub(crate) fn read_date(text: &str, words: &[Word<'_>]) -> Option<(DateWords, usize)> {
    let norm = |i: usize| words.get(i).map(|w| w.norm.as_str());
    let first = norm(0)?;
    let mut rolls_over = false;
    let (phrase, used) = match first {
        "today" | "tomorrow" => (first.to_owned(), 1),
        "tmrw" | "tmr" => ("tomorrow".to_owned(), 1),
        _ if is_iso_date(first) => (first.to_owned(), 1),
        "next" | "this" => {
            let day = lookup(WEEKDAYS, norm(1)?)?;
            // Dialect::Uk: "next friday" is the Friday of next week; "friday" the coming one.
            let phrase = if first == "next" {
                format!("next {day}")
            } else {
                day.to_owned()
            };
            (phrase, 2)
        }
        _ => {
            if let Some(day) = lookup(WEEKDAYS, first) {
                (day.to_owned(), 1)
            } else if let Some(month) = lookup(MONTHS, first) {
                // `nov 25`, `november 25, 2026`
                let day = day_of_month(norm(1)?)?;
                let (year, used) = match norm(2).and_then(year) {
                    Some(year) => (Some(year), 3),
                    None => (None, 2),
                };
                rolls_over = year.is_none();
                (month_day(month, day, year), used)
            } else {
                // `25 nov`, `25th of november 2027`
                let day = day_of_month(first)?;
                let of = usize::from(norm(1) == Some("of"));
                let month = lookup(MONTHS, norm(1 + of)?)?;
                let (year, used) = match norm(2 + of).and_then(year) {
                    Some(year) => (Some(year), 3 + of),
                    None => (None, 2 + of),
                };
                rolls_over = year.is_none();
                (month_day(month, day, year), used)
            }
        }
    };
    let typed = lex::span(text, words.get(..used).unwrap_or_default()).to_owned();
    Some((
        DateWords {
            is_today: phrase == "today",
            phrase,
            typed,
            rolls_over,
        },
        used,
    ))
}

/// The `25 nov 2027` form, which interim reads (it does not read `25th` or `of`).
fn month_day(month: &str, day: u32, year: Option<i32>) -> String {
    let short = month.get(..3).unwrap_or(month);
    match year {
        Some(year) => format!("{day} {short} {year}"),
        None => format!("{day} {short}"),
    }
}

/// The calendar date a date phrase names, seen from the local wall-clock `local_now`.
fn resolve_date(words: &DateWords, local_now: NaiveDateTime) -> Result<NaiveDate, CommandError> {
    let bad = || CommandError::BadDate {
        text: crate::domain::truncate_for_message(&words.typed),
    };
    // interim works in the time zone of the `now` it is given. Passing the user's local wall
    // clock dressed as UTC makes "tomorrow" mean the user's tomorrow; only the date is kept, and
    // the zone is applied afterwards by chrono-tz (interim cannot report DST gaps itself).
    let wall_clock = Utc.from_utc_datetime(&local_now);
    let date = interim::parse_date_string(&words.phrase, wall_clock, interim::Dialect::Uk)
        .map_err(|_| bad())?
        .date_naive();
    let today = local_now.date();
    if words.rolls_over && date < today {
        // "jan 5" typed in November means next January, not ten months ago.
        return date.with_year(date.year() + 1).ok_or_else(bad);
    }
    Ok(date)
}

const LOCAL_FORMAT: &str = "%Y-%m-%d %H:%M";

/// Turns the parts into an instant in the user's zone: a nonexistent local time (DST gap) is an
/// error, an ambiguous one (DST fold) takes the earlier instant, and the start must not be in the
/// past.
pub(crate) fn resolve(when: &When, ctx: &ParseContext<'_>) -> Result<DateTime<Utc>, CommandError> {
    if let Some((minutes, typed)) = &when.after {
        let later = i64::try_from(*minutes)
            .ok()
            .and_then(Duration::try_minutes)
            .and_then(|span| ctx.now.checked_add_signed(span));
        return later.ok_or_else(|| CommandError::BadDate {
            text: crate::domain::truncate_for_message(typed),
        });
    }
    let local_now = ctx.now.with_timezone(&ctx.zone).naive_local();
    let Some(time) = &when.time else {
        return Err(match &when.date {
            Some(date) => {
                CommandError::missing(&["the time of day"], &[&format!("{} 2pm", date.typed)])
            }
            None => CommandError::missing(&["the start time"], &["tomorrow 2pm"]),
        });
    };
    let date = match &when.date {
        Some(date) => resolve_date(date, local_now)?,
        None => local_now.date(),
    };
    let local = date.and_time(time.time);
    let Some(start) = ctx.zone.from_local_datetime(&local).earliest() else {
        return Err(CommandError::NonexistentTime {
            local: local.format(LOCAL_FORMAT).to_string(),
            zone: ctx.zone.name().to_owned(),
        });
    };
    let start = start.with_timezone(&Utc);
    if start < ctx.now {
        let today_only = when.date.as_ref().is_none_or(|d| d.is_today);
        return Err(CommandError::PastTime {
            start: local.format(LOCAL_FORMAT).to_string(),
            zone: ctx.zone.name().to_owned(),
            now: local_now.format(LOCAL_FORMAT).to_string(),
            suggestion: today_only.then(|| format!("tomorrow {}", time.typed)),
        });
    }
    Ok(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> Option<Result<(NaiveTime, usize), String>> {
        read_time(text, &lex::words(text))
            .map(|r| r.map(|(t, n)| (t.time, n)).map_err(|e| e.to_string()))
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()
    }

    #[test]
    fn clock_times_read_in_12_and_24_hour_forms() {
        for (text, want, used) in [
            ("2pm", hm(14, 0), 1),
            ("2PM", hm(14, 0), 1),
            ("2:30pm", hm(14, 30), 1),
            ("2.30pm", hm(14, 30), 1),
            ("2 pm", hm(14, 0), 2),
            ("2:30 p.m.", hm(14, 30), 2),
            ("14:00", hm(14, 0), 1),
            ("9:05", hm(9, 5), 1),
            ("12am", hm(0, 0), 1),
            ("12:30am", hm(0, 30), 1),
            ("12pm", hm(12, 0), 1),
            ("noon", hm(12, 0), 1),
            ("midnight", hm(0, 0), 1),
        ] {
            assert_eq!(time(text), Some(Ok((want, used))), "{text}");
        }
    }

    #[test]
    fn time_lookalikes_that_are_not_times_are_errors() {
        for text in ["13pm", "0am", "9:75", "24:00", "14:00pm"] {
            assert!(matches!(time(text), Some(Err(_))), "{text}");
        }
        for text in [
            "14", "2.30", "90m", "pm", "2:3pm", ":30pm", "tomorrow", "123:00",
        ] {
            assert_eq!(time(text), None, "{text}");
        }
    }

    fn date(text: &str) -> Option<(String, usize, bool)> {
        read_date(text, &lex::words(text)).map(|(d, n)| (d.phrase, n, d.rolls_over))
    }

    #[test]
    fn date_phrases_are_normalised_for_interim() {
        let some = |p: &str, n, r| Some((p.to_owned(), n, r));
        assert_eq!(date("Tomorrow 2pm"), some("tomorrow", 1, false));
        assert_eq!(date("next Fri"), some("next friday", 2, false));
        assert_eq!(date("this friday"), some("friday", 2, false));
        assert_eq!(date("nov 25, 2026 x"), some("25 nov 2026", 3, false));
        assert_eq!(date("November 25th"), some("25 nov", 2, true));
        assert_eq!(date("25th of November 2027"), some("25 nov 2027", 4, false));
        assert_eq!(date("2026-11-25"), some("2026-11-25", 1, false));
        for text in [
            "next",
            "november",
            "25",
            "32 nov",
            "nov 0",
            "2026-11-5",
            "90m",
        ] {
            assert_eq!(date(text), None, "{text}");
        }
    }

    #[test]
    fn month_days_without_a_year_roll_over_to_next_year() {
        let now = NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_opt(10, 0, 0))
            .unwrap_or_default();
        let (words, _) = read_date("jan 5", &lex::words("jan 5")).unwrap_or_else(|| {
            (
                DateWords {
                    phrase: String::new(),
                    typed: String::new(),
                    rolls_over: false,
                    is_today: false,
                },
                0,
            )
        });
        assert_eq!(
            resolve_date(&words, now),
            Ok(NaiveDate::from_ymd_opt(2027, 1, 5).unwrap_or_default())
        );
    }
}
