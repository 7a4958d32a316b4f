//! Who may use `/interview` and its buttons.
//!
//! Three allow-lists from config: Slack user ids (`U…`), user-group ids (`S…`) and channel ids
//! (`C…`, `G…`, `D…`). The user lists and the channel list are independent conditions:
//!
//! - users: when neither a user id nor a group id is configured, **everyone in the workspace**
//!   may run commands (installing the app into a workspace is already a choice of who is in);
//!   otherwise the user must be listed or be a member of a listed group;
//! - channels: when none is configured, any channel (and DMs with the app) will do; otherwise
//!   the command must come from a listed channel.
//!
//! Group membership is asked of Slack (`usergroups.users.list`) through a [`GroupDirectory`]
//! and cached for [`GROUP_CACHE_TTL`], so a busy channel does not ask on every command; a
//! failed lookup denies (fail closed) and is not cached.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a user group's members are trusted before asking Slack again.
pub const GROUP_CACHE_TTL: Duration = Duration::from_secs(300);

/// Looks up the members of a Slack user group.
pub trait GroupDirectory {
    /// The user ids in `group`, or why they could not be read (for the log).
    fn group_members(
        &self,
        group: &str,
    ) -> impl Future<Output = Result<Vec<String>, String>> + Send;
}

/// The configured allow-lists, with the group-membership cache.
#[derive(Debug, Default)]
pub struct AllowList {
    users: HashSet<String>,
    groups: HashSet<String>,
    channels: HashSet<String>,
    members: Mutex<HashMap<String, (Instant, HashSet<String>)>>,
}

/// Why a request was refused, in words for the person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The user is not on the lists.
    User,
    /// The command came from a channel not on the list.
    Channel,
}

impl Denial {
    /// The ephemeral line to show.
    pub fn user_message(&self) -> &'static str {
        match self {
            Self::User => {
                "Sorry, you are not allowed to use /interview. Ask a Prequel admin to add you."
            }
            Self::Channel => {
                "/interview is not enabled in this channel. Try it in one of the interview channels."
            }
        }
    }
}

impl AllowList {
    /// Allow-lists from the configured ids (blank entries ignored).
    pub fn new(
        users: impl IntoIterator<Item = String>,
        groups: impl IntoIterator<Item = String>,
        channels: impl IntoIterator<Item = String>,
    ) -> Self {
        let set = |ids: Box<dyn Iterator<Item = String>>| {
            ids.map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect::<HashSet<_>>()
        };
        Self {
            users: set(Box::new(users.into_iter())),
            groups: set(Box::new(groups.into_iter())),
            channels: set(Box::new(channels.into_iter())),
            members: Mutex::default(),
        }
    }

    /// Whether any user or group is listed (otherwise everyone in the workspace may).
    pub fn restricts_users(&self) -> bool {
        !self.users.is_empty() || !self.groups.is_empty()
    }

    /// Whether `channel` is allowed (any channel when none is listed). Interactions without a
    /// channel (a DM's button in some payloads) count as allowed only when none is listed.
    pub fn channel_allowed(&self, channel: Option<&str>) -> bool {
        self.channels.is_empty() || channel.is_some_and(|id| self.channels.contains(id))
    }

    /// Whether `user` is on the lists: listed, or a member of a listed group, or everyone when
    /// nothing restricts users.
    pub async fn user_allowed(&self, user: &str, directory: &impl GroupDirectory) -> bool {
        if !self.restricts_users() || self.users.contains(user) {
            return true;
        }
        for group in &self.groups {
            if self.group_members(group, directory).await.contains(user) {
                return true;
            }
        }
        false
    }

    /// Whether `user` may run a command in `channel`.
    pub async fn check(
        &self,
        user: &str,
        channel: Option<&str>,
        directory: &impl GroupDirectory,
    ) -> Result<(), Denial> {
        if !self.channel_allowed(channel) {
            return Err(Denial::Channel);
        }
        if !self.user_allowed(user, directory).await {
            return Err(Denial::User);
        }
        Ok(())
    }

    async fn group_members(&self, group: &str, directory: &impl GroupDirectory) -> HashSet<String> {
        if let Some(members) = self.cached(group) {
            return members;
        }
        match directory.group_members(group).await {
            Ok(members) => {
                let members: HashSet<String> = members.into_iter().collect();
                self.lock()
                    .insert(group.to_owned(), (Instant::now(), members.clone()));
                members
            }
            Err(reason) => {
                tracing::warn!(group, %reason, "cannot read a Slack user group; denying its members for now");
                HashSet::new()
            }
        }
    }

    fn cached(&self, group: &str) -> Option<HashSet<String>> {
        let cache = self.lock();
        let (at, members) = cache.get(group)?;
        (at.elapsed() < GROUP_CACHE_TTL).then(|| members.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, HashSet<String>)>> {
        // A panic elsewhere cannot leave the map half-written in a way that matters here.
        self.members
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Slack's own directory: `usergroups.users.list` (scope `usergroups:read`).
impl GroupDirectory for super::api::SlackApi {
    async fn group_members(&self, group: &str) -> Result<Vec<String>, String> {
        self.usergroup_members(group)
            .await
            .map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Group `S1` holds `U2`; `SBAD` cannot be read. Counts the lookups.
    #[derive(Default)]
    struct Directory(AtomicUsize);

    impl GroupDirectory for Directory {
        async fn group_members(&self, group: &str) -> Result<Vec<String>, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            match group {
                "S1" => Ok(vec!["U2".to_owned()]),
                _ => Err("usergroups.users.list: no_such_subteam".to_owned()),
            }
        }
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|id| (*id).to_owned()).collect()
    }

    #[tokio::test]
    async fn empty_lists_allow_everyone_everywhere() {
        let open = AllowList::default();
        assert_eq!(
            open.check("U9", Some("C9"), &Directory::default()).await,
            Ok(())
        );
        assert_eq!(open.check("U9", None, &Directory::default()).await, Ok(()));
    }

    #[tokio::test]
    async fn listed_users_and_group_members_are_allowed_in_listed_channels() {
        let list = AllowList::new(ids(&["U1"]), ids(&["S1", "SBAD"]), ids(&["C1"]));
        let directory = Directory::default();
        assert_eq!(list.check("U1", Some("C1"), &directory).await, Ok(()));
        assert_eq!(list.check("U2", Some("C1"), &directory).await, Ok(()));
        assert_eq!(
            list.check("U3", Some("C1"), &directory).await,
            Err(Denial::User)
        );
        assert_eq!(
            list.check("U1", Some("C2"), &directory).await,
            Err(Denial::Channel)
        );
        assert_eq!(
            list.check("U1", None, &directory).await,
            Err(Denial::Channel)
        );
    }

    #[tokio::test]
    async fn group_members_are_cached_but_failures_are_not() {
        let list = AllowList::new(ids(&[]), ids(&["S1"]), ids(&[]));
        let directory = Directory::default();
        for _ in 0..3 {
            assert!(list.user_allowed("U2", &directory).await);
        }
        assert_eq!(directory.0.load(Ordering::SeqCst), 1);

        let broken = AllowList::new(ids(&[]), ids(&["SBAD"]), ids(&[]));
        assert!(!broken.user_allowed("U2", &directory).await);
        assert!(!broken.user_allowed("U2", &directory).await);
        assert_eq!(directory.0.load(Ordering::SeqCst), 3);
    }
}
