//! `GET /api/events` on a real port: real facades (started, so the scheduler and the change
//! follower run) on a temporary SQLite file, and a small SSE client over reqwest.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::TimeZone as _;
use prequel_core::Prequel;
use prequel_core::clock::ManualClock;
use prequel_core::domain::SecretString;
use prequel_core::store::ChangeCursor;
use prequel_core::testkit;
use prequel_web::{ApiState, WebConfig, router};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::support::{SERVER_ZONE, TOKEN};

/// How long a test waits for something that should come at once (generous: CI is shared).
const SOON: Duration = Duration::from_secs(10);

/// The names of events derived from store changes (their ids are change cursors).
const STORE_EVENTS: [&str; 2] = ["operation_update", "operation_logs"];

fn clock() -> ManualClock {
    ManualClock::new(
        chrono::Utc
            .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .expect("valid time"),
    )
}

/// A facade over the SQLite file in `dir` (another call on the same `dir` is another process).
fn facade(dir: &Path, secrets: &str, clock: &ManualClock) -> Prequel {
    testkit::engine::in_dir(dir)
        .secrets_folder(secrets)
        .clock(clock.clone())
        .challenges(&["python", "sql", "javascript"])
        .build()
        .prequel
}

/// `prequel serve` in miniature: the engine started and the router on a loopback port.
struct Server {
    addr: SocketAddr,
    prequel: Prequel,
    state: ApiState,
    http: reqwest::Client,
    web_stop: watch::Sender<bool>,
    /// Kept so the engine's shutdown signal never reads as closed (that would stop it).
    _engine_stop: watch::Sender<bool>,
    served: JoinHandle<()>,
}

async fn serve(prequel: Prequel, config: WebConfig) -> Server {
    let (engine_stop, engine_stopped) = watch::channel(false);
    prequel
        .start(engine_stopped)
        .await
        .expect("start the engine");
    let (web_stop, web_stopped) = watch::channel(false);
    let state = ApiState::new(prequel.clone(), SecretString::new(TOKEN), SERVER_ZONE)
        .with_config(config)
        .with_shutdown(web_stopped.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let app = router(state.clone());
    let mut stopped = web_stopped;
    let served = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            })
            .await
            .expect("serve");
    });
    Server {
        addr,
        prequel,
        state,
        http: reqwest::Client::new(),
        web_stop,
        _engine_stop: engine_stop,
        served,
    }
}

/// One server over a fresh store, with the default web settings.
async fn server() -> (tempfile::TempDir, ManualClock, Server) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = clock();
    let server = serve(facade(dir.path(), "secrets", &clock), WebConfig::default()).await;
    (dir, clock, server)
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `POST /api/commands` as alice in Berlin; the answer must be 200.
    async fn words(&self, text: &str) -> Value {
        let response = self
            .http
            .post(self.url("/api/commands"))
            .bearer_auth(TOKEN)
            .json(&json!({"text": text, "tz": "Europe/Berlin", "user": "alice"}))
            .send()
            .await
            .expect("send the command");
        let status = response.status();
        let body: Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, StatusCode::OK, "{text}: {body}");
        body
    }

    /// Schedules an interview and returns its id.
    async fn schedule(&self) -> String {
        let answer = self.words("schedule tomorrow 2pm 90m python").await;
        answer["interview"]["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    }

    /// Opens `GET /api/events` with the token (and `Last-Event-ID` if given).
    async fn events(&self, last_event_id: Option<&str>) -> Events {
        let mut request = self.http.get(self.url("/api/events")).bearer_auth(TOKEN);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().await.expect("open the stream");
        assert_eq!(response.status(), StatusCode::OK);
        Events {
            response,
            buffer: String::new(),
            frames: VecDeque::new(),
            raw: String::new(),
        }
    }

    /// The change cursors after `after`, straight from the store.
    async fn cursors_after(&self, after: u64) -> Vec<u64> {
        let batch = self
            .prequel
            .changes_since(ChangeCursor(after), 1000)
            .await
            .expect("read the change feed");
        batch.changes.iter().map(|change| change.cursor.0).collect()
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Frame {
    event: String,
    id: u64,
    data: Value,
}

impl Frame {
    fn is_store_event(&self) -> bool {
        STORE_EVENTS.contains(&self.event.as_str())
    }

    /// The interview of an `operation_update` about an interview.
    fn interview(&self) -> Option<&Value> {
        (self.event == "operation_update")
            .then(|| self.data.get("interview"))
            .flatten()
    }
}

/// A minimal SSE client: frames are blank-line separated `field: value` lines.
struct Events {
    response: reqwest::Response,
    buffer: String,
    frames: VecDeque<Frame>,
    /// Everything received, to scan for secrets.
    raw: String,
}

impl Events {
    /// The next frame, or `None` when the server ended the stream. Panics after `within`.
    async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return Some(frame);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .unwrap_or_else(|_| panic!("no frame within {within:?}"))
                .expect("read the stream")?;
            let text = std::str::from_utf8(&chunk).expect("UTF-8");
            self.raw.push_str(text);
            self.buffer.push_str(text);
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(frame) = parse(&block) {
                    self.frames.push_back(frame);
                }
            }
        }
    }

    /// Frames up to and including the first that satisfies `done`, moving `clock` a minute
    /// forward every 50 ms meanwhile (in steps, as time passes: the scheduler sees each minute).
    async fn advance_until(&mut self, clock: &ManualClock, done: impl Fn(&Frame) -> bool) {
        for _ in 0..60 {
            clock.advance(chrono::Duration::minutes(1));
            let step = tokio::time::Instant::now() + Duration::from_millis(50);
            while let Ok(frame) = tokio::time::timeout_at(step, self.next(SOON)).await {
                if done(&frame.expect("the stream went on")) {
                    return;
                }
            }
        }
        panic!("nothing matched within an hour of clock time");
    }

    /// Frames up to and including the first that satisfies `done`.
    async fn until(&mut self, done: impl Fn(&Frame) -> bool) -> Vec<Frame> {
        let deadline = Instant::now() + SOON;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frame = self.next(left).await.expect("the stream went on");
            let stop = done(&frame);
            seen.push(frame);
            if stop {
                return seen;
            }
        }
    }
}

