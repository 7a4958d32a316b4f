//! `note` and `score`, and reading an interview's review: the facade's side of
//! [`crate::review`]. The ownership check has run before these (in `execute`, or here for
//! [`Prequel::review`]).

use super::{Outcome, Prequel, PrequelError};
use crate::access::Actor;
use crate::domain::{InterviewId, Requester};
use crate::review::{self, MAX_NOTES, Report, Review, ReviewNote, Score, Verdict};

/// How long the report's download link works.
const REPORT_LINK_VALID: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl Prequel {
    /// Adds `by`'s note to an interview (any state: notes are mostly written afterwards).
    pub(super) async fn note(
        &self,
        by: &Requester,
        id: &InterviewId,
        text: String,
    ) -> Result<Outcome, PrequelError> {
        let store = &self.inner.store;
        let records = store.notes(id).await?;
        if review::count_notes(records.keys()) >= MAX_NOTES {
            return Err(PrequelError::Refused(format!(
                "interview `{id}` has {MAX_NOTES} notes already, the most it keeps"
            )));
        }
        let now = self.now();
        let note = ReviewNote {
            at: now,
            by: by.clone(),
            text,
        };
        let value = serde_json::to_string(&note)
            .map_err(|e| PrequelError::Refused(format!("the note cannot be kept: {e}")))?;
        // The key is unique (time and a random suffix): a clash would be a second note of the
        // same millisecond and suffix, refused rather than written over.
        if !store
            .put_note(id, &review::note_key(now), &value, true, now)
            .await?
        {
            return Err(PrequelError::Refused(
                "two notes at the same moment; please send yours again".to_owned(),
            ));
        }
        tracing::info!(interview = %id, "review note added");
        Ok(Outcome::Noted {
            interview: self.get(id).await?,
            note,
        })
    }

    /// Records `by`'s score of an interview, replacing theirs.
    pub(super) async fn score(
        &self,
        by: &Requester,
        id: &InterviewId,
        verdict: Verdict,
        comment: Option<String>,
    ) -> Result<Outcome, PrequelError> {
        let now = self.now();
        let score = Score {
            at: now,
            by: by.clone(),
            verdict,
            comment,
        };
        let value = serde_json::to_string(&score)
            .map_err(|e| PrequelError::Refused(format!("the score cannot be kept: {e}")))?;
        self.inner
            .store
            .put_note(id, &review::score_key(by), &value, false, now)
            .await?;
        tracing::info!(interview = %id, "score recorded");
        Ok(Outcome::Scored {
            interview: self.get(id).await?,
            score,
        })
    }

    /// The report of an interview (the ownership check has run). The archive link is best
    /// effort: an unreachable archive backend leaves it out rather than failing the report.
    pub(super) async fn report(&self, id: &InterviewId) -> Result<Report, PrequelError> {
        let interview = self.get(id).await?;
        let operations = self.inner.store.operations_for(id).await?;
        let review = review::from_records(&self.inner.store.notes(id).await?);
        let archive_link = match interview.archive {
            Some(_) => self
                .archive_link(id, REPORT_LINK_VALID)
                .await
                .unwrap_or_else(|error| {
                    tracing::warn!(interview = %id, %error, "no archive link for the report");
                    None
                }),
            None => None,
        };
        Ok(Report {
            interview,
            operations,
            review,
            archive_link,
        })
    }

    /// An interview's notes and scores, for someone who may act on it ([`PrequelError::Forbidden`]
    /// for anyone else).
    pub async fn review(&self, actor: &Actor, id: &InterviewId) -> Result<Review, PrequelError> {
        self.check_may_act(actor, id, "read the notes of").await?;
        Ok(review::from_records(&self.inner.store.notes(id).await?))
    }
}
