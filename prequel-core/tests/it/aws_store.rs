//! The DynamoDB store against moto: the shared store conformance suite, plus what is particular
//! to DynamoDB (the schema check, TTL attributes on the raw items, a follower replica on another
//! client, page tokens, and the request budget of one interview's lifecycle).
//!
//! Every test shares one moto server (started on first use) and makes its own tables under a
//! unique prefix. Without moto, outside CI, every test prints `SKIPPED:` and passes; under
//! `CI=true` a missing moto fails every test.
//!
//! Each request is atomic, as on DynamoDB, because `testkit::moto` serves moto one request at a
//! time (its threaded server is not atomic under concurrent transactions); the handles' calls
//! still interleave freely, so every read, decide, conditional write is raced as on DynamoDB.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use prequel_core::aws::{RequestCounter, ResourceNames};
use prequel_core::domain::{
    ChallengeId, InterviewId, InterviewLength, InterviewState, LogLine, Platform, Requester,
};
use prequel_core::store::dynamo::{DynamoStore, create_tables};
use prequel_core::store::{
    ChangeCursor, Completion, DEFAULT_RETENTION, DestroyRequested, InterviewScope, NewInterview,
    OperationStore, PageRequest, PageToken, StoreError,
};
use prequel_core::testkit::moto::{Moto, moto, unique_name};
use prequel_core::testkit::store_conformance::{StoreFixture, StoreHarness};

/// A DynamoDB client on moto, counting its requests with `counter` when given.
async fn dynamodb(moto: &Moto, counter: Option<RequestCounter>) -> aws_sdk_dynamodb::Client {
    let config = prequel_core::aws::sdk_config(&moto.connect_options(None))
        .await
        .to_builder()
        // moto on a busy two-core machine can take seconds before the first byte of an answer;
        // that is not a stalled stream.
        .stalled_stream_protection(
            aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .build();
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&config);
    if let Some(counter) = counter {
        builder = builder.interceptor(counter);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

/// Each store gets fresh tables under a unique prefix; peers are new clients on the same tables,
/// as another replica would have.
struct DynamoHarness {
    moto: &'static Moto,
}

impl DynamoHarness {
    /// The harness for the conformance case running in `context` (the type name of a closure
    /// made in the case's test function, which names the case), or `None` after a loud
    /// `SKIPPED:` line when moto is not available outside CI (under `CI=true` that panics).
    fn get(context: &str) -> Option<Self> {
        let case = context
            .split("::")
            .skip_while(|part| *part != "conformance")
            .nth(1)
            .unwrap_or(context);
        moto(&format!("aws_store::conformance::{case}")).map(|moto| Self { moto })
    }
}

struct DynamoFixture {
    moto: &'static Moto,
    names: ResourceNames,
    store: Arc<DynamoStore>,
}

/// Fresh tables under a unique prefix, and a client.
async fn fresh_tables(moto: &Moto) -> (ResourceNames, aws_sdk_dynamodb::Client) {
    let names = ResourceNames::new(&unique_name("st"), "it").expect("valid names");
    let client = dynamodb(moto, None).await;
    create_tables(&client, &names)
        .await
        .expect("tables created");
    (names, client)
}

#[async_trait]
impl StoreHarness for DynamoHarness {
    async fn open(&self) -> Box<dyn StoreFixture> {
        let (names, client) = fresh_tables(self.moto).await;
        let store = DynamoStore::new(client, &names);
        Box::new(DynamoFixture {
            moto: self.moto,
            names,
            store: Arc::new(store),
        })
    }

    /// DynamoDB's TTL deletes expired items (moto never does); `purge_expired` is a no-op.
    fn purges_on_demand(&self) -> bool {
        false
    }
}

#[async_trait]
impl StoreFixture for DynamoFixture {
    fn store(&self) -> Arc<dyn OperationStore> {
        self.store.clone()
    }

    async fn peer(&self) -> Arc<dyn OperationStore> {
        let client = dynamodb(self.moto, None).await;
        Arc::new(DynamoStore::new(client, &self.names))
    }
}

mod conformance {
    use super::DynamoHarness;

    // Each case skips (returns after moto's `SKIPPED:` line) when moto is absent outside CI.
    prequel_core::store_conformance_tests!(match DynamoHarness::get(std::any::type_name_of_val(
        &|| ()
    )) {
        Some(harness) => harness,
        None => return,
    });
}

// ---------------------------------------------------------------------------------------------
// DynamoDB specifics
// ---------------------------------------------------------------------------------------------

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time")
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

fn requester() -> Requester {
    Requester {
        platform: Platform::Slack,
        user_id: "U2CERLKJA".into(),
        display_name: "Zoë".into(),
    }
}

fn request(start: DateTime<Utc>, create_due: DateTime<Utc>) -> NewInterview {
    NewInterview {
        id: InterviewId::generate(),
        challenge: ChallengeId::parse("python").expect("challenge"),
        candidate: Some("Renée".into()),
        requested_by: requester(),
        co_interviewers: Vec::new(),
        time_zone: "Europe/Paris".into(),
        start_at: start,
        length: InterviewLength::from_minutes(60).expect("length"),
        create_due_at: create_due,
        max_attempts: 3,
    }
}

async fn raw_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.into()))
        .key("sk", AttributeValue::S(sk.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item()
        .cloned()
        .unwrap_or_else(|| panic!("item {pk}/{sk} exists in {table}"))
}

#[tokio::test]
async fn check_names_the_missing_table_or_index() {
    let Some(moto) = moto("check_names_the_missing_table_or_index") else {
        return;
    };
    let clients = moto.clients().await;
    let names = ResourceNames::new(&unique_name("ck"), "prod").expect("names");
    let store = DynamoStore::new(clients.dynamodb.clone(), &names);

    let missing = store.check().await.expect_err("no tables yet").to_string();
    assert!(
        missing.contains(&names.interviews_table()) && missing.contains("does not exist"),
        "the error names the table: {missing}"
    );

    // A table of the right name without the indexes.
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let mut create = clients
        .dynamodb
        .create_table()
        .table_name(names.interviews_table())
        .billing_mode(BillingMode::PayPerRequest);
    for (name, key_type) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
        create = create
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(key_type)
                    .build()
                    .expect("key"),
            );
    }
    create.send().await.expect("bare table");
    let lacking = store.check().await.expect_err("no indexes").to_string();
    assert!(
        lacking.contains(&names.interviews_table())
            && lacking.contains("lacks index status-autoDestroyAt-index"),
        "the error names the table and the index: {lacking}"
    );

    let (names, client) = fresh_tables(moto).await;
    let store = DynamoStore::new(client.clone(), &names);
    store.check().await.expect("complete tables pass the check");
    // create_tables is idempotent.
    create_tables(&client, &names).await.expect("again");
}