fn parse(block: &str) -> Option<Frame> {
    let (mut event, mut id, mut data) = (None, None, None);
    for line in block.lines() {
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.parse().expect("a numeric id")),
            "data" => {
                assert!(data.is_none(), "one data line per event: {block:?}");
                data = Some(serde_json::from_str(value).expect("JSON data"));
            }
            _ => {}
        }
    }
    Some(Frame {
        event: event?,
        id: id.unwrap_or_else(|| panic!("every event has an id: {block:?}")),
        data: data.unwrap_or_else(|| panic!("every event has data: {block:?}")),
    })
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| chrono::DateTime::parse_from_rfc3339(text).is_ok())
}

#[tokio::test]
async fn a_stream_opens_with_connection_and_status_then_streams_a_scheduled_interview() {
    let (_dir, _clock, server) = server().await;
    let earlier = server.schedule().await;

    let response = server
        .http
        .get(server.url("/api/events"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("open the stream");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("content-type").as_deref(), Some("text/event-stream"));
    assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
    assert_eq!(header("x-accel-buffering").as_deref(), Some("no"));
    let mut events = Events {
        response,
        buffer: String::new(),
        frames: VecDeque::new(),
        raw: String::new(),
    };

    let connection = events.next(SOON).await.expect("connection");
    assert_eq!(connection.event, "connection");
    assert!(
        is_rfc3339(&connection.data["server_time"]),
        "{connection:?}"
    );
    let latest = server.cursors_after(0).await.last().copied();
    assert_eq!(connection.data["cursor"], json!(latest));
    assert_eq!(Some(connection.id), latest);

    let status = events.next(SOON).await.expect("operation_status");
    assert_eq!(status.event, "operation_status");
    assert_eq!(status.id, connection.id);
    let open = status.data["interviews"].as_array().expect("interviews");
    assert_eq!(open.len(), 1, "{status:?}");
    assert_eq!(open[0]["id"], earlier.as_str());
    assert_eq!(open[0]["status"], "scheduled");

    let id = server.schedule().await;
    let seen = events
        .until(|f| f.event == "operation_update" && f.data["interview_id"] == id.as_str())
        .await;
    let interview = seen
        .iter()
        .find_map(|f| f.interview().filter(|i| i["id"] == id.as_str()))
        .expect("the interview's update came first");
    assert_eq!(interview["status"], "scheduled");
    assert_eq!(interview["start"], "2026-11-24T14:00:00+01:00");
    let operation = &seen.last().expect("a frame").data["operation"];
    assert_eq!(operation["kind"], "create");
    assert_eq!(operation["status"], "scheduled");
    // In the interview's zone, as the JSON API shows it.
    assert_eq!(operation["due_at"], "2026-11-24T13:55:00+01:00");
}

#[tokio::test]
async fn an_interview_created_now_streams_its_states_in_order_with_its_logs() {
    let (_dir, _clock, server) = server().await;
    let mut events = server.events(None).await;
    let answer = server.words("now 30m python").await;
    let id = answer["interview"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();

    let mut states: Vec<String> = Vec::new();
    let mut logs: Vec<String> = Vec::new();
    let deadline = Instant::now() + SOON;
    while states.last().map(String::as_str) != Some("active") || logs.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = events.next(left).await.expect("the stream went on");
        if let Some(interview) = frame.interview().filter(|i| i["id"] == id.as_str()) {
            let state = interview["status"].as_str().expect("a status").to_owned();
            if states.last() != Some(&state) {
                states.push(state);
            }
        }
        if frame.event == "operation_logs" && frame.data["interview_id"] == id.as_str() {
            assert!(frame.data["operation_id"].is_string(), "{frame:?}");
            for line in frame.data["lines"].as_array().expect("lines") {
                assert!(is_rfc3339(&line["at"]), "{line}");
                logs.push(line["message"].as_str().expect("a message").to_owned());
            }
        }
    }
    assert_eq!(
        states,
        ["scheduled", "initializing", "configuring", "active"]
    );
    assert!(
        logs.contains(&"files of python in place".to_owned()),
        "{logs:?}"
    );
}

#[tokio::test]
async fn heartbeats_and_status_summaries_arrive_at_the_configured_intervals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = clock();
    let config = WebConfig {
        heartbeat: Duration::from_millis(200),
        status_every: Duration::from_millis(300),
        ..WebConfig::default()
    };
    let server = serve(facade(dir.path(), "secrets", &clock), config).await;
    let mut events = server.events(None).await;
    let connection = events.next(SOON).await.expect("connection");
    let opened = Instant::now();

    let mut heartbeats = Vec::new();
    let mut statuses = 0;
    while opened.elapsed() < Duration::from_millis(1_100) {
        let frame = events.next(SOON).await.expect("the stream went on");
        assert_eq!(frame.id, connection.id, "no change happened: {frame:?}");
        match frame.event.as_str() {
            "heartbeat" => {
                assert!(is_rfc3339(&frame.data["server_time"]), "{frame:?}");
                heartbeats.push(opened.elapsed());
            }
            "operation_status" => statuses += 1,
            other => panic!("unexpected {other}"),
        }
    }
    // Nominally at 200, 400, 600, 800 and 1000 ms; statuses at 0, 300, 600 and 900 ms.
    assert!((4..=6).contains(&heartbeats.len()), "{heartbeats:?}");
    assert!(
        heartbeats[0] >= Duration::from_millis(150),
        "not before the interval: {heartbeats:?}"
    );
    assert!((3..=5).contains(&statuses), "{statuses} summaries");
}

