//! The one list of commands. The parser's action lookup, `help`, Slack's help text, Discord's
//! command registration and its typed options are all generated from [`COMMANDS`], so a command
//! cannot exist in one place and be missing from another.

use std::fmt::Write as _;

/// One action of `/interview`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The action word, as [`Command::action`](super::Command::action) names it.
    pub name: &'static str,
    /// Other words accepted for the same action.
    pub aliases: &'static [&'static str],
    /// The words after `/interview`, with `<placeholders>` and `[optional parts]`.
    pub usage: &'static str,
    /// What it does, in a short sentence without a trailing period.
    pub summary: &'static str,
    /// A complete example that parses (the tests check it does).
    pub example: &'static str,
    /// The command's arguments as typed options (Discord's), in the order the words take them:
    /// a platform with typed options joins the action and each given value (after its
    /// [`ArgSlot::keyword`]) into the words and parses them, so both ways read the same.
    pub args: &'static [ArgSlot],
}

/// One argument of a command, for platforms that ask for them one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgSlot {
    /// The option's name (`when`, `interview`).
    pub name: &'static str,
    /// What to type, in at most 100 characters.
    pub description: &'static str,
    /// Whether it must be given.
    pub required: bool,
    /// Whether its values are suggested as one types (challenges, one's interviews).
    pub autocomplete: bool,
    /// The word that introduces it in the text (`with`, `for`), or `""`.
    pub keyword: &'static str,
}

const fn arg(name: &'static str, description: &'static str) -> ArgSlot {
    ArgSlot {
        name,
        description,
        required: true,
        autocomplete: false,
        keyword: "",
    }
}

const fn suggested(name: &'static str, description: &'static str) -> ArgSlot {
    ArgSlot {
        autocomplete: true,
        ..arg(name, description)
    }
}

const fn optional(name: &'static str, description: &'static str, keyword: &'static str) -> ArgSlot {
    ArgSlot {
        required: false,
        keyword,
        ..arg(name, description)
    }
}

const WHEN: ArgSlot = arg("when", "start, e.g. `tomorrow 2pm` (your /interview tz)");
const DURATION: ArgSlot = arg("duration", "length, e.g. `90m` or `1h30m`");
const CHALLENGE: ArgSlot = suggested("challenge", "the challenge");
// `with` before `for`: the candidate's name runs to the end of the words.
const WITH: ArgSlot = optional(
    "with",
    "co-interviewers who may also act on it and get the credentials, e.g. @alice",
    "with",
);
const CANDIDATE: ArgSlot = optional("candidate", "the candidate's name", "for");
const INTERVIEW: ArgSlot = suggested("interview", "the interview id");

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "schedule",
        aliases: &["book"],
        usage: "schedule <when> <duration> <challenge> [with @someone] [for <candidate name>]",
        summary: "book an interview for later; times are read in your time zone",
        example: "schedule tomorrow 2pm 90m python for Ada Lovelace",
        args: &[WHEN, DURATION, CHALLENGE, WITH, CANDIDATE],
    },
    CommandSpec {
        name: "create",
        aliases: &["now"],
        usage: "now <duration> <challenge> [with @someone] [for <candidate name>]",
        summary: "start an interview right now",
        example: "now 1h30m python for Ada Lovelace",
        args: &[DURATION, CHALLENGE, WITH, CANDIDATE],
    },
    CommandSpec {
        name: "list",
        aliases: &["ls"],
        usage: "list [all]",
        summary: "show your scheduled and running interviews (`all`: everyone's, for admins)",
        example: "list",
        args: &[optional("all", "`all`: every interview (admins only)", "")],
    },
    CommandSpec {
        name: "status",
        aliases: &[],
        usage: "status <interview id>",
        summary: "show where one interview stands",
        example: "status k7mq2xw9ab3c",
        args: &[INTERVIEW],
    },
    CommandSpec {
        name: "cancel",
        aliases: &[],
        usage: "cancel <interview id>",
        summary: "call off an interview that has not started",
        example: "cancel k7mq2xw9ab3c",
        args: &[INTERVIEW],
    },
    CommandSpec {
        name: "destroy",
        aliases: &["end", "stop"],
        usage: "destroy <interview id>",
        summary: "end a running interview now: archive the work and remove the instance",
        example: "destroy k7mq2xw9ab3c",
        args: &[INTERVIEW],
    },
    CommandSpec {
        name: "extend",
        aliases: &[],
        usage: "extend <interview id> <duration>",
        summary: "give a running interview more time (5m to 3h30m, 4 hours in all at most)",
        example: "extend k7mq2xw9ab3c 30m",
        args: &[INTERVIEW, arg("duration", "extra time, e.g. `30m`")],
    },
    CommandSpec {
        name: "creds",
        aliases: &["credentials"],
        usage: "creds <interview id>",
        summary: "send yourself the interview's URL and password again",
        example: "creds k7mq2xw9ab3c",
        args: &[INTERVIEW],
    },
    CommandSpec {
        name: "note",
        aliases: &[],
        usage: "note <interview id> <text>",
        summary: "add a private note (seen by you, the co-interviewers and admins only)",
        example: "note k7mq2xw9ab3c strong on SQL, missed the index",
        args: &[INTERVIEW, arg("text", "your note, one line")],
    },
    CommandSpec {
        name: "score",
        aliases: &[],
        usage: "score <interview id> strong-yes|yes|no|strong-no [comment]",
        summary: "give your score (one per interviewer; a new one replaces yours)",
        example: "score k7mq2xw9ab3c yes clean code, good tests",
        args: &[
            INTERVIEW,
            arg("score", "strong-yes, yes, no or strong-no"),
            optional("comment", "why, in a line", ""),
        ],
    },
    CommandSpec {
        name: "report",
        aliases: &[],
        usage: "report <interview id>",
        summary: "everything about one interview: times, notes, scores (for its people only)",
        example: "report k7mq2xw9ab3c",
        args: &[INTERVIEW],
    },
    CommandSpec {
        name: "challenges",
        aliases: &[],
        usage: "challenges",
        summary: "list the challenges you can pick",
        example: "challenges",
        args: &[],
    },
    CommandSpec {
        name: "tz",
        aliases: &["timezone"],
        usage: "tz <IANA time zone>",
        summary: "set the time zone your times are read in",
        example: "tz Europe/Berlin",
        args: &[arg("zone", "IANA time zone, e.g. `Europe/Berlin`")],
    },
    CommandSpec {
        name: "help",
        aliases: &[],
        usage: "help",
        summary: "show this list",
        example: "help",
        args: &[],
    },
];