#[tokio::test]
async fn ttl_is_absent_while_scheduled_and_set_once_terminal() {
    let Some(moto) = moto("ttl_is_absent_while_scheduled_and_set_once_terminal") else {
        return;
    };
    let (names, client) = fresh_tables(moto).await;
    let store = DynamoStore::new(client.clone(), &names);
    // Scheduled far ahead: the original set a TTL at creation and lost such interviews.
    let far = t0() + Duration::days(400);
    let created = store
        .create_interview(&request(far, far - Duration::minutes(15)), t0())
        .await
        .expect("created");
    let interview_pk = format!("interview#{}", created.interview.id);
    let op_pk = created.operation.id.to_string();
    store
        .put_note(&created.interview.id, "slack.channel", "C1", true, t0())
        .await
        .expect("note");
    let item = raw_item(
        &client,
        &names.interviews_table(),
        &interview_pk,
        "interview",
    )
    .await;
    assert!(!item.contains_key("expiresAt"), "scheduled: {item:?}");
    let op = raw_item(&client, &names.operations_table(), &op_pk, "operation").await;
    assert!(!op.contains_key("expiresAt"), "scheduled create: {op:?}");

    let end = at(5);
    store
        .cancel(&created.interview.id, &requester(), end)
        .await
        .expect("cancel")
        .expect("cancelled");
    let expected = AttributeValue::N((end + DEFAULT_RETENTION).timestamp().to_string());
    let item = raw_item(
        &client,
        &names.interviews_table(),
        &interview_pk,
        "interview",
    )
    .await;
    assert_eq!(item.get("expiresAt"), Some(&expected), "{item:?}");
    assert!(
        !item.contains_key("autoDestroyAt"),
        "a terminal interview leaves the due-destroy index"
    );
    let op = raw_item(&client, &names.operations_table(), &op_pk, "operation").await;
    assert_eq!(op.get("expiresAt"), Some(&expected), "{op:?}");
    assert!(
        !op.contains_key("scheduledAt"),
        "a terminal op leaves the due index"
    );
    assert_eq!(
        store
            .notes(&created.interview.id)
            .await
            .expect("notes")
            .len(),
        1,
        "notes live in the interview item and share its TTL"
    );
}

