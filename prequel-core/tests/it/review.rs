//! `note` and `score` through the facade: the interview's people write and read them, anyone
//! else is refused and changes nothing, a score is one per person, notes come back in order,
//! and they outlive the interview's end (notes are mostly written afterwards).

use std::sync::Arc;

use chrono_tz::Tz;
use prequel_core::access::Actor;
use prequel_core::domain::{Interview, Platform, Requester};
use prequel_core::review::{MAX_NOTES, Verdict};
use prequel_core::store::OperationStore;
use prequel_core::testkit;
use prequel_core::{Outcome, Prequel, PrequelError};

const BERLIN: Tz = chrono_tz::Europe::Berlin;

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
    clock: prequel_core::clock::ManualClock,
    prequel: Prequel,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = testkit::engine::in_dir(dir.path()).build();
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
            .execute_text(&Actor::member(who.clone()), text, BERLIN)
            .await
    }

    async fn interview(&self, who: &Requester, text: &str) -> Interview {
        match self.run(who, text).await {
            Ok(Outcome::Scheduled(interview)) => interview,
            other => panic!("`{text}`: {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_interviews_people_write_and_read_notes_and_scores_and_nobody_else_does() {
    let f = fixture();
    let (alice, carol, mallory) = (
        person("U1", "Alice"),
        person("U3", "Carol"),
        person("U2", "Mallory"),
    );
    let interview = f
        .interview(&alice, "schedule tomorrow 2pm 90m python with <@U3|carol>")
        .await;
    let id = &interview.id;

    match f.run(&alice, &format!("note {id} strong on   SQL")).await {
        Ok(Outcome::Noted { note, interview: i }) => {
            assert_eq!(i.id, *id);
            assert_eq!(note.text, "strong on SQL");
            assert_eq!(note.by, alice);
            assert_eq!(note.at, f.prequel.now());
        }
        other => panic!("{other:?}"),
    }
    f.clock.advance(chrono::Duration::minutes(5));
    f.run(&carol, &format!("note {id} asked good questions"))
        .await
        .expect("Carol may note");
    f.run(&alice, &format!("score {id} no"))
        .await
        .expect("score");
    f.clock.advance(chrono::Duration::minutes(1));
    match f
        .run(&alice, &format!("score {id} strong-yes changed my mind"))
        .await
    {
        Ok(Outcome::Scored { score, .. }) => {
            assert_eq!(score.verdict, Verdict::StrongYes);
            assert_eq!(score.comment.as_deref(), Some("changed my mind"));
        }
        other => panic!("{other:?}"),
    }
    f.run(&carol, &format!("score {id} yes"))
        .await
        .expect("score");

    let records_before = f.store.notes(id).await.expect("records");
    for text in [format!("note {id} sneaky"), format!("score {id} strong-no")] {
        match f.run(&mallory, &text).await {
            Err(PrequelError::Forbidden(message)) => {
                assert!(message.contains("is Alice's"), "{message}")
            }
            other => panic!("`{text}` by Mallory: {other:?}"),
        }
    }
    assert!(matches!(
        f.prequel.review(&Actor::member(mallory.clone()), id).await,
        Err(PrequelError::Forbidden(_))
    ));
    assert_eq!(
        f.store.notes(id).await.expect("records"),
        records_before,
        "Mallory changed nothing"
    );

    for reader in [
        Actor::member(alice.clone()),
        Actor::member(carol.clone()),
        Actor::admin(person("U9", "Root")),
    ] {
        let review = f.prequel.review(&reader, id).await.expect("review");
        let notes: Vec<(&str, &str)> = review
            .notes
            .iter()
            .map(|n| (n.by.display_name.as_str(), n.text.as_str()))
            .collect();
        assert_eq!(
            notes,
            [
                ("Alice", "strong on SQL"),
                ("Carol", "asked good questions")
            ]
        );
        let scores: Vec<(&str, Verdict)> = review
            .scores
            .iter()
            .map(|s| (s.by.display_name.as_str(), s.verdict))
            .collect();
        assert_eq!(
            scores,
            [("Alice", Verdict::StrongYes), ("Carol", Verdict::Yes)],
            "one score per person, the latest"
        );
    }

    // The report carries the same review, for the interview's people only.
    match f.run(&carol, &format!("report {id}")).await {
        Ok(Outcome::Report(report)) => {
            assert_eq!(report.interview.id, *id);
            assert_eq!(report.review.notes.len(), 2);
            assert_eq!(report.review.scores.len(), 2);
            assert_eq!(report.operations.len(), 1, "the create");
            assert_eq!(report.archive_link, None, "no archive before the end");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.run(&mallory, &format!("report {id}")).await,
        Err(PrequelError::Forbidden(_))
    ));

    // After the end the notes stay, and more may be written.
    f.run(&alice, &format!("cancel {id}"))
        .await
        .expect("cancel");
    f.run(&alice, &format!("note {id} cancelled: candidate ill"))
        .await
        .expect("a note after the end");
    let review = f
        .prequel
        .review(&Actor::member(alice.clone()), id)
        .await
        .expect("review");
    assert_eq!(review.notes.len(), 3);
}

#[tokio::test]
async fn notes_stop_at_the_limit_and_bad_ones_record_nothing() {
    let f = fixture();
    let alice = person("U1", "Alice");
    let interview = f
        .interview(&alice, "schedule tomorrow 2pm 90m python")
        .await;
    let id = &interview.id;
    for bad in [
        format!("note {id}"),
        format!("note {id} ev\u{202e}il"),
        format!("score {id} maybe"),
        format!("note {id} {}", "x".repeat(1001)),
    ] {
        assert!(
            matches!(f.run(&alice, &bad).await, Err(PrequelError::Command(_))),
            "{bad:?}"
        );
    }
    assert!(f.store.notes(id).await.expect("records").is_empty());

    for n in 0..MAX_NOTES {
        f.run(&alice, &format!("note {id} note {n}"))
            .await
            .expect("under the limit");
    }
    match f.run(&alice, &format!("note {id} one too many")).await {
        Err(PrequelError::Refused(message)) => {
            assert!(message.contains("100 notes already"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Scores are not notes: one may still score.
    f.run(&alice, &format!("score {id} yes"))
        .await
        .expect("score");
}
