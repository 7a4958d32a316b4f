//! The facade as a frontend uses it: words in, outcomes (or one-line refusals) out — and a
//! refused command changes nothing in the store.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use prequel_core::access::Actor;
use prequel_core::clock::ManualClock;
use prequel_core::domain::{Interview, InterviewState, Platform, Requester};
use prequel_core::store::{InterviewScope, OperationStore, PageRequest};
use prequel_core::testkit;
use prequel_core::{Outcome, Prequel, PrequelError};

const BERLIN: Tz = chrono_tz::Europe::Berlin;

fn t0() -> DateTime<Utc> {
    // Monday 2026-11-23 10:00 UTC = 11:00 in Berlin.
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time")
}

fn person(user_id: &str, name: &str) -> Requester {
    Requester {
        platform: Platform::Slack,
        user_id: user_id.into(),
        display_name: name.into(),
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn OperationStore>,
    clock: ManualClock,
    prequel: Prequel,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = testkit::engine::in_dir(dir.path())
        .challenges(&["python", "sql", "javascript"])
        .build();
    Fixture {
        _dir: dir,
        store: engine.store,
        clock: engine.clock,
        prequel: engine.prequel,
    }
}

impl Fixture {
    async fn run(&self, who: &Requester, text: &str) -> Result<Outcome, PrequelError> {
        self.prequel
            .execute_text(
                &prequel_core::access::Actor::member(who.clone()),
                text,
                BERLIN,
            )
            .await
    }

    async fn schedule(&self, who: &Requester, text: &str) -> Interview {
        match self.run(who, text).await {
            Ok(Outcome::Scheduled(interview)) => interview,
            other => panic!("`{text}` did not schedule: {other:?}"),
        }
    }

    async fn refusal(&self, who: &Requester, text: &str) -> String {
        match self.run(who, text).await {
            Err(err) => err.user_message(),
            Ok(outcome) => panic!("`{text}` was accepted: {outcome:?}"),
        }
    }

    async fn all_interviews(&self) -> Vec<Interview> {
        self.store
            .list_interviews(InterviewScope::All, &PageRequest::first(500))
            .await
            .expect("list")
            .items
    }
}

#[tokio::test]
async fn schedule_records_the_interview_in_the_users_zone_with_who_asked() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let interview = f
        .schedule(&alice, "schedule tomorrow 2pm 90m python for Ada Lovelace")
        .await;
    // 14:00 in Berlin (UTC+1 in November) is 13:00 UTC.
    assert_eq!(
        interview.start_at,
        Utc.with_ymd_and_hms(2026, 11, 24, 13, 0, 0)
            .single()
            .expect("valid")
    );
    assert_eq!(
        interview.destroy_at,
        interview.start_at + Duration::minutes(90)
    );
    assert_eq!(interview.candidate.as_deref(), Some("Ada Lovelace"));
    assert_eq!(interview.requested_by, alice);
    assert_eq!(interview.time_zone, "Europe/Berlin");
    assert_eq!(interview.state, InterviewState::Scheduled);
    let operations = f
        .prequel
        .operations(&interview.id)
        .await
        .expect("operations");
    assert_eq!(operations.len(), 1);
    assert_eq!(
        operations[0].due_at,
        interview.start_at - Duration::minutes(5),
        "lead time"
    );
    assert_eq!(
        operations[0].requested_by, alice,
        "audit: who asked is on the operation"
    );
}

#[tokio::test]
async fn bad_words_are_refused_in_one_line_and_record_nothing() {
    let f = fixture();
    let alice = person("U1", "Alice");
    for text in [
        "schedule yesterday 2pm 90m python",
        "schedule tomorrow 2pm 20m python",
        "schedule tomorrow 2pm 90m cobol",
        "schedule tomorrow 2pm 90m python please",
        "now 90m",
        "",
    ] {
        let message = f.refusal(&alice, text).await;
        assert!(!message.contains('\n'), "one line for {text:?}: {message}");
        assert!(!message.is_empty());
    }
    assert!(f.all_interviews().await.is_empty(), "nothing was recorded");
}

#[tokio::test]
async fn cancel_before_the_start_and_destroy_after_it() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let later = f.schedule(&alice, "schedule tomorrow 2pm 60m sql").await;
    match f.run(&alice, &format!("cancel {}", later.id)).await {
        Ok(Outcome::Cancelled(interview)) => assert_eq!(interview.state, InterviewState::Cancelled),
        other => panic!("not cancelled: {other:?}"),
    }
    let again = f.refusal(&alice, &format!("cancel {}", later.id)).await;
    assert_eq!(
        again,
        format!("interview `{}` has already ended (cancelled)", later.id)
    );
    let destroy = f.refusal(&alice, &format!("destroy {}", later.id)).await;
    assert_eq!(
        destroy,
        format!("interview `{}` has already ended (cancelled)", later.id)
    );
}

