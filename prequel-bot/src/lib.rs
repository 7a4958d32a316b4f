//! The library half of `prequel-bot`: the chat frontends, so the integration tests (and other
//! tools) can mount them on a router of their own. The `prequel` binary (`main.rs`) uses it.
//!
//! - [`discord`]: the Discord frontend (`/interview` application command, buttons, DMs).
//! - [`notify`]: what every frontend's notifier does (claims, newest state, replay).
//! - [`slack`]: the Slack frontend (`/interview`, buttons, DMs, channel status messages).
//! - [`wording`]: what Prequel says about an outcome, once, in either platform's markup.

pub mod discord;
pub mod notify;
pub mod slack;
pub mod wording;