impl CommandSpec {
    /// The words a platform's typed options stand for: the action, then each given value in
    /// [`args`](Self::args) order, after its keyword. `value` answers an argument's value by
    /// name (blank counts as not given). Parsing these words is what the options mean.
    pub fn words<'v>(&self, value: impl Fn(&str) -> Option<&'v str>) -> String {
        let mut words = self.name.to_owned();
        for slot in self.args {
            let Some(given) = value(slot.name).map(str::trim).filter(|v| !v.is_empty()) else {
                continue;
            };
            for part in [slot.keyword, given] {
                if !part.is_empty() {
                    words.push(' ');
                    words.push_str(part);
                }
            }
        }
        words
    }
}

/// The command whose name or alias is `word` (already lowercased).
pub(crate) fn find(word: &str) -> Option<&'static CommandSpec> {
    COMMANDS
        .iter()
        .find(|spec| spec.name == word || spec.aliases.contains(&word))
}

/// Every action word and alias, for typo suggestions.
pub(crate) fn action_words() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .flat_map(|spec| std::iter::once(spec.name).chain(spec.aliases.iter().copied()))
}

/// The reply to `help`: one entry per command with its usage, aliases, summary and example, then
/// the rules for times and durations. Plain text with backticks, which Slack, Discord and a
/// terminal all show well.
pub fn help_text() -> String {
    let mut out = String::from("Commands:\n");
    for spec in COMMANDS {
        // Writing to a String cannot fail.
        let _ = write!(out, "• `{}` — {}", spec.usage, spec.summary);
        if !spec.aliases.is_empty() {
            let aliases: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
            let _ = write!(out, " (also {})", aliases.join(", "));
        }
        if spec.example != spec.usage {
            let _ = write!(out, ", e.g. `{}`", spec.example);
        }
        out.push('\n');
    }
    out.push_str(
        "When: `tomorrow 2pm`, `2pm tomorrow`, `friday at 9:30am`, `next friday 14:00`, \
         `nov 25 2pm`, `2026-11-25 14:00`, `in 2 hours`; a time alone means today.\n\
         Duration: 30m to 4h, as `90m`, `1h30m`, `1.5h` or `90 minutes`.",
    );
    out
}
