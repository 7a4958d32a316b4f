//! The store at scale (issue 9, item 6): with 10,000 interviews in SQLite, every hot-path query
//! still searches an index (its `EXPLAIN QUERY PLAN` is printed, and written to
//! `$PREQUEL_ARTIFACTS/sqlite-query-plans.txt` when that is set) and still answers right; and the
//! DynamoDB store never sends a `Scan` over a workload that uses every read it has.
//!
//! The fleet is a realistic mix: a tenth cancelled before they started, a tenth provisioning
//! (running lease), a tenth whose worker vanished (lease expired), a tenth active with a destroy
//! requested, a tenth active, and half still waiting to be provisioned, their creates due over
//! the next two days. Start times repeat (about 2.5 interviews per start time), so the listings'
//! id tie-breaker is exercised too.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use prequel_core::domain::{
    ChallengeId, Interview, InterviewId, InterviewLength, LogLine, Operation, OperationId,
    OperationKind, OperationStatus, Platform, Requester,
};
use prequel_core::store::sqlite::{QueryPlan, SqliteStore};
use prequel_core::store::{
    ChangeCursor, Completion, DestroyRequested, InterviewScope, NewInterview, OperationStore,
    PageRequest,
};

/// Interviews in the SQLite fleet.
const SQLITE_FLEET: usize = 10_000;

/// How long before an interview ends its warning is due.
const WARN_BEFORE: Duration = Duration::minutes(30);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time")
}

/// When the checks run: twelve hours after the fleet was recorded.
fn now() -> DateTime<Utc> {
    t0() + Duration::hours(12)
}

fn requester() -> Requester {
    Requester {
        platform: Platform::Cli,
        user_id: "ana".into(),
        display_name: "Ana".into(),
    }
}