#[tokio::test]
async fn destroy_of_a_scheduled_interview_cancels_it() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let later = f
        .schedule(&alice, "schedule friday 9am 2h javascript")
        .await;
    match f.run(&alice, &format!("destroy {}", later.id)).await {
        Ok(Outcome::Cancelled(interview)) => assert_eq!(interview.state, InterviewState::Cancelled),
        other => panic!("not cancelled: {other:?}"),
    }
}

#[tokio::test]
async fn unknown_interview_ids_say_so_and_point_to_list() {
    let f = fixture();
    let message = f
        .refusal(&person("U1", "Alice"), "status abcdefgh2345")
        .await;
    assert_eq!(
        message,
        "there is no interview `abcdefgh2345` (see `list` for yours)"
    );
}

#[tokio::test]
async fn extend_moves_the_end_but_never_past_four_hours() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let interview = f.schedule(&alice, "schedule tomorrow 2pm 3h python").await;
    match f.run(&alice, &format!("extend {} 30m", interview.id)).await {
        Ok(Outcome::Extended(extended)) => {
            assert_eq!(extended.length.minutes(), 210);
            assert_eq!(
                extended.destroy_at,
                interview.start_at + Duration::minutes(210)
            );
        }
        other => panic!("not extended: {other:?}"),
    }
    let message = f
        .refusal(&alice, &format!("extend {} 1h", interview.id))
        .await;
    assert_eq!(
        message,
        format!(
            "interview `{}` lasts 3h30m already; extending it by 1h would make 4h30m, and an interview lasts at most 4h",
            interview.id
        )
    );
    let stored = f.prequel.get(&interview.id).await.expect("get");
    assert_eq!(
        stored.length.minutes(),
        210,
        "the refused extension changed nothing"
    );
}

