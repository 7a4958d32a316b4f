//! The tables: their names' parts, indexes and TTL ([`create_tables`] makes them for tests; `infra/`
//! for real), the limits the store works within, and the errors a call can end in.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
};
use chrono::Duration;

use crate::aws::ResourceNames;
use crate::store::{StoreError, StoreResult};

/// The index of due operations and lease expiries on the operations table.
pub const OPERATIONS_DUE_INDEX: &str = "status-scheduledAt-index";
/// The index of an interview's operations on the operations table.
pub const OPERATIONS_BY_INTERVIEW_INDEX: &str = "interviewId-type-index";
/// The index of due destroys and warnings on the interviews table.
pub const INTERVIEWS_DESTROY_INDEX: &str = "status-autoDestroyAt-index";
/// The index of interviews by start time on the interviews table.
pub const INTERVIEWS_BY_START_INDEX: &str = "status-startKey-index";
/// The TTL attribute of both tables (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// How many times one call reads, decides and writes again when the records it read changed
/// under it (or the transaction met another one) before giving up with a backend error.
pub const MAX_RERUNS: u32 = 60;

/// How long a write keeps racing other replicas for the feed head (and at least
/// [`MAX_RERUNS`] times) before it gives up. Every write of every replica moves that one item,
/// so in a burst a write can lose many rounds in a row; each lost round costs a round trip, so a
/// count alone gives up sooner the faster the burst comes. Three replicas provisioning a few
/// hundred interviews at once against moto lost 60 rounds in 6 s; a caller would rather wait.
pub const HEAD_RACE_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// How long past the retention a log batch is kept (see the module docs).
pub const LOG_GRACE: Duration = Duration::days(365);

/// The most changes one [`OperationStore::changes_since`] call returns.
pub(super) const MAX_CHANGES_PER_BATCH: u32 = 1000;

/// Log lines per item are cut so that an item stays well under DynamoDB's 400 KB.
pub(super) const LOG_CHUNK_BYTES: usize = 300_000;

pub(super) const INTERVIEW_SK: &str = "interview";
pub(super) const OPERATION_SK: &str = "operation";
pub(super) const FEED_PK: &str = "feed";
pub(super) const HEAD_SK: &str = "head";
pub(super) const OPEN: &str = "open";
pub(super) const CLOSED: &str = "closed";
/// Above every range key we write (`{digits}#{id}`; ids use `[a-z0-9-]`).
pub(super) const KEY_MAX: &str = "~";
/// Below every range key we write.
pub(super) const KEY_MIN: &str = "!";

/// Why a DynamoDB call failed, in words an operator can act on (inside [`StoreError::Backend`]).
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    /// A table is missing.
    #[error(
        "DynamoDB table {table} does not exist (create it with infra/ or prequel_core::store::dynamo::create_tables)"
    )]
    MissingTable {
        /// The table.
        table: String,
    },
    /// A table lacks one of the indexes the store queries.
    #[error("DynamoDB table {table} lacks index {index} (apply infra/ to add it)")]
    MissingIndex {
        /// The table.
        table: String,
        /// The missing index.
        index: String,
    },
    /// A table has no TTL on `expiresAt`, so terminal records would never be deleted.
    #[error("DynamoDB table {table} has no TTL on attribute {TTL_ATTRIBUTE} (apply infra/)")]
    MissingTtl {
        /// The table.
        table: String,
    },
    /// The credentials may not do this.
    #[error("access denied: {action} on DynamoDB table {table} ({message})")]
    AccessDenied {
        /// The API action.
        action: &'static str,
        /// The table.
        table: String,
        /// What AWS said.
        message: String,
    },
    /// Any other failed call.
    #[error("DynamoDB {action} on table {table} failed: {message}")]
    Call {
        /// The API action.
        action: &'static str,
        /// The table.
        table: String,
        /// What AWS said.
        message: String,
    },
    /// A write kept meeting concurrent writes.
    #[error("DynamoDB write kept conflicting with concurrent writes after {0} attempts")]
    Contention(u32),
}

pub(super) fn call_error<E>(action: &'static str, table: &str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let message = DisplayErrorContext(&err).to_string();
    let table = table.to_owned();
    StoreError::backend(match code.as_deref() {
        Some("ResourceNotFoundException") => DynamoError::MissingTable { table },
        Some("AccessDeniedException") | Some("UnrecognizedClientException") => {
            DynamoError::AccessDenied {
                action,
                table,
                message,
            }
        }
        _ => DynamoError::Call {
            action,
            table,
            message,
        },
    })
}

pub(super) fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::backend(err)
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// Creates both tables with their indexes and TTL (`PAY_PER_REQUEST`), for tests and small
/// setups; production tables come from `infra/`. Idempotent: an existing table is left as it is
/// (and only its TTL is switched on if it is off). Waits until both tables are active.
pub async fn create_tables(client: &Client, names: &ResourceNames) -> Result<(), StoreError> {
    let tables = [
        (
            names.operations_table(),
            vec![
                (OPERATIONS_DUE_INDEX, "status", "scheduledAt"),
                (OPERATIONS_BY_INTERVIEW_INDEX, "interviewId", "type"),
            ],
        ),
        (
            names.interviews_table(),
            vec![
                (INTERVIEWS_DESTROY_INDEX, "status", "autoDestroyAt"),
                (INTERVIEWS_BY_START_INDEX, "status", "startKey"),
            ],
        ),
    ];
    for (table, indexes) in &tables {
        let mut attributes = vec!["pk", "sk"];
        for (_, hash, range) in indexes {
            for name in [*hash, *range] {
                if !attributes.contains(&name) {
                    attributes.push(name);
                }
            }
        }
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_element("pk", KeyType::Hash)?)
            .key_schema(key_element("sk", KeyType::Range)?);
        for name in attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error)?,
            );
        }
        for (index, hash, range) in indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(key_element(hash, KeyType::Hash)?)
                    .key_schema(key_element(range, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        match request.send().await {
            Ok(_) => {}
            Err(err) if err.code() == Some("ResourceInUseException") => {}
            Err(err) => return Err(call_error("CreateTable", table, err)),
        }
    }
    for (table, _) in &tables {
        wait_until_active(client, table).await?;
        let ttl = client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(|err| call_error("DescribeTimeToLive", table, err))?;
        let enabled = ttl.time_to_live_description().is_some_and(|d| {
            d.attribute_name() == Some(TTL_ATTRIBUTE)
                && d.time_to_live_status()
                    .is_some_and(|s| s.as_str() != "DISABLED")
        });
        if !enabled {
            client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(TTL_ATTRIBUTE)
                        .enabled(true)
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await
                .map_err(|err| call_error("UpdateTimeToLive", table, err))?;
        }
    }
    Ok(())
}

pub(super) fn key_element(name: &str, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

pub(super) async fn wait_until_active(client: &Client, table: &str) -> StoreResult<()> {
    for _ in 0..300 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|err| call_error("DescribeTable", table, err))?;
        let active = described.table().is_some_and(|t| {
            t.table_status() == Some(&TableStatus::Active)
                && t.global_secondary_indexes()
                    .iter()
                    .all(|index| index.index_status().is_none_or(|s| s.as_str() == "ACTIVE"))
        });
        if active {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Err(StoreError::backend(DynamoError::Call {
        action: "DescribeTable",
        table: table.to_owned(),
        message: "the table did not become active within 5 minutes".into(),
    }))
}
