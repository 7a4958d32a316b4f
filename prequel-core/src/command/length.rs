//! Durations: `90m`, `1h30m`, `2h`, `1.5h`, `90 minutes`, `90 min`, `2 hours`, `1 hour 30 minutes`,
//! `1h 30m`.
//!
//! Read by hand rather than with a crate: the notes measured that neither chrono-english nor
//! interim reads `1h30m`. The forms are few and regular, and the reader must stop where the
//! duration stops (`1h 30m python`) and leave `2 pm` and `25 nov` alone, which a crate that reads a
//! whole string cannot do.

use super::CommandError;
use super::lex::{self, Word};
use crate::domain::InterviewLength;

/// Minutes per unit word, or `None` for a word that is not a unit.
fn unit_minutes(unit: &str) -> Option<u64> {
    match unit {
        "m" | "min" | "mins" | "minute" | "minutes" => Some(1),
        "h" | "hr" | "hrs" | "hour" | "hours" => Some(60),
        _ => None,
    }
}

/// The unit words, for typo suggestions.
pub(crate) const UNIT_WORDS: &[&str] = &["minutes", "hours"];

/// A decimal number as typed: `int.frac` where `frac` has `digits` decimal places.
#[derive(Debug, Clone, Copy)]
struct Number {
    int: u64,
    frac: u64,
    scale: u64,
}

impl Number {
    fn parse(text: &str) -> Option<Self> {
        let (int_text, frac_text) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        // `.5h` and `1.h` are not numbers; more than 6 decimals is not a duration anyone means.
        if int_text.is_empty()
            || !all_digits(int_text)
            || !all_digits(frac_text)
            || frac_text.len() > 6
            || (text.contains('.') && frac_text.is_empty())
        {
            return None;
        }
        // A number too big for u64 is still a number: saturate so it is reported as out of range.
        let int = int_text.parse().unwrap_or(u64::MAX);
        let frac = if frac_text.is_empty() {
            0
        } else {
            frac_text.parse().ok()?
        };
        let scale = 10u64.checked_pow(u32::try_from(frac_text.len()).ok()?)?;
        Some(Self { int, frac, scale })
    }

    /// `self × unit` minutes, the fraction rounded to the nearest minute (`1.33h` → 80).
    fn times(self, unit: u64) -> u64 {
        let frac_minutes = (self.frac * unit + self.scale / 2) / self.scale;
        self.int.saturating_mul(unit).saturating_add(frac_minutes)
    }
}

/// One amount: its minutes and the smallest unit used (so `1h` may be followed by `30m`).
#[derive(Debug, Clone, Copy)]
struct Amount {
    minutes: u64,
    smallest_unit: u64,
}

/// A single word holding one or more number+unit pairs: `90m`, `1.5h`, `1h30m`, `2hrs`, and
/// `1h30` (minutes implied after hours).
fn compound(word: &str) -> Option<Amount> {
    let mut rest = word;
    let mut minutes = 0u64;
    let mut smallest_unit = u64::MAX;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number_text, after) = rest.split_at(number_len);
        let number = Number::parse(number_text)?;
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit_text, after) = after.split_at(unit_len);
        let unit = if unit_text.is_empty() && smallest_unit == 60 && after.is_empty() {
            1 // `1h30`: a bare number after hours is minutes
        } else {
            unit_minutes(unit_text)?
        };
        // Units must shrink (`1h30m`, not `30m1h`), which also stops `1h2h`.
        if unit >= smallest_unit {
            return None;
        }
        minutes = minutes.saturating_add(number.times(unit));
        smallest_unit = unit;
        rest = after;
    }
    (smallest_unit != u64::MAX).then_some(Amount {
        minutes,
        smallest_unit,
    })
}

