//! What frontends hear: one typed [`Event`] enum.
//!
//! Everything but [`Event::Scheduler`] is derived from the store's change feed by
//! [`ChangeFollower`], so a change made by another process on the same store reaches this
//! process's subscribers exactly like a local one (invariant 5). Frontends render events; they
//! never poll the store themselves.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{Notify, broadcast, watch};

use crate::clock::Clock;
use crate::domain::{Interview, InterviewId, LogLine, Operation, OperationId};
use crate::store::{ChangeCursor, ChangeKind, OperationStore};

/// Something that happened, for frontends to render.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An interview was recorded or changed state (SSE `operation_update`).
    InterviewUpdate {
        /// Position in the store's change feed.
        cursor: ChangeCursor,
        /// The interview after the change.
        interview: Interview,
    },
    /// An operation was recorded or changed (SSE `operation_update`).
    OperationUpdate {
        /// Position in the store's change feed.
        cursor: ChangeCursor,
        /// The operation after the change.
        operation: Operation,
    },
    /// Log lines were appended to an operation (SSE `operation_logs`).
    OperationLogs {
        /// Position in the store's change feed.
        cursor: ChangeCursor,
        /// The interview.
        interview_id: InterviewId,
        /// The operation.
        operation_id: OperationId,
        /// The new lines.
        lines: Vec<LogLine>,
    },
    /// The interview will be destroyed soon: frontends DM the requester an Extend button.
    Warning {
        /// Position in the store's change feed.
        cursor: ChangeCursor,
        /// The interview, with the destroy time the warning is about.
        interview: Interview,
    },
    /// What this process's scheduler did (SSE `scheduler_event`). Local to the process.
    Scheduler(SchedulerEvent),
}

impl Event {
    /// The feed cursor of store-derived events (`None` for scheduler events).
    pub fn cursor(&self) -> Option<ChangeCursor> {
        match self {
            Self::InterviewUpdate { cursor, .. }
            | Self::OperationUpdate { cursor, .. }
            | Self::OperationLogs { cursor, .. }
            | Self::Warning { cursor, .. } => Some(*cursor),
            Self::Scheduler(_) => None,
        }
    }

    /// The event for the change at `cursor` in the store's feed (what [`ChangeFollower`]
    /// publishes; also used to replay changes read with `Prequel::changes_since`).
    pub fn from_change(cursor: ChangeCursor, kind: ChangeKind) -> Self {
        match kind {
            ChangeKind::Interview { interview } => Self::InterviewUpdate { cursor, interview },
            ChangeKind::Operation { operation } => Self::OperationUpdate { cursor, operation },
            ChangeKind::Logs {
                operation_id,
                interview_id,
                lines,
            } => Self::OperationLogs {
                cursor,
                interview_id,
                operation_id,
                lines,
            },
            ChangeKind::Warning { interview } => Self::Warning { cursor, interview },
        }
    }
}

/// A note from the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchedulerEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The interview concerned, if one.
    pub interview_id: Option<InterviewId>,
    /// What happened.
    pub kind: SchedulerEventKind,
    /// In words.
    pub message: String,
}

/// Kinds of scheduler notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerEventKind {
    /// The scheduler started.
    Started,
    /// An operation was claimed by this process.
    Claimed,
    /// An operation failed and will be retried.
    Retrying,
    /// An interview failed for good (including a missed start).
    Failed,
    /// The destroy time came: a destroy was requested.
    DestroyDue,
    /// This process lost a lease it held (another process took the work over).
    LeaseLost,
    /// The store could not be reached; the scheduler keeps trying.
    StoreError,
    /// The scheduler stopped.
    Stopped,
}

/// The in-process event bus: a broadcast channel plus a bell rung on local writes so the feed
/// follower reads the store at once instead of at its next poll.
#[derive(Debug, Clone)]
pub struct EventBus {
    sender: broadcast::Sender<Event>,
    local_write: Arc<Notify>,
}

impl EventBus {
    /// A bus whose subscribers may fall `capacity` events behind before they miss some
    /// (they then get `RecvError::Lagged` and should rebuild from the store).
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::Sender::new(capacity),
            local_write: Arc::new(Notify::new()),
        }
    }

    /// A new subscriber, seeing events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    /// Publishes an event (dropped silently when nobody listens).
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(event);
    }

    /// Tells the follower that this process just wrote to the store.
    pub fn wrote(&self) {
        self.local_write.notify_one();
    }
}

/// Follows the store's change feed and publishes each change as an [`Event`].
#[derive(Debug)]
pub struct ChangeFollower {
    store: Arc<dyn OperationStore>,
    clock: Arc<dyn Clock>,
    bus: EventBus,
    poll: StdDuration,
}

impl ChangeFollower {
    /// How often the feed is read when no local write rang the bell: the delay with which
    /// another process's changes reach this process's subscribers.
    pub const DEFAULT_POLL: StdDuration = StdDuration::from_millis(500);

    /// A follower publishing into `bus`.
    pub fn new(store: Arc<dyn OperationStore>, clock: Arc<dyn Clock>, bus: EventBus) -> Self {
        Self {
            store,
            clock,
            bus,
            poll: Self::DEFAULT_POLL,
        }
    }

    /// Sets the poll interval.
    pub fn with_poll(mut self, poll: StdDuration) -> Self {
        self.poll = poll;
        self
    }

    /// Publishes every change after `from` until `shutdown` turns true.
    pub async fn run(self, from: ChangeCursor, mut shutdown: watch::Receiver<bool>) {
        let mut cursor = from;
        loop {
            match self.store.changes_since(cursor, 500).await {
                Ok(batch) => {
                    let full = batch.changes.len() >= 500;
                    for change in batch.changes {
                        self.bus
                            .publish(Event::from_change(change.cursor, change.kind));
                    }
                    cursor = batch.cursor;
                    if full {
                        continue;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "reading the change feed failed; retrying");
                    self.bus.publish(Event::Scheduler(SchedulerEvent {
                        at: self.clock.now(),
                        interview_id: None,
                        kind: SchedulerEventKind::StoreError,
                        message: format!("reading the change feed failed: {err}"),
                    }));
                }
            }
            tokio::select! {
                _ = self.bus.local_write.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}
