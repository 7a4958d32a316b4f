//! prequel-core's integration tests: one binary, one module per area.

mod facade;
mod grammar;
mod local_provisioner;
mod scheduler;
mod store;
