//! prequel-web's integration tests: the router driven with `tower::ServiceExt::oneshot`, over a
//! real facade on a temporary SQLite file and a recording provisioner. One module per area.

mod auth;
mod commands;
mod errors;
mod interviews;
mod metrics;
mod openapi;
mod page;
mod sse;
mod support;
mod tokens;
