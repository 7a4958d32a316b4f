//! prequel-bot's integration tests: they run the built `prequel` binary. One module per area;
//! `support` starts servers and speaks raw HTTP to them, for these tests and the end-to-end ones.

mod app;
mod chat_outbound;
mod discord_e2e;
mod discord_fake;
mod discord_inbound;
mod discord_outbound;
mod e2e;
mod endpoint_fuzz;
mod interview;
mod parse;
mod replay;
mod replicas;
mod sandbox;
mod schemathesis;
mod serve;
mod shared_store;
mod slack_e2e;
mod slack_fake;
mod slack_inbound;
mod slack_outbound;
mod status_page;
mod support;
// The AWS backends end to end, against moto (feature `aws`).
#[cfg(feature = "aws")]
pub(crate) mod aws_e2e;
