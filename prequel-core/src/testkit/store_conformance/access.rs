//! Cases for the records that guard access: once-keys and personal API tokens.

use futures::StreamExt;

use super::{StoreHarness, T0, at};
use crate::store::{ApiToken, StoreError};

/// Of many concurrent claims of one key on two handles, exactly one wins; the key stays taken
/// until it expires and can be claimed again after; other keys are independent; purging after
/// expiry leaves the key claimable.
pub async fn once_keys_have_one_winner_across_handles_until_they_expire(
    harness: &dyn StoreHarness,
) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;
    let until = at(5);
    let claims = futures::stream::iter(0..16)
        .map(|i| {
            let handle = if i % 2 == 0 {
                store.clone()
            } else {
                peer.clone()
            };
            async move {
                handle
                    .claim_once("slack:v0=abc", until, T0)
                    .await
                    .expect("claim")
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<bool>>()
        .await;
    assert_eq!(
        claims.iter().filter(|won| **won).count(),
        1,
        "exactly one of 16 concurrent claims wins: {claims:?}"
    );
    assert!(
        !peer
            .claim_once("slack:v0=abc", until, at(4))
            .await
            .expect("claim"),
        "a replay before expiry is refused on every handle"
    );
    assert!(
        store
            .claim_once("discord:1234", until, at(4))
            .await
            .expect("claim"),
        "another key is its own"
    );
    store.purge_expired(at(3)).await.expect("purge");
    assert!(
        !store
            .claim_once("slack:v0=abc", at(10), at(4))
            .await
            .expect("claim"),
        "a purge before expiry keeps the claim"
    );
    assert!(
        peer.claim_once("slack:v0=abc", at(10), until)
            .await
            .expect("claim"),
        "an expired claim can be claimed again"
    );
    store.purge_expired(at(11)).await.expect("purge");
    assert!(
        store
            .claim_once("slack:v0=abc", at(20), at(11))
            .await
            .expect("claim"),
        "a purged key can be claimed again"
    );
}

fn token(id: &str, user: &str, created_minutes: i64) -> ApiToken {
    ApiToken {
        id: id.to_owned(),
        user: user.to_owned(),
        secret_hash: format!("{:0>64}", id),
        created_at: at(created_minutes),
        created_by: "admin".to_owned(),
        last_used_at: None,
        revoked_at: None,
    }
}

/// Tokens round-trip every field, ids are unique, listing is oldest first and includes revoked
/// ones, touching records the last use, revoking is once and keeps its first time.
pub async fn api_tokens_are_kept_listed_touched_and_revoked(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;
    assert!(store.api_tokens().await.expect("list").is_empty());
    let bob = token("bbbbbbbbbbbb", "bob", 2);
    let ada = token("aaaaaaaaaaaa", "ada", 1);
    store.insert_api_token(&bob).await.expect("insert bob");
    store.insert_api_token(&ada).await.expect("insert ada");
    let clash = token("bbbbbbbbbbbb", "mallory", 3);
    assert!(
        matches!(
            peer.insert_api_token(&clash).await,
            Err(StoreError::Conflict(_))
        ),
        "an id is never reused"
    );
    assert_eq!(
        peer.api_token("bbbbbbbbbbbb").await.expect("read"),
        Some(bob.clone()),
        "every field round-trips, and the clash changed nothing"
    );
    assert_eq!(peer.api_token("cccccccccccc").await.expect("read"), None);
    assert_eq!(
        peer.api_tokens().await.expect("list"),
        vec![ada.clone(), bob.clone()],
        "oldest first"
    );

    store
        .touch_api_token("aaaaaaaaaaaa", at(10))
        .await
        .expect("touch");
    store
        .touch_api_token("cccccccccccc", at(10))
        .await
        .expect("touching an unknown token is no error");
    let revoked = peer
        .revoke_api_token("aaaaaaaaaaaa", at(11))
        .await
        .expect("revoke")
        .expect("known token");
    assert_eq!(revoked.revoked_at, Some(at(11)));
    assert_eq!(revoked.last_used_at, Some(at(10)));
    let again = store
        .revoke_api_token("aaaaaaaaaaaa", at(20))
        .await
        .expect("revoke again")
        .expect("known token");
    assert_eq!(
        again.revoked_at,
        Some(at(11)),
        "the first revocation stands"
    );
    assert_eq!(
        store
            .revoke_api_token("cccccccccccc", at(20))
            .await
            .expect("revoke unknown"),
        None
    );
    let listed = store.api_tokens().await.expect("list");
    assert_eq!(listed.len(), 2, "revoked tokens are still listed");
    assert_eq!(listed[0].revoked_at, Some(at(11)));
    assert_eq!(listed[1].revoked_at, None);
}