/// The ownership rule as every frontend meets it: the requester, the co-interviewers they
/// named and admins may act on an interview; anyone else is refused in one line and changes
/// nothing.
#[tokio::test]
async fn only_the_requester_co_interviewers_and_admins_act_on_an_interview() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let carol = person("U3", "Carol");
    let mallory = person("U2", "Mallory");
    let admin = Actor::admin(person("U9", "Root"));
    let interview = f
        .schedule(
            &alice,
            "schedule tomorrow 2pm 90m python with <@U3|carol> <@U1> for Ada",
        )
        .await;
    assert_eq!(
        interview.co_interviewers,
        ["U3"],
        "naming oneself adds nobody"
    );
    let id = &interview.id;
    let store_before = (
        f.all_interviews().await,
        f.store.operations_for(id).await.expect("operations"),
    );

    for verb in ["status", "creds", "extend", "cancel", "destroy"] {
        let text = if verb == "extend" {
            format!("extend {id} 30m")
        } else {
            format!("{verb} {id}")
        };
        match f.run(&mallory, &text).await {
            Err(PrequelError::Forbidden(message)) => assert_eq!(
                message,
                format!(
                    "interview `{id}` is Alice's: only they, the co-interviewers they named and \
                     Prequel admins can {verb} it"
                )
            ),
            other => panic!("`{text}` by Mallory: {other:?}"),
        }
    }
    assert_eq!(
        (
            f.all_interviews().await,
            f.store.operations_for(id).await.expect("operations")
        ),
        store_before,
        "Mallory changed nothing"
    );
    match f.run(&mallory, "list").await {
        Ok(Outcome::List(shown)) => assert!(shown.is_empty(), "{shown:?}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.run(&mallory, "list all").await,
        Err(PrequelError::Forbidden(_))
    ));

    // Carol was named: she sees it in her list, and may read the credentials and extend it.
    match f.run(&carol, "list").await {
        Ok(Outcome::List(shown)) => assert_eq!(shown, std::slice::from_ref(&interview)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.run(&carol, &format!("creds {id}")).await,
        Ok(Outcome::Credentials { .. })
    ));
    assert!(matches!(
        f.run(&carol, &format!("extend {id} 30m")).await,
        Ok(Outcome::Extended(_))
    ));
    // The audit trail names who extended it, with the platform's user id.
    let operations = f.store.operations_for(id).await.expect("operations");
    let logs = f
        .prequel
        .logs(&operations[0].id, &PageRequest::first(50))
        .await
        .expect("logs");
    assert!(
        logs.items
            .iter()
            .any(|line| line.message == "extended by 30m to 2h by Carol (slack U3)"),
        "{:?}",
        logs.items
    );

    // An admin lists everyone's and may end it.
    match f.prequel.execute_text(&admin, "list all", BERLIN).await {
        Ok(Outcome::List(shown)) => assert_eq!(shown.len(), 1),
        other => panic!("{other:?}"),
    }
    match f
        .prequel
        .execute_text(&admin, &format!("cancel {id}"), BERLIN)
        .await
    {
        Ok(Outcome::Cancelled(ended)) => assert_eq!(ended.state, InterviewState::Cancelled),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn cancel_forgets_the_password() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let interview = f.schedule(&alice, "schedule tomorrow 2pm 90m python").await;
    let password = f
        ._dir
        .path()
        .join(format!("secrets/{}.password", interview.id));
    assert!(password.exists(), "made when the interview was recorded");
    f.run(&alice, &format!("cancel {}", interview.id))
        .await
        .expect("cancelled");
    assert!(
        !password.exists(),
        "a cancelled interview keeps no password"
    );
    match f.run(&alice, &format!("creds {}", interview.id)).await {
        Ok(Outcome::Credentials { password, .. }) => assert!(password.is_none()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn names_that_would_show_as_something_else_are_refused_and_record_nothing() {
    let f = fixture();
    let alice = person("U1", "Alice");
    for name in ["Ev\u{202e}il", "Eve\u{200b}", "Bell\u{7}"] {
        let message = f
            .refusal(&alice, &format!("now 1h python for {name}"))
            .await;
        assert!(
            message.starts_with("the candidate's name has an invisible or control character (U+"),
            "{message}"
        );
    }
    assert!(f.all_interviews().await.is_empty());
}

#[tokio::test]
async fn list_shows_open_interviews_by_start_time() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let second = f.schedule(&alice, "schedule friday 9am 90m python").await;
    let first = f.schedule(&alice, "schedule tomorrow 9am 90m sql").await;
    let cancelled = f.schedule(&alice, "schedule tomorrow 10am 90m sql").await;
    f.run(&alice, &format!("cancel {}", cancelled.id))
        .await
        .expect("cancel");
    match f.run(&alice, "list").await {
        Ok(Outcome::List(interviews)) => {
            let ids: Vec<_> = interviews.iter().map(|i| &i.id).collect();
            assert_eq!(ids, [&first.id, &second.id]);
        }
        other => panic!("no list: {other:?}"),
    }
}

#[tokio::test]
async fn now_starts_at_the_current_time_and_is_due_at_once() {
    let f = fixture();
    f.clock.advance(Duration::minutes(7));
    let alice = person("U1", "Alice");
    match f.run(&alice, "now 30m python").await {
        Ok(Outcome::Created {
            interview,
            password,
        }) => {
            assert_eq!(
                password.expose().len(),
                34,
                "seven groups of four, joined by dashes"
            );
            assert_eq!(interview.start_at, t0() + Duration::minutes(7));
            let operations = f
                .prequel
                .operations(&interview.id)
                .await
                .expect("operations");
            assert_eq!(
                operations[0].due_at, interview.start_at,
                "due now, not start − lead"
            );
        }
        other => panic!("not created: {other:?}"),
    }
}

#[tokio::test]
async fn help_and_challenges_come_from_the_engine() {
    let f = fixture();
    let alice = person("U1", "Alice");
    match f.run(&alice, "challenges").await {
        Ok(Outcome::Challenges(ids)) => {
            let names: Vec<_> = ids.iter().map(|c| c.as_str()).collect();
            assert_eq!(names, ["javascript", "python", "sql"]);
        }
        other => panic!("{other:?}"),
    }
    match f.run(&alice, "HELP").await {
        Ok(Outcome::Help(text)) => assert!(text.contains("schedule") && text.contains("extend")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn changes_made_by_another_process_reach_this_processs_subscribers() {
    let f = fixture();
    // A second engine on the same SQLite file, as another `prequel serve` would be.
    let other = testkit::engine::in_dir(f._dir.path())
        .clock(f.clock.clone())
        .build()
        .prequel;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = f.prequel.start(stopped).await.expect("start");
    let mut events = f.prequel.subscribe();
    let interview = match other
        .execute_text(
            &prequel_core::access::Actor::member(person("U9", "Bob")),
            "schedule tomorrow 2pm 90m python",
            BERLIN,
        )
        .await
    {
        Ok(Outcome::Scheduled(interview)) => interview,
        other => panic!("{other:?}"),
    };
    let heard = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            match events.recv().await.expect("the bus stays open") {
                prequel_core::events::Event::InterviewUpdate {
                    interview: seen, ..
                } if seen.id == interview.id => {
                    return seen;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the other process's change arrived within the follower's poll");
    assert_eq!(heard, interview);
    let _ = stop.send(true);
    background.join().await;
}

#[tokio::test]
async fn every_command_naming_an_unknown_interview_gets_the_same_hint() {
    let f = fixture();
    let alice = person("U1", "Alice");
    for verb in ["status", "cancel", "destroy", "creds"] {
        let message = f.refusal(&alice, &format!("{verb} abcdefgh2345")).await;
        assert_eq!(
            message, "there is no interview `abcdefgh2345` (see `list` for yours)",
            "{verb}"
        );
    }
    let message = f.refusal(&alice, "extend abcdefgh2345 30m").await;
    assert_eq!(
        message,
        "there is no interview `abcdefgh2345` (see `list` for yours)"
    );
}