fn say(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// What the fleet holds, as recorded, to check the store's answers against.
#[derive(Debug, Default)]
struct Fleet {
    interviews: BTreeMap<InterviewId, Interview>,
    /// Every operation, as last written.
    operations: BTreeMap<OperationId, Operation>,
    /// Each interview's create operation.
    creates: BTreeMap<InterviewId, OperationId>,
    /// Interviews with a destroy operation.
    destroys: BTreeSet<InterviewId>,
    /// Operations that have logs, with how many lines.
    logs: BTreeMap<OperationId, usize>,
    /// How long recording the interviews took (`create_interview` alone), and the other writes.
    create_time: StdDuration,
    other_writes_time: StdDuration,
}

impl Fleet {
    fn open(&self) -> impl Iterator<Item = &Interview> {
        self.interviews.values().filter(|i| !i.state.is_terminal())
    }

    fn has_destroy(&self, interview: &InterviewId) -> bool {
        self.destroys.contains(interview)
    }

    /// `(start_at, id)` of the interviews a listing returns, in its order.
    fn listing(&self, scope: InterviewScope) -> Vec<(DateTime<Utc>, InterviewId)> {
        let mut keys: Vec<_> = match scope {
            InterviewScope::Open => self.open().map(|i| (i.start_at, i.id.clone())).collect(),
            InterviewScope::All => self
                .interviews
                .values()
                .map(|i| (i.start_at, i.id.clone()))
                .collect(),
        };
        keys.sort();
        keys
    }

    /// Operations claimable at `at`.
    fn due_operations(&self, at: DateTime<Utc>) -> BTreeSet<OperationId> {
        self.operations
            .values()
            .filter(|op| ready_at(op).is_some_and(|ready| ready <= at))
            .map(|op| op.id.clone())
            .collect()
    }

    /// Open interviews with no destroy yet whose `destroy_at` is at or before `until` (and, for
    /// warnings, not warned yet).
    fn ending_by(&self, until: DateTime<Utc>) -> BTreeSet<InterviewId> {
        self.open()
            .filter(|i| !self.has_destroy(&i.id) && i.destroy_at <= until)
            .map(|i| i.id.clone())
            .collect()
    }
}

/// When an operation becomes claimable: a waiting one at its due time, a running one just after
/// its lease ends; never for a finished one.
fn ready_at(op: &Operation) -> Option<DateTime<Utc>> {
    match op.status {
        OperationStatus::Pending | OperationStatus::Scheduled => Some(op.due_at),
        OperationStatus::Running => op
            .lease_until
            .map(|until| until + Duration::milliseconds(1)),
        _ => None,
    }
}

/// Records `n` interviews (see the module docs for the mix), all at fixed manual times.
async fn record_fleet(store: &dyn OperationStore, n: usize) -> Fleet {
    let mut fleet = Fleet::default();
    // Start times over two days from half an hour after `t0`, about 2.5 interviews per slot; 7 is
    // coprime with the slot count, so neighbours in id order are far apart in time.
    let slots = (n * 2 / 5).max(1);
    let spacing = 2 * 86_400 / i64::try_from(slots).expect("slots fit");
    let challenge = ChallengeId::parse("python").expect("challenge");
    let length = InterviewLength::from_minutes(60).expect("length");

    let started = Instant::now();
    for i in 0..n {
        let slot = i64::try_from((i * 7) % slots).expect("slot fits");
        let start_at = t0() + Duration::minutes(30) + Duration::seconds(slot * spacing);
        let provisioning_now = (1..=4).contains(&(i % 10));
        let new = NewInterview {
            id: InterviewId::parse(&format!("iv{i:05}")).expect("id"),
            challenge: challenge.clone(),
            candidate: (i % 3 == 0).then(|| format!("Candidate {i}")),
            requested_by: requester(),
            co_interviewers: Vec::new(),
            time_zone: "Europe/Paris".into(),
            start_at,
            length,
            create_due_at: if provisioning_now {
                t0()
            } else {
                start_at - Duration::minutes(15)
            },
            max_attempts: 3,
        };
        let created = store.create_interview(&new, t0()).await.expect("created");
        assert!(created.newly_created);
        fleet
            .creates
            .insert(created.interview.id.clone(), created.operation.id.clone());
        fleet
            .operations
            .insert(created.operation.id.clone(), created.operation);
        fleet
            .interviews
            .insert(created.interview.id.clone(), created.interview);
    }
    fleet.create_time = started.elapsed();

    let started = Instant::now();
    let ids: Vec<InterviewId> = fleet.interviews.keys().cloned().collect();
    for (i, id) in ids.iter().enumerate() {
        let create = fleet.operations[&fleet.creates[id]].clone();
        match i % 10 {
            0 => {
                let cancelled = store
                    .cancel(id, &requester(), t0())
                    .await
                    .expect("cancel")
                    .expect("a waiting interview is cancelled");
                fleet.interviews.insert(id.clone(), cancelled);
                let create = store
                    .operation(&create.id)
                    .await
                    .expect("read")
                    .expect("op");
                fleet.operations.insert(create.id.clone(), create);
            }
            1..=4 => {
                // 1: still provisioning; 3: its worker vanished, the lease ran out long ago;
                // 2 and 4: provisioned (2 then asked to be destroyed).
                let lease_until = if i % 10 == 1 {
                    now() + Duration::minutes(10)
                } else {
                    t0() + Duration::minutes(5)
                };
                let claimed = store
                    .claim(&create.id, create.version, "worker", lease_until, t0())
                    .await
                    .expect("claim")
                    .expect("a due create is claimed");
                let mut operation = claimed.operation;
                if i % 10 == 1 && i % 100 < 50 {
                    let lines: Vec<LogLine> = (0..20)
                        .map(|n| LogLine {
                            at: t0(),
                            message: format!("step {n}"),
                        })
                        .collect();
                    store
                        .append_logs(&operation.id, &lines, t0())
                        .await
                        .expect("logs");
                    fleet.logs.insert(operation.id.clone(), lines.len());
                }
                if matches!(i % 10, 2 | 4) {
                    operation = store
                        .complete(
                            &claimed.lease,
                            Completion::Created {
                                access_url: format!("https://{id}.example.com"),
                                challenge_checksum: None,
                            },
                            t0() + Duration::minutes(1),
                        )
                        .await
                        .expect("complete");
                }
                if i % 10 == 2 {
                    let DestroyRequested::Destroy(destroy) = store
                        .request_destroy(id, &requester(), 3, t0() + Duration::minutes(2))
                        .await
                        .expect("destroy")
                    else {
                        panic!("an active interview gets a destroy");
                    };
                    fleet.destroys.insert(id.clone());
                    fleet.operations.insert(destroy.id.clone(), destroy);
                }
                fleet.operations.insert(operation.id.clone(), operation);
                let interview = store.interview(id).await.expect("read").expect("interview");
                fleet.interviews.insert(id.clone(), interview);
            }
            _ => {}
        }
    }
    fleet.other_writes_time = started.elapsed();
    fleet
}

/// Every page of a listing, with the time each page took.
async fn list_all(
    store: &dyn OperationStore,
    scope: InterviewScope,
    limit: u32,
) -> (Vec<Interview>, Vec<StdDuration>) {
    let mut items = Vec::new();
    let mut times = Vec::new();
    let mut page = PageRequest::first(limit);
    loop {
        let started = Instant::now();
        let got = store
            .list_interviews(scope, &page)
            .await
            .expect("list interviews");
        times.push(started.elapsed());
        assert!(
            !got.items.is_empty() || items.is_empty(),
            "an empty page after {} items",
            items.len()
        );
        items.extend(got.items);
        match got.next {
            Some(token) => page = PageRequest::after(limit, token),
            None => return (items, times),
        }
    }
}

/// Every page of `due_operations(at)`.
async fn due_operations(store: &dyn OperationStore, at: DateTime<Utc>) -> Vec<Operation> {
    let mut items = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = store
            .due_operations(at, &page)
            .await
            .expect("due operations");
        items.extend(got.items);
        match got.next {
            Some(token) => page = PageRequest::after(PageRequest::MAX_LIMIT, token),
            None => return items,
        }
    }
}

