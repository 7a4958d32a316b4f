//! The in-memory store: the shared conformance suite, with peers as clones of one handle (the
//! memory store is shared by the handles of one process, as a file is by processes).

use std::sync::Arc;

use async_trait::async_trait;
use prequel_core::store::OperationStore;
use prequel_core::store::memory::MemoryStore;
use prequel_core::testkit::store_conformance::{StoreFixture, StoreHarness};

struct MemoryHarness;

struct MemoryFixture {
    store: MemoryStore,
}

#[async_trait]
impl StoreHarness for MemoryHarness {
    async fn open(&self) -> Box<dyn StoreFixture> {
        Box::new(MemoryFixture {
            store: MemoryStore::new(),
        })
    }
}

#[async_trait]
impl StoreFixture for MemoryFixture {
    fn store(&self) -> Arc<dyn OperationStore> {
        Arc::new(self.store.clone())
    }

    async fn peer(&self) -> Arc<dyn OperationStore> {
        Arc::new(self.store.clone())
    }
}

mod conformance {
    use super::MemoryHarness;

    prequel_core::store_conformance_tests!(MemoryHarness);
}

#[tokio::test]
async fn two_new_stores_share_nothing() {
    let (one, two) = (MemoryStore::new(), MemoryStore::new());
    let cursor = prequel_core::store::ChangeCursor::default();
    one.put_user_setting(
        prequel_core::domain::Platform::Slack,
        "U1",
        "tz",
        "Europe/Paris",
        chrono::Utc::now(),
    )
    .await
    .expect("setting written");
    assert_eq!(
        two.user_setting(prequel_core::domain::Platform::Slack, "U1", "tz")
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        one.user_setting(prequel_core::domain::Platform::Slack, "U1", "tz")
            .await
            .expect("read")
            .as_deref(),
        Some("Europe/Paris")
    );
    assert!(
        two.changes_since(cursor, 10)
            .await
            .expect("feed")
            .changes
            .is_empty()
    );
}
