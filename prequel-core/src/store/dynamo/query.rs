//! Reading: one interview's records in one consistent `BatchGetItem`, and index range queries
//! merged into pages.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::DynamoStore;
use super::commit::backoff;
use super::item::{
    Item, interview_key, interview_row, operation_id, operation_key, operation_row, range_position,
    s, string_attr,
};
use super::schema::{
    DynamoError, INTERVIEWS_BY_START_INDEX, INTERVIEWS_DESTROY_INDEX, KEY_MAX, KEY_MIN, MAX_RERUNS,
    OPEN, OPERATIONS_DUE_INDEX, build_error, call_error,
};
use super::tx::{Slot, Tx};
use crate::domain::{InterviewId, OperationKind, OperationStatus};
use crate::store::page::Listing;
use crate::store::{Page, PageRequest, StoreError, StoreResult};

impl DynamoStore {
    // -- reading ------------------------------------------------------------------------------

    pub(super) async fn get_item(&self, table: &str, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| call_error("GetItem", table, err))?;
        Ok(out.item().cloned())
    }

    /// The interview and both its operations, read consistently in one request.
    pub(super) async fn load_bundle(&self, id: &InterviewId) -> StoreResult<Tx> {
        let create_id = operation_id(id, OperationKind::Create)?;
        let destroy_id = operation_id(id, OperationKind::Destroy)?;
        let mut wanted: HashMap<String, KeysAndAttributes> = HashMap::new();
        wanted.insert(
            self.interviews.clone(),
            KeysAndAttributes::builder()
                .keys(interview_key(id))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        wanted.insert(
            self.operations.clone(),
            KeysAndAttributes::builder()
                .keys(operation_key(&create_id))
                .keys(operation_key(&destroy_id))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        let mut found: Vec<(String, Item)> = Vec::new();
        let mut attempt = 0;
        while !wanted.is_empty() {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(wanted))
                .send()
                .await
                .map_err(|err| call_error("BatchGetItem", &self.interviews, err))?;
            for (table, items) in out.responses().into_iter().flatten() {
                for item in items {
                    found.push((table.clone(), item.clone()));
                }
            }
            wanted = out.unprocessed_keys().cloned().unwrap_or_default();
            wanted.retain(|_, keys| !keys.keys().is_empty());
            if !wanted.is_empty() {
                attempt += 1;
                if attempt > MAX_RERUNS {
                    return Err(StoreError::backend(DynamoError::Contention(attempt)));
                }
                backoff(attempt).await;
            }
        }
        let mut tx = Tx::new(id.clone());
        for (table, item) in found {
            if table == self.interviews {
                let row = interview_row(&item)?;
                tx.interview = Slot::loaded(row.rev, row);
            } else {
                let row = operation_row(&item)?;
                let slot = Slot::loaded(row.rev, row);
                match slot.row.as_ref().map(|r| r.op.kind) {
                    Some(OperationKind::Create) => tx.create = slot,
                    Some(OperationKind::Destroy) => tx.destroy = slot,
                    None => {}
                }
            }
        }
        Ok(tx)
    }

    /// Up to `want` items of one index partition with range key in `lo..=hi`, in order.
    pub(super) async fn query_range(
        &self,
        q: &RangeQuery<'_>,
        want: usize,
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        if q.lo > q.hi || want == 0 {
            return Ok(items);
        }
        let mut start: Option<Item> = None;
        loop {
            let limit = i32::try_from((want - items.len()).clamp(1, 1000)).unwrap_or(1000);
            let mut request = self
                .client
                .query()
                .table_name(q.table)
                .index_name(q.index)
                .key_condition_expression("#h = :h AND #r BETWEEN :lo AND :hi")
                .expression_attribute_names("#h", q.hash_attr)
                .expression_attribute_names("#r", q.range_attr)
                .expression_attribute_values(":h", s(q.hash_value))
                .expression_attribute_values(":lo", s(&q.lo))
                .expression_attribute_values(":hi", s(&q.hi))
                .limit(limit)
                .set_exclusive_start_key(start.take());
            if let Some(filter) = q.filter {
                request = request.filter_expression(filter);
                if let Some((name, attr)) = q.filter_name {
                    request = request.expression_attribute_names(name, attr);
                }
            }
            let out = request
                .send()
                .await
                .map_err(|err| call_error("Query", q.table, err))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(key) if items.len() < want => start = Some(key.clone()),
                _ => break,
            }
        }
        items.truncate(want);
        Ok(items)
    }

    /// One page of a listing merged from several index partitions by range key.
    pub(super) async fn merged_page<T>(
        &self,
        listing: Listing,
        queries: Vec<RangeQuery<'_>>,
        page: &PageRequest,
        parse: fn(&Item) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let after = range_position(listing, page.after.as_ref())?;
        let limit = page.effective_limit() as usize;
        let queries: Vec<RangeQuery<'_>> = queries
            .into_iter()
            .map(|mut q| {
                if let Some(after) = &after {
                    // Strictly after the token: `!` sorts below every character of an id.
                    q.lo = format!("{after}{KEY_MIN}");
                }
                q
            })
            .collect();
        let fetched =
            futures::future::try_join_all(queries.iter().map(|q| self.query_range(q, limit + 1)))
                .await?;
        let mut keyed: Vec<(String, Item)> = Vec::new();
        for (q, items) in queries.iter().zip(fetched) {
            for item in items {
                let key = string_attr(&item, q.range_attr)?;
                keyed.push((key, item));
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let next = if keyed.len() > limit {
            keyed.truncate(limit);
            keyed.last().map(|(key, _)| listing.token(key))
        } else {
            None
        };
        let items = keyed
            .iter()
            .map(|(_, item)| parse(item))
            .collect::<StoreResult<Vec<T>>>()?;
        Ok(Page { items, next })
    }

    pub(super) fn due_ops_query(&self, status: OperationStatus, hi: String) -> RangeQuery<'_> {
        RangeQuery {
            table: &self.operations,
            index: OPERATIONS_DUE_INDEX,
            hash_attr: "status",
            hash_value: status.as_str(),
            range_attr: "scheduledAt",
            lo: KEY_MIN.to_owned(),
            hi,
            filter: None,
            filter_name: None,
        }
    }

    pub(super) fn destroy_query(&self, hi: String, unwarned: bool) -> RangeQuery<'_> {
        RangeQuery {
            table: &self.interviews,
            index: INTERVIEWS_DESTROY_INDEX,
            hash_attr: "status",
            hash_value: OPEN,
            range_attr: "autoDestroyAt",
            lo: KEY_MIN.to_owned(),
            hi,
            filter: unwarned.then_some("attribute_not_exists(#w)"),
            filter_name: unwarned.then_some(("#w", "warnedAt")),
        }
    }

    pub(super) fn start_query(&self, status: &'static str) -> RangeQuery<'_> {
        RangeQuery {
            table: &self.interviews,
            index: INTERVIEWS_BY_START_INDEX,
            hash_attr: "status",
            hash_value: status,
            range_attr: "startKey",
            lo: KEY_MIN.to_owned(),
            hi: KEY_MAX.to_owned(),
            filter: None,
            filter_name: None,
        }
    }
}

pub(super) struct RangeQuery<'a> {
    pub(super) table: &'a str,
    pub(super) index: &'static str,
    pub(super) hash_attr: &'static str,
    pub(super) hash_value: &'a str,
    pub(super) range_attr: &'static str,
    pub(super) lo: String,
    pub(super) hi: String,
    pub(super) filter: Option<&'static str>,
    pub(super) filter_name: Option<(&'static str, &'static str)>,
}
