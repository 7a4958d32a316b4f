//! Who may use `/interview` and the buttons: allow-lists of guild ids, role ids and user ids.
//!
//! A list that is empty does not restrict. With several lists set, all must pass: the
//! interaction must come from an allowed guild (when guilds are listed), and the user must be
//! listed or hold a listed role (when users or roles are listed). The member's roles come in the
//! interaction payload, so no API call is needed.

/// The allow-lists, from `PREQUEL_DISCORD_ALLOWED_{GUILDS,ROLES,USERS}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    guilds: Vec<String>,
    roles: Vec<String>,
    users: Vec<String>,
}

/// Who is asking, as the interaction says.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    /// The guild, or `None` in a DM with the bot.
    pub guild_id: Option<&'a str>,
    /// The user's snowflake.
    pub user_id: &'a str,
    /// The member's role ids in that guild (empty in DMs).
    pub roles: &'a [String],
}

impl AllowList {
    /// Lists of snowflakes; blanks are dropped.
    pub fn new(guilds: Vec<String>, roles: Vec<String>, users: Vec<String>) -> Self {
        let clean = |list: Vec<String>| {
            list.into_iter()
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect::<Vec<_>>()
        };
        Self {
            guilds: clean(guilds),
            roles: clean(roles),
            users: clean(users),
        }
    }

    /// Whether `caller` may use Prequel.
    pub fn allows(&self, caller: &Caller<'_>) -> bool {
        let guild_ok = self.guilds.is_empty()
            || caller
                .guild_id
                .is_some_and(|guild| self.guilds.iter().any(|allowed| allowed == guild));
        let person_ok = (self.users.is_empty() && self.roles.is_empty())
            || self.users.iter().any(|user| user == caller.user_id)
            || caller.roles.iter().any(|role| self.roles.contains(role));
        guild_ok && person_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller<'a>(guild: Option<&'a str>, user: &'a str, roles: &'a [String]) -> Caller<'a> {
        Caller {
            guild_id: guild,
            user_id: user,
            roles,
        }
    }

    #[test]
    fn empty_lists_allow_everyone() {
        assert!(AllowList::default().allows(&caller(None, "1", &[])));
    }

    #[test]
    fn guilds_users_and_roles_restrict() {
        let roles = vec!["r1".to_owned()];
        let list = AllowList::new(vec!["g1".into()], vec!["r1".into()], vec!["u1".into()]);
        assert!(list.allows(&caller(Some("g1"), "u1", &[])));
        assert!(list.allows(&caller(Some("g1"), "u2", &roles)));
        assert!(!list.allows(&caller(Some("g1"), "u2", &[])));
        assert!(!list.allows(&caller(Some("g2"), "u1", &[])));
        assert!(!list.allows(&caller(None, "u1", &[])));
    }
}
