//! Test support shared by every backend and by downstream crates' tests (behind the `testkit`
//! feature): the conformance suites each backend must pass and small helpers.

pub mod engine;
#[cfg(feature = "aws")]
pub mod moto;
pub mod provisioner;
pub mod provisioner_conformance;
pub mod sandbox;
pub mod store_conformance;
