//! `note <interview id> <text…>` and `score <interview id> <verdict> [comment…]`: the words after
//! the id are kept as typed (one line, spaces folded), checked like a candidate's name: nothing
//! invisible, nothing that controls a terminal, at most [`MAX_REVIEW_CHARS`].

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

use super::lex::{self, Word};
use super::{Command, CommandError, CommandSpec, interview_id};
use crate::domain::truncate_for_message;
use crate::review::{MAX_REVIEW_CHARS, Verdict};

pub(super) fn note(
    text: &str,
    rest: &[Word<'_>],
    spec: &CommandSpec,
) -> Result<Command, CommandError> {
    let Some((word, more)) = rest.split_first() else {
        return Err(CommandError::missing(
            &["the interview id and the note"],
            &[spec.example],
        ));
    };
    let interview = interview_id(word)?;
    if more.is_empty() {
        return Err(CommandError::missing(&["the note"], &[spec.example]));
    }
    let text = free_text(lex::span(text, more), "note")?;
    Ok(Command::Note { interview, text })
}

pub(super) fn score(
    text: &str,
    rest: &[Word<'_>],
    spec: &CommandSpec,
) -> Result<Command, CommandError> {
    let Some((word, more)) = rest.split_first() else {
        return Err(CommandError::missing(
            &["the interview id and the score"],
            &[spec.example],
        ));
    };
    let interview = interview_id(word)?;
    let Some((verdict, comment)) = more.split_first() else {
        return Err(CommandError::missing(
            &["the score (`strong-yes`, `yes`, `no` or `strong-no`)"],
            &[spec.example],
        ));
    };
    let Some(verdict) = Verdict::parse(&verdict.norm) else {
        return Err(CommandError::BadVerdict {
            word: truncate_for_message(verdict.raw),
        });
    };
    let comment = if comment.is_empty() {
        None
    } else {
        Some(free_text(lex::span(text, comment), "comment")?)
    };
    Ok(Command::Score {
        interview,
        verdict,
        comment,
    })
}

/// The words as one line: whitespace folded, nothing invisible or controlling, not too long.
fn free_text(typed: &str, what: &'static str) -> Result<String, CommandError> {
    if let Some(bad) = typed.chars().find(|c| {
        !c.is_whitespace()
            && matches!(
                c.general_category(),
                GeneralCategory::Control | GeneralCategory::Format | GeneralCategory::Unassigned
            )
    }) {
        return Err(CommandError::ReviewCharacter {
            what,
            codepoint: format!("U+{:04X}", u32::from(bad)),
        });
    }
    let line = typed.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars = line.chars().count();
    if chars > MAX_REVIEW_CHARS {
        return Err(CommandError::ReviewTooLong {
            what,
            chars,
            limit: MAX_REVIEW_CHARS,
        });
    }
    Ok(line)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use crate::command::{Command, CommandError, ParseContext, parse};
    use crate::domain::{ChallengeId, InterviewId};
    use crate::review::Verdict;

    fn read(text: &str) -> Result<Command, CommandError> {
        let challenges = [ChallengeId::parse("python").expect("id")];
        parse(
            text,
            &ParseContext {
                now: chrono::Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap(),
                zone: chrono_tz::UTC,
                challenges: &challenges,
            },
        )
    }

    fn id() -> InterviewId {
        InterviewId::parse("k7mq2xw9ab3c").expect("id")
    }

    #[test]
    fn a_note_keeps_the_words_as_typed_on_one_line() {
        assert_eq!(
            read("note k7mq2xw9ab3c  Solid on SQL;\tmissed the index, asked good questions")
                .expect("note"),
            Command::Note {
                interview: id(),
                text: "Solid on SQL; missed the index, asked good questions".into()
            }
        );
    }

    #[test]
    fn a_score_takes_a_verdict_and_an_optional_comment() {
        assert_eq!(
            read("score k7mq2xw9ab3c Strong-Yes").expect("score"),
            Command::Score {
                interview: id(),
                verdict: Verdict::StrongYes,
                comment: None
            }
        );
        assert_eq!(
            read("score k7mq2xw9ab3c no  not ready for the role").expect("score"),
            Command::Score {
                interview: id(),
                verdict: Verdict::No,
                comment: Some("not ready for the role".into())
            }
        );
    }

    #[test]
    fn each_bad_note_or_score_says_what_is_wrong() {
        for (text, says) in [
            ("note", "missing the interview id and the note"),
            ("note k7mq2xw9ab3c", "missing the note"),
            ("note nope! hello", "interview id"),
            ("score k7mq2xw9ab3c", "missing the score"),
            ("score k7mq2xw9ab3c maybe", "`maybe` is not a score"),
            (
                "note k7mq2xw9ab3c ev\u{202e}il",
                "invisible or control character (U+202E)",
            ),
            (
                "score k7mq2xw9ab3c yes a\u{200b}b",
                "invisible or control character (U+200B)",
            ),
        ] {
            let message = read(text).expect_err(text).user_message();
            assert!(message.contains(says), "{text:?}: {message}");
        }
        let long = format!("note k7mq2xw9ab3c {}", "x".repeat(1001));
        let message = read(&long).expect_err("too long").user_message();
        assert!(
            message.contains("the note has 1001 characters, more than the 1000 allowed"),
            "{message}"
        );
    }
}
