//! One call's view of an interview and its two operations: what the rules read and change
//! ([`Records`]), and the conditional writes that make the change land only on exactly what was
//! read ([`Tx::into_writes`]).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use chrono::{DateTime, Utc};

use super::DynamoStore;
use super::item::{
    Changes, InterviewRow, OpRow, condition_check, interview_item, interview_key, n, operation_id,
    operation_item, operation_key, put,
};
use crate::domain::{Interview, InterviewId, Operation, OperationId, OperationKind};
use crate::store::rules::Records;
use crate::store::{ChangeKind, StoreError, StoreResult};

// ---------------------------------------------------------------------------------------------
// One call's view of an interview and its operations
// ---------------------------------------------------------------------------------------------

/// An item as read (`loaded` = its `rev`, `None` if it did not exist) and as it should be.
#[derive(Debug, Clone)]
pub(super) struct Slot<T> {
    pub(super) loaded: Option<u64>,
    pub(super) row: Option<T>,
    pub(super) dirty: bool,
}

impl<T> Slot<T> {
    pub(super) fn absent() -> Self {
        Self {
            loaded: None,
            row: None,
            dirty: false,
        }
    }

    pub(super) fn loaded(rev: u64, row: T) -> Self {
        Self {
            loaded: Some(rev),
            row: Some(row),
            dirty: false,
        }
    }

    pub(super) fn next_rev(&self) -> u64 {
        self.loaded.map_or(1, |rev| rev + 1)
    }
}

/// The records of one interview as one call sees and changes them, and the changes it makes.
#[derive(Debug)]
pub(super) struct Tx {
    pub(super) id: InterviewId,
    pub(super) interview: Slot<InterviewRow>,
    pub(super) create: Slot<OpRow>,
    pub(super) destroy: Slot<OpRow>,
    pub(super) changes: Changes,
}

impl Tx {
    pub(super) fn new(id: InterviewId) -> Self {
        Self {
            id,
            interview: Slot::absent(),
            create: Slot::absent(),
            destroy: Slot::absent(),
            changes: Vec::new(),
        }
    }

    fn slot(&self, kind: OperationKind) -> &Slot<OpRow> {
        match kind {
            OperationKind::Create => &self.create,
            OperationKind::Destroy => &self.destroy,
        }
    }

    fn slot_mut(&mut self, kind: OperationKind) -> &mut Slot<OpRow> {
        match kind {
            OperationKind::Create => &mut self.create,
            OperationKind::Destroy => &mut self.destroy,
        }
    }

    /// The interview's operation of `kind`, as this call sees it.
    pub(super) fn operation_of_kind(&self, kind: OperationKind) -> Option<Operation> {
        self.slot(kind).row.as_ref().map(|r| r.op.clone())
    }

    /// Whether `id` is this bundle's interview. A rule only ever asks for the interview it was
    /// run on; anything else is outside this call's records and reads as absent.
    fn is_ours(&self, id: &InterviewId) -> bool {
        *id == self.id
    }
}

impl Records for Tx {
    fn interview(&self, id: &InterviewId) -> StoreResult<Option<Interview>> {
        Ok(self
            .interview
            .row
            .as_ref()
            .filter(|_| self.is_ours(id))
            .map(|r| r.interview.clone()))
    }

    fn creating_request(&self, id: &InterviewId) -> StoreResult<Option<String>> {
        Ok(self
            .interview
            .row
            .as_ref()
            .filter(|_| self.is_ours(id))
            .map(|r| r.request.clone()))
    }

    fn operation(&self, id: &OperationId) -> StoreResult<Option<Operation>> {
        Ok([OperationKind::Create, OperationKind::Destroy]
            .into_iter()
            .filter_map(|kind| self.operation_of_kind(kind))
            .find(|op| &op.id == id))
    }

    fn operation_of(
        &self,
        interview: &InterviewId,
        kind: OperationKind,
    ) -> StoreResult<Option<Operation>> {
        Ok(self
            .operation_of_kind(kind)
            .filter(|_| self.is_ours(interview)))
    }

