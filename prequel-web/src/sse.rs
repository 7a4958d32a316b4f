//! `GET /api/events`: the live event stream, as server-sent events.
//!
//! Every frame has an `event:` name, an `id:` and one JSON object on its `data:` line:
//!
//! | event | data |
//! |---|---|
//! | `connection` | `{"server_time", "cursor"}`, first, once |
//! | `operation_status` | `{"interviews": [interview…]}`: every interview not yet terminal; right after `connection`, then every [`WebConfig::status_every`] |
//! | `heartbeat` | `{"server_time"}`, every [`WebConfig::heartbeat`] |
//! | `operation_update` | `{"interview": interview}` or `{"operation": operation, "interview_id"}` |
//! | `operation_logs` | `{"interview_id", "operation_id", "lines": [{"at", "message"}]}` |
//! | `scheduler_event` | `{"kind": "destroy_warning", "interview": interview}`, or a scheduler note `{"kind", "at", "interview_id", "message"}` |
//!
//! Interviews and operations are rendered by [`crate::render`], exactly as the JSON API shows
//! them, so no event ever holds a secret. `server_time` and log times are RFC 3339 in UTC.
//!
//! # Ids, replay and reconnecting
//!
//! The `id` of a frame is a position in the store's change feed: an event derived from a change
//! carries that change's cursor, every other frame the cursor of the last change the stream
//! sent. A client that reconnects with `Last-Event-ID: N` (browsers do this by themselves)
//! first gets every change after `N`, read back from the store, then live events, with nothing
//! missed or repeated. The stream subscribes to the bus *before* it reads the store's latest
//! cursor, so any change newer than what the store showed is certain to arrive live, and live
//! events at or below the last sent cursor are skipped. A stream that falls behind the bus
//! (`RecvError::Lagged`) recovers the same way, by replaying from the store. A malformed
//! `Last-Event-ID`, or one ahead of the store (the store was reset), starts from now.
//! Scheduler notes are local to the process and not stored: a lagging stream may miss some.
//!
//! # Ending
//!
//! A stream ends when its client goes away (the body is dropped with everything it holds) and
//! when [`ApiState::shutdown`] turns true, so a graceful shutdown does not wait for clients.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event as Frame, Sse};
use chrono::{DateTime, SecondsFormat, Utc};
use prequel_core::domain::{Interview, InterviewId};
use prequel_core::events::Event;
use prequel_core::store::{ChangeCursor, InterviewScope, PageRequest};
use prequel_core::{Prequel, PrequelError};
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::error::ApiError;
use crate::render;
use crate::{ApiState, WebConfig};

/// Changes read from the store per replay query.
const REPLAY_BATCH: u32 = 500;

/// How long a stream waits before it retries a store read that failed (the client keeps its
/// connection; heartbeats pause meanwhile).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Interviews remembered to render operations in their interview's zone without a store read
/// (an interview's change precedes its operation's in the feed).
const REMEMBERED_INTERVIEWS: usize = 64;

/// Rendered store events kept for the other streams (an event reaches every stream within
/// moments, so a short memory suffices; a stream further behind renders for itself).
const RENDERED_KEPT: usize = 256;

/// Tells nginx-style proxies not to buffer the stream.
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");

/// `GET /api/events`: the live event stream (see the module documentation).
pub(crate) async fn events(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    // Counted from here, so a client is counted while its stream exists, however it ends.
    let client = ClientGuard::new(state.sse.clone());
    // Subscribe before reading the store's position: a change committed after that read is
    // then certain to reach this receiver, so replay followed by live events leaves no gap.
    let receiver = state.prequel.subscribe();
    let latest = state.prequel.latest_change().await?;
    let resume = last_event_id(&headers).filter(|id| *id <= latest);
    let start = resume.unwrap_or(latest);

    let mut stream = EventStream::new(
        state.prequel.clone(),
        receiver,
        state.shutdown.clone(),
        &state.config,
        start,
        start < latest,
        client,
    );
    let connection = stream.frame(
        "connection",
        &json!({"server_time": time(state.prequel.now()), "cursor": start.0}),
    );
    stream.queue.push_back(connection);
    if let Some(status) = stream.status_frame().await {
        stream.queue.push_back(status);
    }

    let frames = futures::stream::unfold(stream, |mut stream| async move {
        let frame = stream.next().await?;
        Some((Ok::<_, Infallible>(frame.into_sse()), stream))
    });
    Ok((
        [
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (X_ACCEL_BUFFERING, HeaderValue::from_static("no")),
        ],
        Sse::new(frames),
    ))
}