/// One amount starting at `words[0]`: a compound word, or a number followed by a unit word.
fn amount(words: &[Word<'_>]) -> Option<(Amount, usize)> {
    let first = words.first()?;
    if let Some(amount) = compound(&first.norm) {
        return Some((amount, 1));
    }
    let number = Number::parse(&first.norm)?;
    let unit = unit_minutes(&words.get(1)?.norm)?;
    Some((
        Amount {
            minutes: number.times(unit),
            smallest_unit: unit,
        },
        2,
    ))
}

/// Reads a duration starting at `words[0]`: its minutes (saturating, so absurd numbers are
/// reported as out of range rather than wrapping) and how many words it used.
pub(crate) fn read_duration(words: &[Word<'_>]) -> Option<(u64, usize)> {
    let (first, mut used) = amount(words)?;
    let mut minutes = first.minutes;
    if first.smallest_unit == 60 {
        // `1 hour 30 minutes`, `1h 30m`, `1 hour and 30 minutes`
        let rest = words.get(used..).unwrap_or_default();
        let skip_and = usize::from(rest.first().is_some_and(|w| w.norm == "and"));
        // Only a minutes part under an hour continues it, so `in 2 hours 90m python` keeps
        // `90m` as the interview's length.
        if let Some((more, n)) = amount(rest.get(skip_and..).unwrap_or_default())
            && more.smallest_unit < 60
            && more.minutes < 60
        {
            minutes = minutes.saturating_add(more.minutes);
            used += skip_and + n;
        }
    }
    Some((minutes, used))
}

/// Turns read minutes into an interview length, or the bounds error.
pub(crate) fn to_length(minutes: u64) -> Result<InterviewLength, CommandError> {
    let minutes = u32::try_from(minutes).unwrap_or(u32::MAX);
    InterviewLength::from_minutes(minutes).map_err(CommandError::Length)
}

/// Reads a whole text as a duration (no other words allowed), in minutes.
pub(crate) fn duration_minutes(text: &str) -> Result<u64, CommandError> {
    let words = lex::words(text);
    if words.is_empty() {
        return Err(CommandError::missing(&["the duration"], &["90m"]));
    }
    match read_duration(&words) {
        Some((minutes, used)) if used == words.len() => Ok(minutes),
        _ => Err(CommandError::BadDuration {
            text: crate::domain::truncate_for_message(text.trim()),
        }),
    }
}

/// Reads a whole text as an interview length: `90m`, `1h30m`, `2 hours`, … between 30 minutes
/// and 4 hours. For typed options (Discord's `duration`), where the text holds only the length.
pub fn parse_length(text: &str) -> Result<InterviewLength, CommandError> {
    to_length(duration_minutes(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minutes(text: &str) -> Option<(u64, usize)> {
        read_duration(&lex::words(text))
    }

    #[test]
    fn every_documented_form_reads_as_minutes() {
        for (text, want) in [
            ("90m", 90),
            ("1h30m", 90),
            ("1h30", 90),
            ("2h", 120),
            ("1.5h", 90),
            ("1.25 hours", 75),
            ("90 minutes", 90),
            ("90 min", 90),
            ("90 mins", 90),
            ("2 hours", 120),
            ("1 hour 30 minutes", 90),
            ("1 hour and 30 minutes", 90),
            ("1h 30m", 90),
            ("1HR 30MIN", 90),
            ("2hrs", 120),
            ("1.33h", 80),
        ] {
            let words = lex::words(text).len();
            assert_eq!(minutes(text), Some((want, words)), "{text}");
        }
    }

    #[test]
    fn durations_stop_where_the_duration_ends() {
        assert_eq!(minutes("90m python"), Some((90, 1)));
        assert_eq!(minutes("1h 30m python"), Some((90, 2)));
        // minutes are not followed by more minutes
        assert_eq!(minutes("30m 30m"), Some((30, 1)));
        assert_eq!(minutes("2 hours 1 hour"), Some((120, 2)));
        assert_eq!(minutes("2 hours 90m"), Some((120, 2)));
    }

    #[test]
    fn times_of_day_and_dates_are_not_durations() {
        for text in [
            "2pm",
            "12am",
            "2 pm",
            "14:00",
            "25 november",
            "mon",
            "m",
            "h30",
            ".5h",
            "1.h",
        ] {
            assert_eq!(minutes(text), None, "{text}");
        }
        assert_eq!(minutes("30m1h"), None);
        assert_eq!(minutes("1h2h"), None);
    }

    #[test]
    fn absurd_numbers_saturate_instead_of_overflowing() {
        let (got, _) = minutes("99999999999999999999999h").unwrap_or_default();
        assert_eq!(got, u64::MAX);
        assert_eq!(
            parse_length("99999999999999999999999h").map_err(|e| e.to_string()),
            Err("an interview lasts between 30 minutes and 4 hours, not 71582788h15m".into())
        );
    }

    #[test]
    fn parse_length_takes_the_whole_text_and_checks_bounds() {
        assert_eq!(parse_length(" 1h 30m ").map(u32::from), Ok(90));
        assert!(matches!(
            parse_length("90m python"),
            Err(CommandError::BadDuration { .. })
        ));
        assert!(matches!(parse_length("29m"), Err(CommandError::Length(_))));
        assert!(matches!(parse_length("4h1m"), Err(CommandError::Length(_))));
        assert_eq!(parse_length("4h").map(u32::from), Ok(240));
        assert!(matches!(
            parse_length(""),
            Err(CommandError::Missing { .. })
        ));
    }
}