/// The store answers every read right, at whatever scale `fleet` is. Returns the time each kind
/// of read took (one call, or the mean page for listings).
async fn check_reads(
    store: &dyn OperationStore,
    fleet: &Fleet,
    page_limit: u32,
) -> Vec<(String, StdDuration)> {
    let mut timings = Vec::new();

    for scope in [InterviewScope::Open, InterviewScope::All] {
        let (listed, times) = list_all(store, scope, page_limit).await;
        let keys: Vec<_> = listed.iter().map(|i| (i.start_at, i.id.clone())).collect();
        assert_eq!(
            keys.len(),
            fleet.listing(scope).len(),
            "{scope:?}: every interview once"
        );
        assert!(
            keys == fleet.listing(scope),
            "{scope:?}: every interview once, by start time then id"
        );
        let mean = times.iter().sum::<StdDuration>() / u32::try_from(times.len()).expect("pages");
        timings.push((
            format!(
                "list_interviews({scope:?}), mean of {} pages of {page_limit}",
                times.len()
            ),
            mean,
        ));
    }

    let started = Instant::now();
    let due = due_operations(store, now()).await;
    timings.push((
        format!("due_operations, every page ({} due)", due.len()),
        started.elapsed(),
    ));
    let due_ids: BTreeSet<OperationId> = due.iter().map(|op| op.id.clone()).collect();
    assert_eq!(due_ids.len(), due.len(), "each due operation once");
    assert!(
        due_ids == fleet.due_operations(now()),
        "due_operations returns exactly the due ones ({} returned, {} due)",
        due_ids.len(),
        fleet.due_operations(now()).len()
    );
    let order: Vec<_> = due
        .iter()
        .map(|op| (ready_at(op).expect("due means ready"), op.id.clone()))
        .collect();
    assert!(
        order.windows(2).all(|pair| pair[0] < pair[1]),
        "due operations come by readiness, then id"
    );
    assert!(
        due.iter().any(|op| op.status == OperationStatus::Running)
            && due.iter().any(|op| op.kind == OperationKind::Destroy)
            && due.iter().any(|op| op.status == OperationStatus::Pending),
        "the due set mixes expired leases, destroys and waiting creates"
    );

    let started = Instant::now();
    let mut destroys = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = store
            .due_destroys(now(), &page)
            .await
            .expect("due destroys");
        destroys.extend(got.items);
        match got.next {
            Some(token) => page = PageRequest::after(PageRequest::MAX_LIMIT, token),
            None => break,
        }
    }
    timings.push((
        format!("due_destroys, every page ({} due)", destroys.len()),
        started.elapsed(),
    ));
    assert_in_end_order(&destroys);
    let expected = fleet.ending_by(now());
    let got: BTreeSet<InterviewId> = destroys.iter().map(|i| i.id.clone()).collect();
    assert!(
        got.len() == destroys.len() && got == expected && !got.is_empty(),
        "due_destroys returns exactly the interviews past their end ({} returned, {} due)",
        got.len(),
        expected.len()
    );

    let started = Instant::now();
    let mut warnings = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let got = store
            .due_warnings(now(), WARN_BEFORE, &page)
            .await
            .expect("due warnings");
        warnings.extend(got.items);
        match got.next {
            Some(token) => page = PageRequest::after(PageRequest::MAX_LIMIT, token),
            None => break,
        }
    }
    timings.push((
        format!("due_warnings, every page ({} due)", warnings.len()),
        started.elapsed(),
    ));
    assert_in_end_order(&warnings);
    let expected = fleet.ending_by(now() + WARN_BEFORE);
    let got: BTreeSet<InterviewId> = warnings.iter().map(|i| i.id.clone()).collect();
    assert!(
        got.len() == warnings.len() && got == expected,
        "due_warnings returns exactly the interviews ending within the warning time ({} \
         returned, {} due)",
        got.len(),
        expected.len()
    );

    let started = Instant::now();
    let next = store.next_due(WARN_BEFORE).await.expect("next due");
    timings.push(("next_due (four queries)".into(), started.elapsed()));
    let waiting = fleet.operations.values().filter(|op| {
        matches!(
            op.status,
            OperationStatus::Pending | OperationStatus::Scheduled
        )
    });
    assert_eq!(next.operation, waiting.map(|op| op.due_at).min());
    assert_eq!(
        next.lease_expiry,
        fleet
            .operations
            .values()
            .filter_map(|op| op.lease_until)
            .min()
    );
    let first_end = fleet
        .open()
        .filter(|i| !fleet.has_destroy(&i.id))
        .map(|i| i.destroy_at)
        .min();
    assert_eq!(next.destroy, first_end);
    assert_eq!(next.warning, first_end.map(|at| at - WARN_BEFORE));

    let started = Instant::now();
    let batch = store
        .changes_since(ChangeCursor::default(), 1000)
        .await
        .expect("changes");
    timings.push(("changes_since(0, 1000)".into(), started.elapsed()));
    let latest = store.latest_change().await.expect("latest change");
    if batch.changes.len() < 1000 {
        assert_eq!(
            batch.cursor, latest,
            "a short batch reaches the feed's head"
        );
    } else {
        assert!(
            latest > batch.cursor,
            "a full batch stops short of the head"
        );
    }
    let tail = store.changes_since(latest, 1000).await.expect("changes");
    assert!(tail.changes.is_empty() && tail.cursor == latest);

    // An interview with a destroy: its create, then its destroy.
    let destroy = fleet
        .operations
        .values()
        .find(|op| op.kind == OperationKind::Destroy)
        .expect("a destroy in the fleet");
    let started = Instant::now();
    let ops = store
        .operations_for(&destroy.interview_id)
        .await
        .expect("operations");
    timings.push(("operations_for".into(), started.elapsed()));
    let kinds: Vec<_> = ops.iter().map(|op| op.kind).collect();
    assert_eq!(kinds, [OperationKind::Create, OperationKind::Destroy]);

    let (operation, lines) = fleet.logs.iter().next().expect("an operation with logs");
    let started = Instant::now();
    let logs = store
        .logs(operation, &PageRequest::first(PageRequest::MAX_LIMIT))
        .await
        .expect("logs");
    timings.push(("logs".into(), started.elapsed()));
    assert_eq!(logs.items.len(), *lines);

    let started = Instant::now();
    let some = fleet.interviews.values().nth(fleet.interviews.len() / 2);
    let some = some.expect("an interview");
    assert_eq!(
        store.interview(&some.id).await.expect("read").as_ref(),
        Some(some)
    );
    timings.push(("interview (by id)".into(), started.elapsed()));

    timings
}

