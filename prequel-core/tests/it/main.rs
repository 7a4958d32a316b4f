//! prequel-core's integration tests: one binary, one module per area.

mod facade;
mod grammar;
mod grammar_fuzz;
mod local_provisioner;
mod local_support;
mod memory_store;
mod review;
mod sandbox;
mod scale;
mod scheduler;
mod store;
// The AWS backends, against moto (feature `aws`; `./scripts/test` builds with every feature).
#[cfg(feature = "aws")]
mod aws_ecs;
#[cfg(feature = "aws")]
mod aws_s3_ssm;
#[cfg(feature = "aws")]
mod aws_store;
