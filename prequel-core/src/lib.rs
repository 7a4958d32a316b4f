//! # prequel-core
//!
//! The engine behind Prequel: coding interviews on demand from chat. An interviewer's words
//! (`schedule tomorrow 2pm 90m python`) become a [`Command`](command::Command); the [`Prequel`]
//! facade records an [`Interview`](domain::Interview) and its create [`Operation`](domain::Operation)
//! in an [`OperationStore`](store::OperationStore); the [`Scheduler`](scheduler::Scheduler) claims
//! due operations exactly once and drives a [`Provisioner`](provision::Provisioner); every change
//! comes back out as an [`Event`](events::Event) from the store's change feed.
//!
//! Frontends (Slack, Discord, the CLI, the web page) use the [`Prequel`] facade and nothing deeper.
//! Time is injected through [`Clock`](clock::Clock) everywhere. What the scheduler measures
//! ([`SchedulerStats`](scheduler::SchedulerStats): counters and lock-free
//! [`Histogram`](metrics::Histogram)s) is read through [`Prequel::stats`]; frontends format it.
#![deny(missing_docs)]

pub mod access;
pub mod archive;
#[cfg(feature = "aws")]
pub mod aws;
pub mod challenge;
pub mod clock;
pub mod command;
pub mod domain;
pub mod events;
mod facade;
pub mod metrics;
pub mod provision;
pub mod review;
pub mod scheduler;
pub mod secrets;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use facade::{
    API_TOKEN_PREFIX, Background, BuildError, IssuedApiToken, MAX_TOKEN_USER_CHARS, Outcome,
    Prequel, PrequelBuilder, PrequelConfig, PrequelError, TIME_ZONE_SETTING, looks_like_api_token,
};
