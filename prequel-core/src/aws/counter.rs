//! Counting the requests the AWS backends send, by service and operation: an SDK interceptor
//! that sees every attempt on the wire (retries included), for the benchmark's "requests per
//! interview lifecycle" and for tests that hold a backend to a request budget.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// How many requests went to one operation of one service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestCount {
    /// The service, as the SDK names it (`DynamoDB`, `S3`, `ECS`, …).
    pub service: String,
    /// The operation (`PutItem`, `RunTask`, …).
    pub operation: String,
    /// Requests sent, retries included.
    pub count: u64,
}

/// Counts requests; clones share the counts. Attach with [`AwsClients::from_config`](super::AwsClients::from_config).
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<(String, String), u64>>>,
}

impl RequestCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every (service, operation) seen so far, sorted.
    pub fn snapshot(&self) -> Vec<RequestCount> {
        self.lock()
            .iter()
            .map(|((service, operation), count)| RequestCount {
                service: service.clone(),
                operation: operation.clone(),
                count: *count,
            })
            .collect()
    }

    /// Requests sent to `service` so far.
    pub fn total_for(&self, service: &str) -> u64 {
        self.lock()
            .iter()
            .filter(|((s, _), _)| s == service)
            .map(|(_, count)| count)
            .sum()
    }

    /// Back to zero.
    pub fn reset(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), u64>> {
        // A poisoned counter still counts: the map is never left half-updated.
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "PrequelRequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(meta) => (meta.service().to_owned(), meta.name().to_owned()),
            None => ("unknown".to_owned(), "unknown".to_owned()),
        };
        *self.lock().entry((service, operation)).or_default() += 1;
        Ok(())
    }
}