/// Interviews come by end time, then id, each once.
fn assert_in_end_order(interviews: &[Interview]) {
    assert!(
        interviews
            .windows(2)
            .all(|pair| (pair[0].destroy_at, &pair[0].id) < (pair[1].destroy_at, &pair[1].id)),
        "a queue of interviews by end time, then id"
    );
}

/// Whether SQLite runs the plan's steps by searching an index: no step scans a table, and no step
/// sorts rows in a temporary b-tree (a listing reads its index in order and stops at the
/// page's end). `operations_for` alone may sort: it finds its rows through the
/// `UNIQUE (interview_id, kind)` index, so it sorts at most two rows (a create and a destroy).
fn plan_problems(plan: &QueryPlan) -> Vec<String> {
    let mut problems = Vec::new();
    for step in &plan.steps {
        let by_index = [
            "USING INDEX",
            "USING COVERING INDEX",
            "USING INTEGER PRIMARY KEY",
        ]
        .iter()
        .any(|how| step.contains(how));
        if step.starts_with("SCAN ") && !by_index {
            problems.push(format!("scans a table: {step}"));
        }
        if step.contains("TEMP B-TREE") && plan.name != "operations_for" {
            problems.push(format!(
                "sorts instead of reading an index in order: {step}"
            ));
        }
    }
    if !plan.steps.iter().any(|step| step.starts_with("SEARCH ")) {
        problems.push("searches no index".into());
    }
    problems
}

