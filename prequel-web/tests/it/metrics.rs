//! `/metrics` (Prometheus text) and `/readyz`, over a facade whose scheduler really runs (on a
//! manual clock, with the recording provisioner).

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use prequel_core::clock::ManualClock;
use prequel_core::domain::SecretString;
use prequel_core::testkit;
use prequel_core::testkit::provisioner::{Behaviour, RecordingProvisioner};
use prequel_core::{Background, Prequel};
use prequel_web::{ApiState, router};
use serde_json::{Value, json};
use tokio::sync::watch;
use tower::ServiceExt as _;

use crate::support::{SERVER_ZONE, TOKEN};

/// A facade on a temporary SQLite file, a manual clock and the recording provisioner; its
/// scheduler runs once [`Engine::start`] is called.
pub(crate) struct Engine {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    provisioner: RecordingProvisioner,
    prequel: Prequel,
    pub(crate) router: Router,
    stop: watch::Sender<bool>,
    background: Option<Background>,
}

impl Engine {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let testkit::engine::Engine {
            prequel,
            clock,
            provisioner,
            ..
        } = testkit::engine::in_dir(dir.path()).build();
        let router = router(ApiState::new(
            prequel.clone(),
            SecretString::new(TOKEN),
            SERVER_ZONE,
        ));
        Self {
            _dir: dir,
            clock,
            provisioner,
            prequel,
            router,
            stop: watch::channel(false).0,
            background: None,
        }
    }

    async fn start(&mut self) {
        let background = self
            .prequel
            .start(self.stop.subscribe())
            .await
            .expect("start the engine");
        self.background = Some(background);
    }

    /// `(status, content type, body)` of a request, with the token if `token`.
    pub(crate) async fn send(
        &self,
        method: &str,
        uri: &str,
        token: bool,
        body: Option<Value>,
    ) -> (StatusCode, String, String) {
        let mut request = Request::builder().method(method).uri(uri);
        if token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("read the body");
        let text = String::from_utf8(bytes.to_vec()).expect("UTF-8 body");
        (status, content_type, text)
    }

    async fn metrics(&self) -> String {
        let (status, content_type, text) = self.send("GET", "/metrics", true, None).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        check_exposition(&text);
        text
    }

    /// Runs `words` as alice and returns the interview's id.
    pub(crate) async fn words(&self, words: &str) -> String {
        let (status, _, text) = self
            .send(
                "POST",
                "/api/commands",
                true,
                Some(json!({"text": words, "user": "alice"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let answer: Value = serde_json::from_str(&text).expect("JSON");
        answer["interview"]["id"]
            .as_str()
            .expect("an interview")
            .to_owned()
    }

    /// Waits (in real time: the scheduler runs on its own task) until `metrics` holds `line`.
    async fn wait_for_line(&self, line: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.metrics().await;
            if text.lines().any(|l| l == line) {
                return text;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no `{line}` in:\n{text}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The value of the sample `name{labels}` (labels exactly as written), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.parse().expect("a number"))
}

/// Checks the syntax of the text format 0.0.4 line by line: `# HELP name text`, `# TYPE name
/// kind` before a family's samples (once per family), and samples `name{label="value",…}
/// value` whose name belongs to the family declared last (histograms: `_bucket`, `_sum`,
/// `_count`). Histogram buckets must be cumulative and end with `le="+Inf"` equal to `_count`.
fn check_exposition(text: &str) {
    assert!(text.ends_with('\n'), "the text must end with a newline");
    let mut declared = std::collections::HashSet::new();
    let mut family: Option<(String, String)> = None;
    let mut last_bucket: Option<f64> = None;
    let mut inf_bucket: Option<f64> = None;
    for line in text.lines() {
        assert!(!line.is_empty(), "empty line in:\n{text}");
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (keyword, name, value) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
            );
            assert!(valid_name(name), "bad metric name in {line:?}");
            match keyword {
                "HELP" => assert!(!value.is_empty(), "empty HELP: {line:?}"),
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&value),
                        "bad TYPE: {line:?}"
                    );
                    assert!(declared.insert(name.to_owned()), "TYPE twice: {line:?}");
                    family = Some((name.to_owned(), value.to_owned()));
                    last_bucket = None;
                    inf_bucket = None;
                }
                other => panic!("unknown comment keyword {other:?} in {line:?}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, labels.strip_suffix('}').expect("labels end with `}`")),
            None => (series, ""),
        };
        assert!(valid_name(name), "bad metric name in {line:?}");
        let mut le = None;
        if !labels.is_empty() {
            for pair in split_labels(labels) {
                let (label, quoted) = pair
                    .split_once('=')
                    .unwrap_or_else(|| panic!("bad label {pair:?} in {line:?}"));
                assert!(
                    valid_name(label) && !label.contains(':'),
                    "bad label name in {line:?}"
                );
                let inner = quoted
                    .strip_prefix('"')
                    .and_then(|q| q.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("unquoted label value in {line:?}"));
                if label == "le" {
                    le = Some(inner.to_owned());
                }
            }
        }
        let (family_name, kind) = family.as_ref().expect("a sample before any TYPE");
        if kind == "histogram" {
            let suffix = name
                .strip_prefix(family_name.as_str())
                .unwrap_or_else(|| panic!("{name} outside its family {family_name}"));
            match suffix {
                "_bucket" => {
                    let le = le.unwrap_or_else(|| panic!("bucket without le: {line:?}"));
                    if let Some(previous) = last_bucket {
                        assert!(value >= previous, "buckets not cumulative: {line:?}");
                    }
                    last_bucket = Some(value);
                    if le == "+Inf" {
                        inf_bucket = Some(value);
                    }
                }
                "_sum" => {}
                "_count" => assert_eq!(
                    inf_bucket,
                    Some(value),
                    "+Inf bucket and _count differ in {family_name}"
                ),
                other => panic!("unexpected histogram series suffix {other:?}"),
            }
        } else {
            assert_eq!(name, family_name, "sample outside its family: {line:?}");
        }
    }
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Splits `a="x",b="y,z"` at the commas outside quotes (escapes respected).
fn split_labels(labels: &str) -> Vec<&str> {
    let mut pairs = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in labels.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                pairs.push(&labels[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pairs.push(&labels[start..]);
    pairs
}

#[tokio::test]
async fn a_completed_create_shows_in_operations_lateness_and_provisioning() {
    let mut engine = Engine::new();
    engine.start().await;
    let id = engine.words("now 30m python").await;
    let text = engine
        .wait_for_line(r#"prequel_operations_total{kind="create",result="completed"} 1"#)
        .await;
    assert_eq!(engine.provisioner.creates_of(&parse_id(&id)), 1);
    // Claimed the moment it was due on a clock that did not move: lateness 0, first bucket.
    assert_eq!(
        sample(&text, "prequel_scheduler_lateness_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"prequel_scheduler_lateness_seconds_bucket{le="0.005"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "prequel_provisioning_duration_seconds_count"),
        Some(1.0)
    );
    assert_eq!(sample(&text, "prequel_scheduler_claims_total"), Some(1.0));
    assert_eq!(
        sample(&text, r#"prequel_interviews{state="active"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"prequel_interviews{state="scheduled"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&text, "prequel_store_up"), Some(1.0));
    assert_eq!(sample(&text, "prequel_sse_clients"), Some(0.0));
    for result in ["failed", "retried"] {
        assert_eq!(
            sample(
                &text,
                &format!(r#"prequel_operations_total{{kind="create",result="{result}"}}"#)
            ),
            Some(0.0)
        );
    }
}

#[tokio::test]
async fn a_retried_create_and_a_rejected_one_count_as_retried_and_failed() {
    let mut engine = Engine::new();
    engine
        .provisioner
        .set_behaviour(Behaviour::FailCreates { times: 1 });
    engine.start().await;
    engine.words("now 30m python").await;
    engine
        .wait_for_line(r#"prequel_operations_total{kind="create",result="retried"} 1"#)
        .await;
    // The retry is due 12–15 s later on the manual clock.
    engine.clock.advance(chrono::Duration::seconds(20));
    engine
        .wait_for_line(r#"prequel_operations_total{kind="create",result="completed"} 1"#)
        .await;

    engine.provisioner.set_behaviour(Behaviour::RejectCreates);
    engine.words("now 30m python").await;
    engine
        .wait_for_line(r#"prequel_operations_total{kind="create",result="failed"} 1"#)
        .await;
    // A failed interview gets a cleanup destroy; once it is done the scheduler is idle.
    let text = engine
        .wait_for_line(r#"prequel_operations_total{kind="destroy",result="completed"} 1"#)
        .await;
    // Four claims, one lateness each: all on time but the retry, due 12–15 s after the first
    // attempt and claimed only when the clock jumped by 20 s, so 5–8 s late.
    assert_eq!(sample(&text, "prequel_scheduler_claims_total"), Some(4.0));
    assert_eq!(
        sample(&text, "prequel_scheduler_lateness_seconds_count"),
        Some(4.0)
    );
    let late = |le: &str| {
        sample(
            &text,
            &format!(r#"prequel_scheduler_lateness_seconds_bucket{{le="{le}"}}"#),
        )
    };
    assert_eq!((late("2.5"), late("10")), (Some(3.0), Some(4.0)), "{text}");
}

#[tokio::test]
async fn metrics_need_the_admin_token() {
    let engine = Engine::new();
    let (status, content_type, text) = engine.send("GET", "/metrics", false, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert_eq!(content_type, "application/json");
    let body: Value = serde_json::from_str(&text).expect("the error shape");
    assert_eq!(body["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn a_facade_that_never_started_is_not_ready_and_says_the_scheduler_is_why() {
    let engine = Engine::new();
    let (status, _, text) = engine.send("GET", "/readyz", false, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().expect("a message");
    assert_eq!(message, "not ready: the scheduler is not running");
    // Still alive, though: liveness and readiness are different questions.
    let (status, _, _) = engine.send("GET", "/healthz", false, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_running_engine_is_ready_without_a_token() {
    let mut engine = Engine::new();
    engine.start().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (status, content_type, text) = engine.send("GET", "/readyz", false, None).await;
        if status == StatusCode::OK {
            assert_eq!(content_type, "application/json");
            let body: Value = serde_json::from_str(&text).expect("JSON");
            assert_eq!(
                body,
                json!({"status": "ready", "store": "ok", "scheduler": "ok"})
            );
            break;
        }
        // The scheduler's first pass runs on its own task, right after `start`.
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_scheduler_that_stopped_is_not_ready_after_twice_its_poll_cap() {
    let mut engine = Engine::new();
    engine.start().await;
    while !engine.prequel.scheduler_alive() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = engine.stop.send(true);
    if let Some(background) = engine.background.take() {
        background.join().await;
    }
    // The default poll cap is 30 s: at 60 s the last pass still counts, past it not.
    engine.clock.advance(chrono::Duration::seconds(60));
    assert!(engine.prequel.scheduler_alive());
    engine.clock.advance(chrono::Duration::seconds(1));
    let (status, _, text) = engine.send("GET", "/readyz", false, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("the scheduler is not running"), "{text}");
}

fn parse_id(id: &str) -> prequel_core::domain::InterviewId {
    prequel_core::domain::InterviewId::parse(id).expect("an interview id")
}
