//! The records that guard access rather than describe interviews: once-keys (a chat request
//! accepted once across replicas) and personal API tokens. Both live in the interviews table:
//!
//! | item | `pk` | `sk` | attributes |
//! |------|------|------|------------|
//! | a claimed once-key | `once#{key}` | `once` | `until` (Number, ms), `expiresAt` (TTL) |
//! | an API token | `tokens` | `token#{id}` | `user`, `secretHash`, `createdAt`, `createdBy`, `lastUsedAt`, `revokedAt` (times: Number, ms) |
//!
//! Tokens share one partition so that listing them is one `Query`; a team has a handful.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::item::{Item, key, n, number_attr, s, string_attr};
use super::schema::{TTL_ATTRIBUTE, call_error};
use crate::store::{ApiToken, StoreError, StoreResult};

const TOKENS_PK: &str = "tokens";

fn once_key(key_text: &str) -> Item {
    key(&format!("once#{key_text}"), "once")
}

fn token_key(id: &str) -> Item {
    key(TOKENS_PK, &format!("token#{id}"))
}

fn time(item: &Item, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
    if !item.contains_key(name) {
        return Ok(None);
    }
    let millis = number_attr(item, name)?;
    i64::try_from(millis)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt(format!("{name} {millis} is not a time")))
}

fn token_from_item(item: &Item) -> StoreResult<ApiToken> {
    let sk = string_attr(item, "sk")?;
    let id = sk
        .strip_prefix("token#")
        .ok_or_else(|| StoreError::Corrupt(format!("{sk} is not a token item")))?;
    Ok(ApiToken {
        id: id.to_owned(),
        user: string_attr(item, "user")?,
        secret_hash: string_attr(item, "secretHash")?,
        created_at: time(item, "createdAt")?
            .ok_or_else(|| StoreError::Corrupt(format!("token {id} has no createdAt")))?,
        created_by: string_attr(item, "createdBy")?,
        last_used_at: time(item, "lastUsedAt")?,
        revoked_at: time(item, "revokedAt")?,
    })
}

impl DynamoStore {
    pub(super) async fn put_once(
        &self,
        key_text: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut item = once_key(key_text);
        item.insert("until".into(), n(expires_at.timestamp_millis()));
        // TTL is in seconds and may run days late; `until` is what the condition reads.
        item.insert(TTL_ATTRIBUTE.into(), n(expires_at.timestamp() + 1));
        let sent = self
            .client
            .put_item()
            .table_name(&self.interviews)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #u <= :now")
            .expression_attribute_names("#u", "until")
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(err) => Err(call_error("PutItem", &self.interviews, err)),
        }
    }

    pub(super) async fn put_token(&self, token: &ApiToken) -> StoreResult<()> {
        let mut item = token_key(&token.id);
        item.insert("user".into(), s(&token.user));
        item.insert("secretHash".into(), s(&token.secret_hash));
        item.insert("createdAt".into(), n(token.created_at.timestamp_millis()));
        item.insert("createdBy".into(), s(&token.created_by));
        if let Some(at) = token.last_used_at {
            item.insert("lastUsedAt".into(), n(at.timestamp_millis()));
        }
        if let Some(at) = token.revoked_at {
            item.insert("revokedAt".into(), n(at.timestamp_millis()));
        }
        let sent = self
            .client
            .put_item()
            .table_name(&self.interviews)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Err(StoreError::Conflict(format!(
                    "an API token with id {} exists",
                    token.id
                )))
            }
            Err(err) => Err(call_error("PutItem", &self.interviews, err)),
        }
    }

    pub(super) async fn get_token(&self, id: &str) -> StoreResult<Option<ApiToken>> {
        self.get_item(&self.interviews, token_key(id))
            .await?
            .map(|item| token_from_item(&item))
            .transpose()
    }

    pub(super) async fn all_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let mut tokens = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.interviews)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(TOKENS_PK))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| call_error("Query", &self.interviews, err))?;
            for item in out.items() {
                tokens.push(token_from_item(item)?);
            }
            match out.last_evaluated_key() {
                Some(key) => start = Some(key.clone()),
                None => break,
            }
        }
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    /// Sets `attribute` to `now` on an existing token (`only_once`: unless already set), and
    /// answers the token as it is after, or `None` when there is no such token.
    pub(super) async fn stamp_token(
        &self,
        id: &str,
        attribute: &str,
        only_once: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ApiToken>> {
        let update = if only_once {
            "SET #a = if_not_exists(#a, :now)"
        } else {
            "SET #a = :now"
        };
        let sent = self
            .client
            .update_item()
            .table_name(&self.interviews)
            .set_key(Some(token_key(id)))
            .update_expression(update)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":now", n(now.timestamp_millis()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match sent {
            Ok(out) => out.attributes().map(token_from_item).transpose(),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(None)
            }
            Err(err) => Err(call_error("UpdateItem", &self.interviews, err)),
        }
    }
}
