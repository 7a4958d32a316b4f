//! One store several replicas share, for the tests that play two replicas in one process: each
//! [`SharedStore::open`] is a handle of its own, as another process would open it — a second
//! connection to the SQLite file, or a second DynamoDB client on the same tables on moto.

use std::path::PathBuf;
use std::sync::Arc;

use prequel_core::store::OperationStore;
use prequel_core::store::sqlite::SqliteStore;

/// Where the replicas keep their records.
#[derive(Debug, Clone)]
pub(crate) enum SharedStore {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// DynamoDB tables on moto.
    #[cfg(feature = "aws")]
    Dynamo {
        moto: &'static prequel_core::testkit::moto::Moto,
        names: prequel_core::aws::ResourceNames,
    },
}

impl SharedStore {
    /// Fresh tables under a unique prefix on the shared moto, or `None` when moto is missing
    /// outside CI (the test prints `SKIPPED:`; under `CI=true` it fails instead).
    #[cfg(feature = "aws")]
    pub(crate) async fn fresh_dynamo(test: &str) -> Option<Self> {
        use prequel_core::testkit::moto::{moto, unique_name};
        let moto = moto(test)?;
        let names =
            prequel_core::aws::ResourceNames::new(&unique_name("rp"), "it").expect("valid names");
        prequel_core::store::dynamo::create_tables(&moto.clients().await.dynamodb, &names)
            .await
            .expect("tables created");
        Some(Self::Dynamo { moto, names })
    }

    /// A handle of its own on the shared records.
    pub(crate) async fn open(&self) -> Arc<dyn OperationStore> {
        match self {
            Self::Sqlite(path) => Arc::new(SqliteStore::open(path).expect("open the store")),
            #[cfg(feature = "aws")]
            Self::Dynamo { moto, names } => Arc::new(
                prequel_core::store::dynamo::DynamoStore::new(moto.clients().await.dynamodb, names),
            ),
        }
    }
}