#[tokio::test]
async fn a_follower_on_another_client_sees_every_change_in_order_under_concurrent_writers() {
    let Some(moto) = moto("a_follower_sees_every_change_in_order") else {
        return;
    };
    let (names, client) = fresh_tables(moto).await;
    let first = DynamoStore::new(client, &names);
    let start = first.latest_change().await.expect("latest");
    const WRITERS: usize = 3;
    const WRITES: usize = 20;

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let store = DynamoStore::new(dynamodb(moto, None).await, &names);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut cursor = start;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let batch = store.changes_since(cursor, 7).await.expect("changes_since");
                for change in &batch.changes {
                    assert!(
                        change.cursor > cursor,
                        "cursor {:?} after {cursor:?}",
                        change.cursor
                    );
                    cursor = change.cursor;
                    seen.push(change.cursor.0);
                }
                if batch.changes.is_empty() {
                    if finished {
                        return seen;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            }
        })
    };

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = DynamoStore::new(dynamodb(moto, None).await, &names);
        writers.push(tokio::spawn(async move {
            for i in 0..WRITES {
                let now = at((w * 100 + i) as i64);
                store
                    .create_interview(&request(at(600), at(500)), now)
                    .await
                    .expect("create");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = follower.await.expect("follower");
    let latest = first.latest_change().await.expect("latest");
    // Each create is two changes: the interview and its create operation.
    let expected: Vec<u64> = (start.0 + 1..=latest.0).collect();
    assert_eq!(latest.0 - start.0, (WRITERS * WRITES * 2) as u64);
    assert_eq!(
        seen, expected,
        "every cursor once, strictly increasing, none skipped"
    );
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len());
}

#[tokio::test]
async fn page_tokens_from_elsewhere_are_invalid() {
    let Some(moto) = moto("page_tokens_from_elsewhere_are_invalid") else {
        return;
    };
    let (names, client) = fresh_tables(moto).await;
    let store = DynamoStore::new(client, &names);
    for _ in 0..3 {
        store
            .create_interview(&request(at(30), at(10)), t0())
            .await
            .expect("create");
    }
    let open = store
        .list_interviews(InterviewScope::Open, &PageRequest::first(1))
        .await
        .expect("list");
    let token = open.next.expect("a second page");
    // Accepted where it was issued, refused by another listing, refused when tampered with.
    store
        .list_interviews(InterviewScope::Open, &PageRequest::after(1, token.clone()))
        .await
        .expect("own token");
    let foreign = store
        .list_interviews(InterviewScope::All, &PageRequest::after(1, token.clone()))
        .await;
    assert!(
        matches!(foreign, Err(StoreError::InvalidPageToken)),
        "{foreign:?}"
    );
    for bad in [
        token.0.replacen("~00", "~0x", 1),
        token.0.replace('#', "%"),
        format!("{}#", token.0),
        "lg~log#1~0".to_owned(),
        "{\"pk\":\"feed\"}".to_owned(),
    ] {
        let result = store
            .list_interviews(
                InterviewScope::Open,
                &PageRequest::after(1, PageToken(bad.clone())),
            )
            .await;
        assert!(
            matches!(result, Err(StoreError::InvalidPageToken)),
            "{bad}: {result:?}"
        );
    }
}

/// The request budget of one interview's whole life, counted on the wire.
///
/// One consistent `BatchGetItem` (the interview and both operations) plus one
/// `TransactWriteItems` per state-changing call; a new interview and a log append need no read
/// (their writes are conditional on what they must not find). So:
/// create 1 + claim 2 + progress 2×2 + logs 1 + complete 2 + destroy request 2 + claim 2 +
/// progress 2 + complete 2 = 18, on a handle that knows the feed head (a single writer here).
#[tokio::test]
async fn one_interview_lifecycle_stays_within_its_request_budget() {
    let Some(moto) = moto("one_interview_lifecycle_stays_within_its_request_budget") else {
        return;
    };
    const BUDGET: u64 = 20;
    let (names, _) = fresh_tables(moto).await;
    let counter = RequestCounter::new();
    let store = DynamoStore::new(dynamodb(moto, Some(counter.clone())).await, &names);

    let new = request(at(15), t0());
    let created = store.create_interview(&new, t0()).await.expect("create");
    let claimed = store
        .claim(
            &created.operation.id,
            created.operation.version,
            "worker",
            at(5),
            t0(),
        )
        .await
        .expect("claim")
        .expect("claimed");
    for state in [InterviewState::Initializing, InterviewState::Configuring] {
        store
            .record_progress(&claimed.lease, state, at(1))
            .await
            .expect("progress");
    }
    let lines: Vec<LogLine> = (0..50)
        .map(|i| LogLine {
            at: at(1),
            message: format!("line {i}"),
        })
        .collect();
    store
        .append_logs(&created.operation.id, &lines, at(1))
        .await
        .expect("logs");
    store
        .complete(
            &claimed.lease,
            Completion::Created {
                access_url: "https://a.example.com".into(),
                challenge_checksum: None,
            },
            at(2),
        )
        .await
        .expect("complete");
    let DestroyRequested::Destroy(destroy) = store
        .request_destroy(&new.id, &requester(), 3, at(75))
        .await
        .expect("destroy")
    else {
        panic!("an active interview gets a destroy");
    };
    let claimed = store
        .claim(&destroy.id, destroy.version, "worker", at(80), at(75))
        .await
        .expect("claim")
        .expect("claimed");
    store
        .record_progress(&claimed.lease, InterviewState::Destroying, at(76))
        .await
        .expect("progress");
    store
        .complete(
            &claimed.lease,
            Completion::Destroyed { archive: None },
            at(77),
        )
        .await
        .expect("complete");

    let counts = counter.snapshot();
    let total = counter.total_for("DynamoDB");
    let mut report = String::new();
    for count in &counts {
        report.push_str(&format!(
            "  {}.{}: {}\n",
            count.service, count.operation, count.count
        ));
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "DynamoDB requests for one interview lifecycle: {total}\n{report}"
    );
    assert!(
        total <= BUDGET,
        "{total} requests > budget {BUDGET}:\n{report}"
    );
    assert_eq!(
        store.latest_change().await.expect("latest"),
        ChangeCursor(
            store
                .changes_since(ChangeCursor::default(), 1000)
                .await
                .expect("feed")
                .cursor
                .0
        )
    );
}

/// The conformance case's paging of `due_operations`, at a scale moto can hold, across the three
/// index partitions it merges: pending, scheduled, and running with an expired lease (due from
/// just after its expiry), oldest due first; nothing not yet due.
#[tokio::test]
async fn due_operations_page_in_due_order_across_statuses_at_moto_scale() {
    let Some(moto) = moto("due_operations_page_in_due_order_across_statuses_at_moto_scale") else {
        return;
    };
    let (names, client) = fresh_tables(moto).await;
    let store = DynamoStore::new(client, &names);
    let second = |s: i64| t0() + Duration::seconds(s);
    let mut ops = Vec::new();
    for i in 0..30 {
        // Due at T0 (pending: due when created), then every 7 s (scheduled).
        let created = store
            .create_interview(&request(at(60), second(i * 7)), t0())
            .await
            .expect("create");
        ops.push(created.operation);
    }
    // One is claimed and its worker vanishes: due again just after its lease.
    let crashed = &ops[3];
    store
        .claim(
            &crashed.id,
            crashed.version,
            "worker",
            second(40),
            second(21),
        )
        .await
        .expect("claim")
        .expect("claimed");
    let now = second(24 * 7);
    let mut expected: Vec<(DateTime<Utc>, String)> = ops
        .iter()
        .filter(|op| op.due_at <= now)
        .map(|op| {
            let ready = if op.id == crashed.id {
                second(40) + Duration::milliseconds(1)
            } else {
                op.due_at
            };
            (ready, op.id.to_string())
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 25);
    let mut seen = Vec::new();
    let mut page = PageRequest::first(4);
    loop {
        let result = store.due_operations(now, &page).await.expect("due");
        assert!(result.items.len() <= 4);
        seen.extend(result.items.into_iter().map(|op| op.id.to_string()));
        match result.next {
            Some(token) => page = PageRequest::after(4, token),
            None => break,
        }
    }
    let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen, expected, "every due operation once, oldest due first");
}
