//! The SQLite store: the shared conformance suite, run against temp files, plus what is
//! particular to SQLite (several handles on one file, persistence across reopening).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use prequel_core::domain::{ChallengeId, InterviewId, InterviewLength, Platform, Requester};
use prequel_core::store::sqlite::SqliteStore;
use prequel_core::store::{NewInterview, OperationStore};
use prequel_core::testkit::store_conformance::{StoreFixture, StoreHarness};

/// Each store is a fresh file in its own temp directory; peers open the same file again, each
/// with its own connection, as another process would.
struct SqliteHarness;

struct SqliteFixture {
    // Kept for its Drop: the directory (and the database) goes when the case ends.
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
}

#[async_trait]
impl StoreHarness for SqliteHarness {
    async fn open(&self) -> Box<dyn StoreFixture> {
        let dir = tempfile::tempdir().expect("temp dir for the database");
        let store = SqliteStore::open(&dir.path().join("prequel.db")).expect("store opens");
        Box::new(SqliteFixture {
            _dir: dir,
            store: Arc::new(store),
        })
    }
}

#[async_trait]
impl StoreFixture for SqliteFixture {
    fn store(&self) -> Arc<dyn OperationStore> {
        self.store.clone()
    }

    async fn peer(&self) -> Arc<dyn OperationStore> {
        Arc::new(SqliteStore::open(self.store.path()).expect("peer opens the same file"))
    }
}

mod conformance {
    use super::SqliteHarness;

    prequel_core::store_conformance_tests!(SqliteHarness);
}

#[tokio::test]
async fn the_whole_suite_runs_in_one_call_too() {
    prequel_core::testkit::store_conformance::run_all(&SqliteHarness).await;
}

#[tokio::test]
async fn records_survive_closing_and_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prequel.db");
    let now = Utc
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time");
    let new = NewInterview {
        id: InterviewId::generate(),
        challenge: ChallengeId::parse("sql").expect("challenge"),
        candidate: Some("Ada".into()),
        requested_by: Requester {
            platform: Platform::Cli,
            user_id: "ada".into(),
            display_name: "Ada".into(),
        },
        co_interviewers: Vec::new(),
        time_zone: "Europe/London".into(),
        start_at: now + Duration::hours(2),
        length: InterviewLength::from_minutes(45).expect("length"),
        create_due_at: now + Duration::minutes(105),
        max_attempts: 3,
    };
    let created = {
        let store = SqliteStore::open(&path).expect("opens");
        store.create_interview(&new, now).await.expect("created")
    };
    let store = SqliteStore::open(&path).expect("reopens");
    assert_eq!(
        store.interview(&new.id).await.expect("read"),
        Some(created.interview)
    );
    assert_eq!(
        store.operation(&created.operation.id).await.expect("read"),
        Some(created.operation)
    );
    assert!(store.latest_change().await.expect("feed").0 >= 2);
}