/// `Last-Event-ID` as a cursor; `None` when absent or malformed (the stream then starts now).
fn last_event_id(headers: &HeaderMap) -> Option<ChangeCursor> {
    let value = headers.get("last-event-id")?.to_str().ok()?;
    value.trim().parse().ok().map(ChangeCursor)
}

/// An interval whose first tick is one `period` from `now` (tokio's first tick is immediate).
fn every(period: Duration, now: Instant) -> Interval {
    // A zero period would make a busy loop of ticks; a millisecond is already absurd.
    let period = period.max(Duration::from_millis(1));
    let mut interval = tokio::time::interval_at(now + period, period);
    // A stream that was not polled for a while (slow client) owes no burst of heartbeats.
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// Returns when the server shuts down (or the signal's sender is gone: it is going away).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // The `Ref` is dropped here, so `select!` branches do not keep the receiver borrowed.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A rendered event: its SSE name and its data, one line of JSON.
type Rendered = (&'static str, Arc<str>);

/// What all event streams of one [`ApiState`] share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Open streams.
    clients: AtomicUsize,
    /// The latest store events as rendered, by cursor, oldest first (`None`: nothing to show).
    /// Every stream sends the same bytes for a change, so the first to need them renders them
    /// and the other streams copy them: fan-out costs a lookup per client, not a render.
    rendered: Mutex<VecDeque<(ChangeCursor, Option<Rendered>)>>,
    /// Recently seen interviews, newest last.
    interviews: Mutex<VecDeque<Interview>>,
}

impl Shared {
    /// How many streams are open.
    pub(crate) fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    fn rendered(&self) -> MutexGuard<'_, VecDeque<(ChangeCursor, Option<Rendered>)>> {
        lock(&self.rendered)
    }

    /// The rendering of the change at `cursor`, if a stream made it lately.
    fn recall(&self, cursor: ChangeCursor) -> Option<Option<Rendered>> {
        let rendered = self.rendered();
        // Newest last, and streams mostly ask for the newest.
        rendered
            .iter()
            .rev()
            .find(|(at, _)| *at == cursor)
            .map(|(_, rendered)| rendered.clone())
    }

    fn recall_interview(&self, id: &InterviewId) -> Option<Interview> {
        lock(&self.interviews)
            .iter()
            .rev()
            .find(|known| known.id == *id)
            .cloned()
    }

    fn remember(&self, interview: &Interview) {
        let mut known = lock(&self.interviews);
        known.retain(|old| old.id != interview.id);
        if known.len() >= REMEMBERED_INTERVIEWS {
            known.pop_front();
        }
        known.push_back(interview.clone());
    }

    fn keep(&self, cursor: ChangeCursor, rendered: Option<Rendered>) {
        let mut kept = self.rendered();
        if kept.iter().any(|(at, _)| *at == cursor) {
            return;
        }
        if kept.len() >= RENDERED_KEPT {
            kept.pop_front();
        }
        kept.push_back((cursor, rendered));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The locks guard caches that are never left half-written; a panic elsewhere while holding
    // one does not make it wrong.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Counts a connected client in [`ApiState::sse_clients`] for as long as it lives.
#[derive(Debug)]
struct ClientGuard(Arc<Shared>);

impl ClientGuard {
    fn new(shared: Arc<Shared>) -> Self {
        shared.clients.fetch_add(1, Ordering::Relaxed);
        Self(shared)
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One frame of the stream, before it is written as SSE.
#[derive(Debug, Clone, PartialEq)]
struct Outgoing {
    /// The SSE event name.
    name: &'static str,
    /// The SSE `id`: a change-feed cursor.
    id: ChangeCursor,
    /// The data, one JSON object on one line.
    data: Arc<str>,
}

impl Outgoing {
    fn into_sse(self) -> Frame {
        // Compact JSON has no newline, so it is exactly one `data:` line.
        Frame::default()
            .event(self.name)
            .id(self.id.0.to_string())
            .data(&*self.data)
    }
}

/// One client's stream: what it has sent, and where the next frames come from.
struct EventStream {
    prequel: Prequel,
    receiver: broadcast::Receiver<Event>,
    shutdown: watch::Receiver<bool>,
    heartbeat: Interval,
    status: Interval,
    /// The cursor of the newest change sent (or skipped as gone); the `id` of every frame.
    last_sent: ChangeCursor,
    /// Whether changes after `last_sent` must be read from the store before live events.
    replaying: bool,
    /// Frames ready to go, in order.
    queue: VecDeque<Outgoing>,
    /// Counts the stream as a client, and holds what the streams share.
    client: ClientGuard,
}

impl EventStream {
    /// A stream whose last sent change is `start`, replaying from the store first if `replay`.
    fn new(
        prequel: Prequel,
        receiver: broadcast::Receiver<Event>,
        shutdown: watch::Receiver<bool>,
        config: &WebConfig,
        start: ChangeCursor,
        replay: bool,
        client: ClientGuard,
    ) -> Self {
        let now = Instant::now();
        Self {
            prequel,
            receiver,
            shutdown,
            heartbeat: every(config.heartbeat, now),
            status: every(config.status_every, now),
            last_sent: start,
            replaying: replay,
            queue: VecDeque::new(),
            client,
        }
    }

    /// The next frame, or `None` when the stream should end (shutdown, or the bus closed).
    async fn next(&mut self) -> Option<Outgoing> {
        loop {
            // Checked before queued frames too, so a long replay does not delay the shutdown.
            if self.stopping() {
                return None;
            }
            if let Some(frame) = self.queue.pop_front() {
                return Some(frame);
            }
            if self.replaying {
                if let Err(err) = self.replay_batch().await {
                    tracing::warn!(error = %err, "replaying the change feed failed; retrying");
                    if !self.pause().await {
                        return None;
                    }
                }
                continue;
            }
            tokio::select! {
                // Shutdown first, then the bus, so timers never starve events.
                biased;
                // An error means the sender is gone: the server is going away, so end too.
                () = stopped(&mut self.shutdown) => return None,
                received = self.receiver.recv() => match received {
                    Ok(event) => {
                        if let Err(err) = self.push(event).await {
                            tracing::warn!(error = %err, "rendering an event failed; replaying");
                            self.replaying = true;
                            if !self.pause().await {
                                return None;
                            }
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        // The bus dropped events this stream had not read; the store has them.
                        tracing::debug!(missed, "event stream lagged; replaying from the store");
                        self.replaying = true;
                    }
                    Err(RecvError::Closed) => return None,
                },
                _ = self.heartbeat.tick() => {
                    let data = json!({"server_time": time(self.prequel.now())});
                    return Some(self.frame("heartbeat", &data));
                }
                _ = self.status.tick() => {
                    if let Some(frame) = self.status_frame().await {
                        return Some(frame);
                    }
                }
            }
        }
    }

    fn stopping(&self) -> bool {
        // `has_changed` fails only when the sender is gone, which means the server is stopping.
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    /// Waits before retrying a failed store read; `false` if the server shuts down meanwhile.
    async fn pause(&mut self) -> bool {
        tokio::select! {
            () = stopped(&mut self.shutdown) => false,
            () = tokio::time::sleep(RETRY_AFTER) => true,
        }
    }

    /// Queues the next batch of changes after `last_sent` from the store; stops replaying once
    /// the store has no more.
    async fn replay_batch(&mut self) -> Result<(), PrequelError> {
        let batch = self
            .prequel
            .changes_since(self.last_sent, REPLAY_BATCH)
            .await?;
        if batch.changes.is_empty() {
            self.replaying = false;
        }
        for change in batch.changes {
            self.push(Event::from_change(change.cursor, change.kind))
                .await?;
        }
        Ok(())
    }

    /// Renders `event` into the queue, unless the stream already sent it. On an error
    /// `last_sent` stays before the event, so a replay picks it up again.
    async fn push(&mut self, event: Event) -> Result<(), PrequelError> {
        let cursor = event.cursor();
        if cursor.is_some_and(|cursor| cursor <= self.last_sent) {
            return Ok(());
        }
        let rendered = match cursor {
            Some(cursor) => match self.client.0.recall(cursor) {
                Some(rendered) => rendered,
                None => {
                    let rendered = self.render(&event).await?;
                    self.client.0.keep(cursor, rendered.clone());
                    rendered
                }
            },
            // Scheduler notes: rare, and each is published once.
            None => self.render(&event).await?,
        };
        if let Some(cursor) = cursor {
            self.last_sent = cursor;
        }
        if let Some((name, data)) = rendered {
            self.queue.push_back(Outgoing {
                name,
                id: self.last_sent,
                data,
            });
        }
        Ok(())
    }

    /// The SSE event name and data of `event`; `None` for an operation whose interview is gone.
    async fn render(&self, event: &Event) -> Result<Option<Rendered>, PrequelError> {
        let (name, data) = match event {
            Event::InterviewUpdate { interview, .. } => {
                self.remember(interview);
                (
                    "operation_update",
                    json!({"interview": render::interview(interview)}),
                )
            }
            Event::OperationUpdate { operation, .. } => {
                // Operations are shown in their interview's zone, like the JSON API does.
                let Some(interview) = self.interview(&operation.interview_id).await? else {
                    // Expired and purged since: there is nothing left to show.
                    return Ok(None);
                };
                let views = render::operations(&interview, std::slice::from_ref(operation));
                (
                    "operation_update",
                    json!({
                        "operation": views.first(),
                        "interview_id": operation.interview_id.as_str(),
                    }),
                )
            }
            Event::OperationLogs {
                interview_id,
                operation_id,
                lines,
                ..
            } => (
                "operation_logs",
                json!({
                    "interview_id": interview_id.as_str(),
                    "operation_id": operation_id.as_str(),
                    "lines": lines
                        .iter()
                        .map(|line| json!({"at": time(line.at), "message": line.message}))
                        .collect::<Vec<_>>(),
                }),
            ),
            Event::Warning { interview, .. } => {
                self.remember(interview);
                (
                    "scheduler_event",
                    json!({"kind": "destroy_warning", "interview": render::interview(interview)}),
                )
            }
            Event::Scheduler(note) => (
                "scheduler_event",
                json!({
                    "kind": note.kind,
                    "at": time(note.at),
                    "interview_id": note.interview_id.as_ref().map(InterviewId::as_str),
                    "message": note.message,
                }),
            ),
        };
        Ok(Some((name, data.to_string().into())))
    }

    /// The interview `id`, from the recently seen ones or else the store; `None` if it is gone.
    async fn interview(&self, id: &InterviewId) -> Result<Option<Interview>, PrequelError> {
        if let Some(known) = self.client.0.recall_interview(id) {
            return Ok(Some(known));
        }
        match self.prequel.get(id).await {
            Ok(interview) => {
                self.remember(&interview);
                Ok(Some(interview))
            }
            Err(PrequelError::NotFound(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn remember(&self, interview: &Interview) {
        self.client.0.remember(interview);
    }

    /// `operation_status`: every interview not yet terminal. `None` (logged) if the store
    /// cannot be read; the next one comes at the next tick.
    async fn status_frame(&mut self) -> Option<Outgoing> {
        match open_interviews(&self.prequel).await {
            Ok(open) => {
                let interviews: Vec<_> = open.iter().map(render::interview).collect();
                Some(self.frame("operation_status", &json!({"interviews": interviews})))
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not list open interviews for the event stream");
                None
            }
        }
    }

    fn frame(&self, name: &'static str, data: &Value) -> Outgoing {
        Outgoing {
            name,
            id: self.last_sent,
            data: data.to_string().into(),
        }
    }
}

/// Every open interview, all pages.
async fn open_interviews(prequel: &Prequel) -> Result<Vec<Interview>, PrequelError> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let found = prequel.list(InterviewScope::Open, &page).await?;
        all.extend(found.items);
        match found.next {
            Some(token) => page = PageRequest::after(PageRequest::MAX_LIMIT, token),
            None => return Ok(all),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::TimeZone as _;
    use prequel_core::clock::ManualClock;
    use prequel_core::domain::{ChallengeId, Platform, Requester};
    use prequel_core::secrets::file::FileSecrets;
    use prequel_core::store::sqlite::SqliteStore;
    use prequel_core::testkit::provisioner::RecordingProvisioner;

    use super::*;

    /// A facade that is not started: the tests feed the stream's bus themselves.
    fn facade(dir: &Path) -> Prequel {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .expect("valid time");
        let clock = ManualClock::new(start);
        Prequel::builder()
            .store(Arc::new(
                SqliteStore::open(&dir.join("prequel.sqlite3")).expect("store"),
            ))
            .provisioner(Arc::new(RecordingProvisioner::new(Arc::new(clock.clone()))))
            .secrets(Arc::new(
                FileSecrets::open(dir.join("secrets")).expect("secrets"),
            ))
            .clock(Arc::new(clock))
            .challenges(vec![ChallengeId::parse("python").expect("valid")])
            .build()
            .expect("facade")
    }

    #[tokio::test]
    async fn a_stream_that_lags_behind_the_bus_replays_the_missed_changes_from_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let prequel = facade(dir.path());
        let alice = Requester {
            platform: Platform::Cli,
            user_id: "alice".to_owned(),
            display_name: "alice".to_owned(),
        };
        for _ in 0..5 {
            prequel
                .execute_text(
                    &prequel_core::access::Actor::member(alice.clone()),
                    "schedule tomorrow 2pm 1h python",
                    chrono_tz::UTC,
                )
                .await
                .expect("scheduled");
        }
        let changes = prequel
            .changes_since(ChangeCursor::default(), 100)
            .await
            .expect("changes")
            .changes;
        assert_eq!(changes.len(), 10, "an interview and an operation each");

        // A bus of 4 that got all 10 before the stream read any: the stream has lagged.
        let (bus, receiver) = broadcast::channel(4);
        for change in &changes {
            bus.send(Event::from_change(change.cursor, change.kind.clone()))
                .expect("a receiver");
        }
        drop(bus);
        let shared = Arc::new(Shared::default());
        let (_stop, shutdown) = watch::channel(false);
        let mut stream = EventStream::new(
            prequel,
            receiver,
            shutdown,
            &WebConfig::default(),
            ChangeCursor::default(),
            false,
            ClientGuard::new(shared.clone()),
        );
        let mut ids = Vec::new();
        // The bus is closed, so the stream ends once it has caught up.
        while let Some(frame) = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a frame or the end in time")
        {
            assert_eq!(frame.name, "operation_update", "{frame:?}");
            ids.push(frame.id);
        }
        let want: Vec<_> = changes.iter().map(|change| change.cursor).collect();
        assert_eq!(ids, want, "every change once, in order");
        assert_eq!(shared.clients(), 1);
        drop(stream);
        assert_eq!(shared.clients(), 0, "the guard went with the stream");
    }

    #[test]
    fn a_malformed_last_event_id_means_no_replay() {
        let mut headers = HeaderMap::new();
        assert_eq!(last_event_id(&headers), None);
        for (value, want) in [
            ("17", Some(ChangeCursor(17))),
            (" 17 ", Some(ChangeCursor(17))),
            ("-1", None),
            ("abc", None),
            ("", None),
        ] {
            headers.insert("last-event-id", HeaderValue::from_static(value));
            assert_eq!(last_event_id(&headers), want, "{value:?}");
        }
    }
}
