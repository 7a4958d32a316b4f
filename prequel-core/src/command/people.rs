//! The people in a request: the candidate's name after `for`, and the co-interviewers after
//! `with`.
//!
//! A candidate's name is shown in chat, on the status page and in terminals, so it must read as
//! what it is: controls, Unicode format characters (bidi overrides such as U+202E, zero-width
//! characters such as U+200B) and unassigned code points are refused, not dropped, since a name
//! that silently changed would be a different name. Whitespace of any kind becomes one space.
//!
//! Co-interviewers are named the way each chat names people: Slack sends a picked mention as
//! `<@U024BE7LH>` or `<@U024BE7LH|alice>` (with the slash command's escaping on, as in the
//! manifest), Discord as `<@80351110224678912>` or `<@!…>`; both carry the user's id, which is
//! what ownership compares. A plain `@alice` is a name only: the command line's logins.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::CommandError;
use super::lex::Word;
use crate::domain::truncate_for_message;

/// The longest candidate name accepted, in characters.
pub const MAX_CANDIDATE_CHARS: usize = 100;

/// The most people one interview can be shared with.
pub const MAX_CO_INTERVIEWERS: usize = 10;

/// The longest user id or login accepted in a mention.
const MAX_MENTION_CHARS: usize = 64;

/// Someone named after `with`, as the chat sent them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CoInterviewer {
    /// A mention that carries the platform's user id (Slack `<@U024BE7LH|alice>`, Discord
    /// `<@80351110224678912>`).
    Id(String),
    /// A plain `@login`: a name, which only the command line and the API take as an identity.
    Name(String),
}

impl CoInterviewer {
    /// The id or name, without decoration.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Id(id) | Self::Name(id) => id,
        }
    }
}