    fn new_operation_id(
        &self,
        interview: &InterviewId,
        kind: OperationKind,
    ) -> StoreResult<OperationId> {
        // Deterministic: the conditional put of `op-c…`/`op-d…` is what keeps one of each kind.
        operation_id(interview, kind)
    }

    fn insert_interview(&mut self, interview: &Interview, request: &str) -> StoreResult<()> {
        self.interview.row = Some(InterviewRow {
            interview: interview.clone(),
            request: request.to_owned(),
            rev: 0,
            notes: AttributeValue::M(HashMap::new()),
        });
        self.interview.dirty = true;
        Ok(())
    }

    fn insert_operation(&mut self, operation: &Operation) -> StoreResult<()> {
        if operation.kind == OperationKind::Destroy {
            // The interview leaves the due-destroy index: its item is written again.
            self.interview.dirty = true;
        }
        let slot = self.slot_mut(operation.kind);
        slot.row = Some(OpRow {
            op: operation.clone(),
            rev: 0,
        });
        slot.dirty = true;
        Ok(())
    }

    fn update_interview(&mut self, interview: &Interview, _read_version: u64) -> StoreResult<()> {
        // The item's `rev`, checked by the transaction, stands for the version.
        let row = self
            .interview
            .row
            .as_mut()
            .filter(|row| row.interview.id == interview.id)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("interview {}", interview.id),
            })?;
        row.interview = interview.clone();
        self.interview.dirty = true;
        Ok(())
    }

    fn update_operation(&mut self, operation: &Operation, _read_version: u64) -> StoreResult<()> {
        let slot = self.slot_mut(operation.kind);
        let row = slot
            .row
            .as_mut()
            .filter(|row| row.op.id == operation.id)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("operation {}", operation.id),
            })?;
        row.op = operation.clone();
        slot.dirty = true;
        Ok(())
    }

    fn record_change(&mut self, at: DateTime<Utc>, kind: ChangeKind) -> StoreResult<()> {
        self.changes.push((at, kind));
        Ok(())
    }
}

impl Tx {
    /// The transaction items: a conditional put of every changed item and a condition check of
    /// every other item read, so the write lands only on exactly what was decided on. The
    /// interview item is always among them (written or checked).
    pub(super) fn into_writes(
        self,
        store: &DynamoStore,
    ) -> StoreResult<(Vec<TransactWriteItem>, Changes)> {
        let any_dirty = self.interview.dirty || self.create.dirty || self.destroy.dirty;
        if !any_dirty {
            return Ok((Vec::new(), self.changes));
        }
        let mut items = Vec::with_capacity(3);
        let condition = |loaded: Option<u64>| match loaded {
            Some(_) => "rev = :rev",
            None => "attribute_not_exists(pk)",
        };
        let has_destroy = self.destroy.row.is_some();
        match (&self.interview.row, self.interview.dirty) {
            (Some(row), true) => items.push(put(
                &store.interviews,
                interview_item(row, self.interview.next_rev(), has_destroy)?,
                Some(condition(self.interview.loaded)),
                self.interview.loaded.map(|rev| (":rev", n(rev))),
            )?),
            _ => items.push(condition_check(
                &store.interviews,
                interview_key(&self.id),
                self.interview.loaded,
            )?),
        }
        for kind in [OperationKind::Create, OperationKind::Destroy] {
            let slot = self.slot(kind);
            match (&slot.row, slot.dirty) {
                (Some(row), true) => items.push(put(
                    &store.operations,
                    operation_item(&row.op, slot.next_rev())?,
                    Some(condition(slot.loaded)),
                    slot.loaded.map(|rev| (":rev", n(rev))),
                )?),
                (Some(_), false) => items.push(condition_check(
                    &store.operations,
                    operation_key(&operation_id(&self.id, kind)?),
                    slot.loaded,
                )?),
                // An operation that did not exist needs no check: an operation is only ever
                // inserted together with a write of its interview item, whose `rev` this
                // transaction checks (or writes) anyway.
                (None, _) => {}
            }
        }
        Ok((items, self.changes))
    }
}
