//! The library half of `prequel-bot`: the chat frontends, so the integration tests (and other
//! tools) can mount them on a router of their own. The `prequel` binary (`main.rs`) uses it.
//!
//! - [`slack`]: the Slack frontend (`/interview`, buttons, DMs, channel status messages).

pub mod slack;
