//! Who may act on which interview: the one ownership rule every frontend goes through.
//!
//! Every command is carried out for an [`Actor`]: the person (a [`Requester`]) and their
//! [`Role`]. Frontends decide the role from their own configuration (Slack's and Discord's admin
//! lists, the API's admin token) and nothing else; the facade applies [`may_act`] before
//! `status`, `creds`, `extend`, `destroy` and `cancel`, and [`Interview::involves`] to `list`.
//! A frontend never checks ownership itself, so buttons, typed commands, autocomplete and the
//! API cannot disagree.
//!
//! The rule: an interview is its requester's and its co-interviewers' (people the requester named
//! with `with @someone`, on the same platform); admins may act on every interview.

use crate::domain::{Interview, Requester};

/// The standing of the person acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May act on the interviews they asked for or were named on.
    Member,
    /// May act on every interview and `list all`.
    Admin,
}

/// Who is acting, and with what standing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person, as the platform identifies them; recorded as the requester of what they ask.
    pub requester: Requester,
    /// Their standing.
    pub role: Role,
}

impl Actor {
    /// Someone who may act on their own interviews.
    pub fn member(requester: Requester) -> Self {
        Self {
            requester,
            role: Role::Member,
        }
    }

    /// Someone who may act on every interview.
    pub fn admin(requester: Requester) -> Self {
        Self {
            requester,
            role: Role::Admin,
        }
    }

    /// Whether the actor is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

impl Interview {
    /// Whether `who` asked for this interview or was named as one of its co-interviewers (the
    /// same platform and user id; display names do not count).
    pub fn involves(&self, who: &Requester) -> bool {
        let owner = &self.requested_by;
        owner.platform == who.platform
            && (owner.user_id == who.user_id || self.co_interviewers.contains(&who.user_id))
    }
}

/// Whether `actor` may see and change `interview`: an admin always, anyone else only when the
/// interview [involves](Interview::involves) them.
pub fn may_act(actor: &Actor, interview: &Interview) -> bool {
    actor.is_admin() || interview.involves(&actor.requester)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::{
        ChallengeId, InterviewId, InterviewLength, InterviewState, Platform, Requester,
    };

    fn person(platform: Platform, id: &str) -> Requester {
        Requester {
            platform,
            user_id: id.to_owned(),
            display_name: format!("{id} (shown)"),
        }
    }

    fn interview(owner: Requester, co: &[&str]) -> Interview {
        let at = Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap();
        let length = InterviewLength::from_minutes(60).unwrap();
        Interview {
            id: InterviewId::generate(),
            challenge: ChallengeId::parse("python").unwrap(),
            candidate: None,
            requested_by: owner,
            co_interviewers: co.iter().map(|id| (*id).to_owned()).collect(),
            time_zone: "UTC".to_owned(),
            start_at: at,
            length,
            destroy_at: at + length.as_duration(),
            state: InterviewState::Active,
            access_url: None,
            challenge_checksum: None,
            archive: None,
            reason: None,
            warned_at: None,
            created_at: at,
            updated_at: at,
            expires_at: None,
            version: 1,
        }
    }

    #[test]
    fn the_requester_and_named_co_interviewers_may_act_and_nobody_else() {
        let alice = person(Platform::Slack, "U1");
        let interview = interview(alice.clone(), &["U2"]);
        assert!(may_act(&Actor::member(alice), &interview));
        assert!(may_act(
            &Actor::member(person(Platform::Slack, "U2")),
            &interview
        ));
        assert!(!may_act(
            &Actor::member(person(Platform::Slack, "U3")),
            &interview
        ));
    }

    #[test]
    fn an_admin_may_act_on_any_interview() {
        let interview = interview(person(Platform::Slack, "U1"), &[]);
        assert!(may_act(
            &Actor::admin(person(Platform::Cli, "admin")),
            &interview
        ));
    }

    #[test]
    fn the_same_id_on_another_platform_is_someone_else() {
        // A Discord snowflake or a CLI login that happens to spell a Slack id owns nothing there.
        let interview = interview(person(Platform::Slack, "U1"), &["U2"]);
        for id in ["U1", "U2"] {
            assert!(!may_act(
                &Actor::member(person(Platform::Discord, id)),
                &interview
            ));
            assert!(!may_act(
                &Actor::member(person(Platform::Cli, id)),
                &interview
            ));
        }
    }

    #[test]
    fn a_display_name_is_not_an_identity() {
        let interview = interview(person(Platform::Slack, "U1"), &[]);
        let impostor = Requester {
            platform: Platform::Slack,
            user_id: "U9".to_owned(),
            display_name: "U1 (shown)".to_owned(),
        };
        assert!(!may_act(&Actor::member(impostor), &interview));
    }
}