fn render_plans(title: &str, plans: &[QueryPlan]) -> String {
    let mut out = format!("{title}\n");
    for plan in plans {
        out.push_str(&format!("\n{}\n  {}\n", plan.name, plan.sql));
        for step in &plan.steps {
            out.push_str(&format!("  -> {step}\n"));
        }
    }
    out
}

/// 10,000 interviews in SQLite: every hot-path query's plan searches an index (printed, and
/// written to `$PREQUEL_ARTIFACTS/sqlite-query-plans.txt`), before and after `ANALYZE`, and the
/// listings and queues still answer exactly right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_interviews_in_sqlite_stay_indexed_and_right() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prequel.db");
    let store = SqliteStore::open(&path).expect("store opens");

    let fleet = record_fleet(&store, SQLITE_FLEET).await;
    let writes = fleet.operations.len();
    let feed = store.latest_change().await.expect("latest change").0;
    let logs: usize = fleet.logs.values().sum();
    say(&format!(
        "recorded {SQLITE_FLEET} interviews in {:.1?} ({:.0} µs each), then {:.1?} for \
         cancels, claims, completions, destroys and logs ({writes} operations in all)",
        fleet.create_time,
        fleet.create_time.as_secs_f64() * 1e6 / SQLITE_FLEET as f64,
        fleet.other_writes_time,
    ));

    let mut report = format!(
        "SQLite query plans with {SQLITE_FLEET} interviews, {writes} operations, {logs} log \
         lines of {} operations and {feed} change-feed rows (SQLite {}).\n",
        fleet.logs.len(),
        rusqlite::version()
    );
    let mut failures = Vec::new();
    // As the store runs (no statistics), then after `ANALYZE` gave the planner real row counts:
    // the plans must not depend on either.
    for analyzed in [false, true] {
        if analyzed {
            let conn = rusqlite::Connection::open(&path).expect("a second connection");
            conn.execute_batch("ANALYZE").expect("analyze");
        }
        let plans = store.query_plans().expect("query plans");
        let title = if analyzed {
            "== After ANALYZE =="
        } else {
            "== As the store runs (no ANALYZE) =="
        };
        report.push_str(&format!("\n{}", render_plans(title, &plans)));
        for plan in &plans {
            for problem in plan_problems(plan) {
                failures.push(format!("{title} {}: {problem}", plan.name));
            }
        }
    }

    let timings = check_reads(&store, &fleet, 100).await;
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    report.push_str(&format!(
        "\nRead times at {SQLITE_FLEET} interviews ({build} build):\n"
    ));
    for (what, took) in &timings {
        report.push_str(&format!("  {what}: {took:.2?}\n"));
    }
    say(&report);
    if let Some(dir) = std::env::var_os("PREQUEL_ARTIFACTS").filter(|d| !d.is_empty()) {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("artifacts directory");
        std::fs::write(dir.join("sqlite-query-plans.txt"), &report).expect("write the plans");
    }
    assert!(
        failures.is_empty(),
        "hot-path queries that do not search an index:\n{}",
        failures.join("\n")
    );
}