/// Reads one mention word: `<@ID>`, `<@!ID>`, `<@ID|label>` or `@login`. `None` if it is none.
fn mention(raw: &str) -> Option<CoInterviewer> {
    let raw = raw.strip_suffix(',').unwrap_or(raw);
    let plain = |id: &str| {
        !id.is_empty()
            && id.chars().count() <= MAX_MENTION_CHARS
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if let Some(inner) = raw.strip_prefix("<@").and_then(|r| r.strip_suffix('>')) {
        let inner = inner.strip_prefix('!').unwrap_or(inner);
        let id = inner.split_once('|').map_or(inner, |(id, _label)| id);
        return (plain(id) && id.chars().all(|c| c.is_ascii_alphanumeric()))
            .then(|| CoInterviewer::Id(id.to_owned()));
    }
    let login = raw.strip_prefix('@')?;
    plain(login).then(|| CoInterviewer::Name(login.to_owned()))
}

/// Reads `with <mention> [and] <mention>…` from `rest`, whose first word is `with`: the people,
/// and how many words were used. At least one person must follow.
pub(crate) fn read_with(
    rest: &[Word<'_>],
    into: &mut Vec<CoInterviewer>,
) -> Result<usize, CommandError> {
    let mut used = 1;
    let mut found = 0;
    while let Some(word) = rest.get(used) {
        if word.norm == "and" && found > 0 {
            used += 1;
            continue;
        }
        let Some(person) = mention(word.raw) else {
            break;
        };
        if !into.contains(&person) {
            into.push(person);
        }
        found += 1;
        used += 1;
    }
    if found == 0 {
        return Err(CommandError::BadCoInterviewer {
            word: rest
                .get(1)
                .map_or_else(|| "nothing".to_owned(), |w| truncate_for_message(w.raw)),
        });
    }
    if into.len() > MAX_CO_INTERVIEWERS {
        return Err(CommandError::TooManyCoInterviewers {
            count: into.len(),
            limit: MAX_CO_INTERVIEWERS,
        });
    }
    Ok(used)
}

/// The people in a typed option (Discord's `with`): mentions separated by spaces or commas.
pub fn co_interviewers(text: &str) -> Result<Vec<CoInterviewer>, CommandError> {
    let text = format!("with {}", text.replace(',', " "));
    let words = super::lex::words(&text);
    let mut people = Vec::new();
    let used = read_with(&words, &mut people)?;
    if let Some(extra) = words.get(used) {
        return Err(CommandError::BadCoInterviewer {
            word: truncate_for_message(extra.raw),
        });
    }
    Ok(people)
}

/// The candidate's name as typed, on one line: runs of whitespace (line breaks included) become
/// one space. Controls, format characters and unassigned code points are refused.
pub fn candidate_name(typed: &str) -> Result<String, CommandError> {
    if let Some(bad) = typed.chars().find(|c| {
        !c.is_whitespace()
            && matches!(
                c.general_category(),
                GeneralCategory::Control | GeneralCategory::Format | GeneralCategory::Unassigned
            )
    }) {
        return Err(CommandError::CandidateCharacter {
            codepoint: format!("U+{:04X}", u32::from(bad)),
        });
    }
    let name = typed.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        return Err(CommandError::missing(
            &["the candidate's name after `for`"],
            &["for Ada Lovelace"],
        ));
    }
    let chars = name.chars().count();
    if chars > MAX_CANDIDATE_CHARS {
        return Err(CommandError::CandidateTooLong {
            chars,
            limit: MAX_CANDIDATE_CHARS,
        });
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_name_is_kept_on_one_line() {
        assert_eq!(
            candidate_name(" Ada\n  Lovelace\t"),
            Ok("Ada Lovelace".to_owned())
        );
        assert_eq!(
            candidate_name("Zoë Çelik-Ødegård"),
            Ok("Zoë Çelik-Ødegård".to_owned())
        );
        assert!(
            candidate_name("\n\t ").is_err(),
            "nothing but whitespace is no name"
        );
    }

    #[test]
    fn names_that_would_show_as_something_else_are_refused() {
        for (name, codepoint) in [
            ("Ev\u{202e}il", "U+202E"),         // right-to-left override
            ("Eve\u{200b}", "U+200B"),          // zero-width space
            ("Eve\u{2066}x\u{2069}", "U+2066"), // left-to-right isolate
            ("Zoë \u{1b}[31mRed", "U+001B"),    // an ANSI escape
            ("Bell\u{7}", "U+0007"),
            ("New\u{0378}", "U+0378"), // unassigned
            ("soft\u{ad}hyphen", "U+00AD"),
        ] {
            let error = candidate_name(name).expect_err(name);
            assert_eq!(
                error,
                CommandError::CandidateCharacter {
                    codepoint: codepoint.to_owned()
                },
                "{name:?}"
            );
            assert!(
                error.user_message().contains(codepoint),
                "{}",
                error.user_message()
            );
        }
    }

    #[test]
    fn mentions_carry_ids_and_plain_names_are_names() {
        assert_eq!(
            co_interviewers("<@U024BE7LH|alice>, <@!80351110224678912> @bob.smith"),
            Ok(vec![
                CoInterviewer::Id("U024BE7LH".to_owned()),
                CoInterviewer::Id("80351110224678912".to_owned()),
                CoInterviewer::Name("bob.smith".to_owned()),
            ])
        );
        assert_eq!(
            co_interviewers("<@U1> <@U1>"),
            Ok(vec![CoInterviewer::Id("U1".to_owned())]),
            "a person named twice is one person"
        );
        for bad in [
            "alice",
            "<@>",
            "<#C123|general>",
            "<@U1 >",
            "@",
            "<@U1/../x>",
            "",
        ] {
            assert!(
                matches!(
                    co_interviewers(bad),
                    Err(CommandError::BadCoInterviewer { .. })
                ),
                "{bad:?}"
            );
        }
        let many: Vec<String> = (0..=MAX_CO_INTERVIEWERS)
            .map(|i| format!("<@U{i}>"))
            .collect();
        assert!(matches!(
            co_interviewers(&many.join(" ")),
            Err(CommandError::TooManyCoInterviewers { .. })
        ));
    }
}
