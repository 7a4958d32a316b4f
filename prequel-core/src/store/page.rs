//! Page tokens, shared by the backends: which listing a token belongs to, and where it points.
//!
//! A token is `{listing tag}~{position}`. The position is the backend's own (a keyset `(key, id)`
//! in SQLite and memory, an index range key in DynamoDB), but every backend checks the tag
//! first, so a token is never silently applied to another listing, and checks the position's
//! shape before it reaches a query.

use super::{PageToken, StoreError, StoreResult};
use crate::domain::{InterviewId, OperationId};

/// Which listing a page token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    OpenInterviews,
    AllInterviews,
    DueOperations,
    DueDestroys,
    DueWarnings,
    Logs,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Self::OpenInterviews => "io",
            Self::AllInterviews => "ia",
            Self::DueOperations => "od",
            Self::DueDestroys => "dd",
            Self::DueWarnings => "dw",
            Self::Logs => "lg",
        }
    }

    /// The token for a page that starts after `position`.
    pub(crate) fn token(self, position: &str) -> PageToken {
        PageToken(format!("{}~{position}", self.tag()))
    }

    /// The position a page starts after: `None` for the first page, and
    /// [`StoreError::InvalidPageToken`] for a token of another listing.
    pub(crate) fn position(self, after: Option<&PageToken>) -> StoreResult<Option<&str>> {
        let Some(PageToken(token)) = after else {
            return Ok(None);
        };
        match token.split_once('~') {
            Some((tag, position)) if tag == self.tag() => Ok(Some(position)),
            _ => Err(StoreError::InvalidPageToken),
        }
    }

    /// Whether `id` is a well-formed id of this listing's items (logs have none).
    pub(crate) fn valid_id(self, id: &str) -> bool {
        match self {
            Self::Logs => id.is_empty(),
            Self::DueOperations => OperationId::parse(id).is_ok(),
            _ => InterviewId::parse(id).is_ok_and(|parsed| parsed.as_str() == id),
        }
    }

    /// The token after an item with sort key `key` and tie-breaker `id` (keyset pagination).
    pub(crate) fn keyset_token(self, key: i64, id: &str) -> PageToken {
        self.token(&format!("{key}~{id}"))
    }

    /// The keyset position a page starts after: before everything for the first page.
    pub(crate) fn keyset(self, after: Option<&PageToken>) -> StoreResult<(i64, String)> {
        let Some(position) = self.position(after)? else {
            return Ok((i64::MIN, String::new()));
        };
        let (key, id) = position
            .split_once('~')
            .ok_or(StoreError::InvalidPageToken)?;
        let key: i64 = key.parse().map_err(|_| StoreError::InvalidPageToken)?;
        if !self.valid_id(id) {
            return Err(StoreError::InvalidPageToken);
        }
        Ok((key, id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_of_one_listing_are_refused_by_another() {
        let token = Listing::OpenInterviews.keyset_token(5, "abcd2345");
        assert_eq!(
            Listing::OpenInterviews.keyset(Some(&token)).ok(),
            Some((5, "abcd2345".to_owned()))
        );
        for listing in [
            Listing::AllInterviews,
            Listing::DueOperations,
            Listing::Logs,
        ] {
            assert!(matches!(
                listing.keyset(Some(&token)),
                Err(StoreError::InvalidPageToken)
            ));
        }
        for garbage in ["", "io", "io~x~abcd2345", "io~5~", "io~5~AB/CD", "lg~5~x"] {
            let garbage = PageToken(garbage.to_owned());
            assert!(
                matches!(
                    Listing::OpenInterviews.keyset(Some(&garbage)),
                    Err(StoreError::InvalidPageToken)
                ) && matches!(
                    Listing::Logs.keyset(Some(&garbage)),
                    Err(StoreError::InvalidPageToken)
                ),
                "{garbage:?} accepted"
            );
        }
    }

    #[test]
    fn malformed_positions_are_refused_before_any_query() {
        for bad in [
            "dd",
            "dd~",
            "dd~12",
            "dd~x~abc",
            "dd~12~not an id",
            "xx~12~abc",
        ] {
            assert!(
                matches!(
                    Listing::DueDestroys.keyset(Some(&PageToken(bad.into()))),
                    Err(StoreError::InvalidPageToken)
                ),
                "{bad:?} was accepted"
            );
        }
    }
}
