//! # prequel-web
//!
//! Prequel's HTTP surface. Issue 3 adds the JSON API (`POST /api/commands`, `GET /api/interviews`)
//! and issue 4 the server-sent events stream and the status page; until then this crate only
//! reserves its place in the workspace.