#[cfg(feature = "aws")]
mod dynamo {
    //! The DynamoDB store never scans: a small fleet (moto's queries read every item of a
    //! table, so its cost grows with the square of the fleet; DynamoDB's does not), every
    //! read the store has, and every request counted on the wire.

    use std::collections::BTreeSet;
    use std::time::Instant;

    use prequel_core::aws::{AwsClients, RequestCounter, ResourceNames};
    use prequel_core::store::dynamo::{DynamoStore, create_tables};
    use prequel_core::store::{OperationStore, PageRequest};
    use prequel_core::testkit::moto::{moto, unique_name};

    use super::{check_reads, now, record_fleet, say};

    /// Interviews in the DynamoDB fleet.
    const DYNAMO_FLEET: usize = 80;

    /// Every request the store may send: reads by key or by index, and writes.
    const READS: &[&str] = &["GetItem", "BatchGetItem", "Query", "TransactGetItems"];
    const WRITES: &[&str] = &[
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactWriteItems",
    ];

    #[tokio::test]
    async fn the_dynamodb_store_never_scans() {
        let Some(moto) = moto("scale::dynamo::the_dynamodb_store_never_scans") else {
            return;
        };
        let counter = RequestCounter::new();
        let config = prequel_core::aws::sdk_config(&moto.connect_options(None)).await;
        // moto on a busy two-core machine can take seconds before the first byte of an answer;
        // that is not a stalled stream.
        let config = config
            .to_builder()
            .stalled_stream_protection(
                aws_smithy_runtime_api::client::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
            )
            .build();
        let client = AwsClients::from_config(&config, Some(&counter)).dynamodb;
        let names = ResourceNames::new(&unique_name("sc"), "it").expect("valid names");
        create_tables(&client, &names)
            .await
            .expect("tables created");
        let store = DynamoStore::new(client, &names);
        counter.reset();

        let started = Instant::now();
        let fleet = record_fleet(&store, DYNAMO_FLEET).await;
        let recorded = started.elapsed();
        let writes = counter.snapshot();
        counter.reset();
        let started = Instant::now();
        // Small pages, so every listing goes through several page tokens.
        let timings = check_reads(&store, &fleet, 7).await;
        store
            .mark_warned(
                &fleet.ending_by(now()).into_iter().next().expect("one"),
                now(),
            )
            .await
            .expect("mark warned");
        store
            .due_warnings(now(), super::WARN_BEFORE, &PageRequest::first(3))
            .await
            .expect("due warnings");
        store.purge_expired(now()).await.expect("purge");
        let read = started.elapsed();

        let reads = counter.snapshot();
        let mut report = format!(
            "DynamoDB (moto) with {DYNAMO_FLEET} interviews: recorded in {recorded:.1?}, read \
             back in {read:.1?}.\n"
        );
        for (phase, counts) in [
            ("Recording the fleet", &writes),
            ("Reading it back", &reads),
        ] {
            report.push_str(&format!("{phase}, requests by operation:\n"));
            for count in counts {
                report.push_str(&format!(
                    "  {}.{}: {}\n",
                    count.service, count.operation, count.count
                ));
            }
        }
        report.push_str("Read times:\n");
        for (what, took) in &timings {
            report.push_str(&format!("  {what}: {took:.2?}\n"));
        }
        say(&report);

        let seen: BTreeSet<&str> = writes
            .iter()
            .chain(&reads)
            .map(|c| c.operation.as_str())
            .collect();
        assert!(!seen.contains("Scan"), "the store sent a Scan:\n{report}");
        let unexpected: Vec<_> = seen
            .iter()
            .filter(|op| !READS.contains(op) && !WRITES.contains(op))
            .collect();
        assert!(
            unexpected.is_empty(),
            "requests other than reads by key or index and writes: {unexpected:?}\n{report}"
        );
        assert!(
            seen.contains("Query") && seen.iter().any(|op| WRITES.contains(op)),
            "the workload read through indexes and wrote:\n{report}"
        );
    }
}