#[tokio::test]
async fn ids_increase_and_a_reconnect_replays_exactly_the_missed_changes_then_goes_live() {
    let (_dir, _clock, server) = server().await;
    let mut first = server.events(None).await;
    let mut ids = vec![first.next(SOON).await.expect("connection").id];
    for _ in 0..2 {
        let id = server.schedule().await;
        let seen = first
            .until(|f| f.event == "operation_update" && f.data["interview_id"] == id.as_str())
            .await;
        ids.extend(seen.iter().filter(|f| f.is_store_event()).map(|f| f.id));
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let last_seen = *ids.last().expect("an id");
    drop(first);

    // Changes made while the client is away.
    let cancelled = server.schedule().await;
    for _ in 0..2 {
        server.schedule().await;
    }
    server.words(&format!("cancel {cancelled}")).await;
    let missed = server.cursors_after(last_seen).await;
    assert!(missed.len() >= 7, "{missed:?}");

    let mut again = server.events(Some(&last_seen.to_string())).await;
    let connection = again.next(SOON).await.expect("connection");
    assert_eq!(connection.data["cursor"], last_seen);
    let mut replayed = Vec::new();
    while replayed.len() < missed.len() {
        let frame = again.next(SOON).await.expect("the stream went on");
        if frame.is_store_event() {
            replayed.push(frame.id);
        }
    }
    assert_eq!(replayed, missed, "every missed change once, in order");

    // Then live, with nothing repeated.
    let live = server.schedule().await;
    let seen = again
        .until(|f| f.event == "operation_update" && f.data["interview_id"] == live.as_str())
        .await;
    let after: Vec<_> = seen
        .iter()
        .filter(|f| f.is_store_event())
        .map(|f| f.id)
        .collect();
    assert_eq!(
        after,
        server
            .cursors_after(*missed.last().expect("a change"))
            .await
    );
}

#[tokio::test]
async fn a_malformed_last_event_id_starts_from_now() {
    let (_dir, _clock, server) = server().await;
    server.schedule().await;
    let latest = *server.cursors_after(0).await.last().expect("changes");
    for malformed in ["banana", "-3", "99999999"] {
        let mut events = server.events(Some(malformed)).await;
        let connection = events.next(SOON).await.expect("connection");
        assert_eq!(connection.data["cursor"], latest, "{malformed}");
        assert_eq!(connection.id, latest, "{malformed}");
    }
    let mut events = server.events(Some("banana")).await;
    let id = server.schedule().await;
    let seen = events
        .until(|f| f.event == "operation_update" && f.data["interview_id"] == id.as_str())
        .await;
    let store_ids: Vec<_> = seen
        .iter()
        .filter(|f| f.is_store_event())
        .map(|f| f.id)
        .collect();
    assert_eq!(store_ids, [latest + 1, latest + 2], "nothing old replayed");
}

#[tokio::test]
async fn a_change_made_by_another_server_on_the_same_store_reaches_this_stream() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = clock();
    let a = serve(
        facade(dir.path(), "secrets-a", &clock),
        WebConfig::default(),
    )
    .await;
    let b = serve(
        facade(dir.path(), "secrets-b", &clock),
        WebConfig::default(),
    )
    .await;
    let mut on_a = a.events(None).await;
    on_a.next(SOON).await.expect("connection");

    let id = b.schedule().await;
    let seen = on_a
        .until(|f| f.event == "operation_update" && f.data["interview_id"] == id.as_str())
        .await;
    let interview = seen
        .iter()
        .find_map(|f| f.interview().filter(|i| i["id"] == id.as_str()))
        .expect("the interview made on B");
    assert_eq!(interview["status"], "scheduled");
}

