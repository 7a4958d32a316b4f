//! The library half of `prequel-bot`: the app and the chat frontends, so the integration tests,
//! the benchmarks (and other tools) can run them in-process or mount them on a router of their
//! own. The `prequel` binary (`main.rs`) uses it.
//!
//! - [`app`]: the whole application on one listener, as `prequel serve` runs it (and tests and
//!   benchmarks in-process, on port 0).
//! - [`discord`]: the Discord frontend (`/interview` application command, buttons, DMs).
//! - [`notify`]: what every frontend's notifier does (claims, newest state, replay).
//! - [`slack`]: the Slack frontend (`/interview`, buttons, DMs, channel status messages).
//! - [`wording`]: what Prequel says about an outcome, once, in either platform's markup.

pub mod app;
pub mod discord;
pub mod notify;
pub mod slack;
pub mod wording;