#[tokio::test]
async fn shutdown_ends_an_open_stream_within_a_second_and_the_server_stops() {
    let (_dir, _clock, server) = server().await;
    let mut events = server.events(None).await;
    events.next(SOON).await.expect("connection");
    assert_eq!(server.state.sse_clients(), 1);

    let asked = Instant::now();
    server.web_stop.send(true).expect("the server listens");
    let mut ended = false;
    while asked.elapsed() < Duration::from_secs(1) {
        let left = Duration::from_secs(1).saturating_sub(asked.elapsed());
        if events.next(left).await.is_none() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the stream did not end within a second");
    tokio::time::timeout(Duration::from_secs(1), server.served)
        .await
        .expect("the graceful shutdown finished")
        .expect("the server task did not panic");
    assert_eq!(server.state.sse_clients(), 0);
}

#[tokio::test]
async fn a_client_that_goes_away_is_no_longer_counted() {
    let (_dir, _clock, server) = server().await;
    let mut first = server.events(None).await;
    let mut second = server.events(None).await;
    first.next(SOON).await.expect("connection");
    second.next(SOON).await.expect("connection");
    assert_eq!(server.state.sse_clients(), 2);

    drop(first);
    let deadline = Instant::now() + SOON;
    while server.state.sse_clients() != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        server.state.sse_clients(),
        1,
        "the stream went with its client"
    );
}

#[tokio::test]
async fn the_stream_needs_the_token() {
    let (_dir, _clock, server) = server().await;
    for token in [None, Some("not-the-token")] {
        let mut request = server.http.get(server.url("/api/events"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("an answer");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    assert_eq!(server.state.sse_clients(), 0);
}

#[tokio::test]
async fn no_event_of_an_interviews_life_holds_its_password() {
    let (_dir, clock, server) = server().await;
    let mut events = server.events(None).await;
    let answer = server.words("now 30m python").await;
    let password = answer["password"].as_str().expect("a password").to_owned();
    let id = answer["interview"]["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let is_ours = |f: &Frame, state: &str| {
        f.interview()
            .is_some_and(|i| i["id"] == id.as_str() && i["status"] == state)
    };

    events.until(|f| is_ours(f, "active")).await;
    // Ten minutes before the end: the warning; then the end: archive and destroy.
    events
        .advance_until(&clock, |f| {
            f.event == "scheduler_event" && f.data["kind"] == "destroy_warning"
        })
        .await;
    events
        .advance_until(&clock, |f| is_ours(f, "destroyed"))
        .await;

    // The whole history again, replayed from the store.
    let mut replay = server.events(Some("0")).await;
    let last = *server.cursors_after(0).await.last().expect("changes");
    replay.until(|f| f.id == last && f.is_store_event()).await;

    for (what, raw) in [("live", &events.raw), ("replayed", &replay.raw)] {
        assert!(raw.contains("operation_logs"), "{what}: {raw}");
        assert!(!raw.contains(&password), "{what}: the password leaked");
        assert!(!raw.contains("password"), "{what}: a password key: {raw}");
    }
}
