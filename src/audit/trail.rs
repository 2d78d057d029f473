//! What the audit trail does over the store: list a user's events (newest first, AIP-158
//! pages), export events for operators (oldest first), and record an event after its change.
//!
//! Where an event is written: in the transaction of its change when the change already is one
//! (sign-out, revoked session, refresh-token reuse, tier change), so the event exists exactly
//! when the change committed. Otherwise (sign-up, sign-in and its failures, API-key changes, key
//! rotation) right after the change, with [`record_after`]: the change has happened and its
//! answer may hold something shown only once (tokens, a new key), so a failed audit write is
//! logged and never turns that answer into an error.

use sea_orm::DatabaseConnection;

use crate::{
    domain::{
        audit::{AuditEvent, PageError, PageToken, page_size},
        clock::SharedClock,
    },
    store::{
        StoreError,
        audit::{self as store, EventRow, ExportFilter},
        users,
    },
};

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Page(#[from] PageError),
    #[error("no user with email {0}")]
    UnknownUser(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One page of a user's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    pub events: Vec<EventRow>,
    /// Empty on the last page.
    pub next_page_token: String,
}

pub struct AuditTrail {
    db: DatabaseConnection,
}

impl AuditTrail {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The user's events, newest first. Every page is filtered by `user_id`, so no token can
    /// reach another user's events.
    pub async fn list(
        &self,
        user_id: &str,
        requested_size: i32,
        page_token: &str,
    ) -> Result<EventPage, AuditError> {
        let size = page_size(requested_size)?;
        let from = PageToken::parse(page_token)?;
        // One more than the page: whether it comes back says whether there is a next page,
        // so the last page never ends with a token that leads to an empty one.
        let mut events =
            store::page_of_user(&self.db, user_id, from.map(|t| t.before_id), size + 1).await?;
        let more = events.len() > size as usize;
        events.truncate(size as usize);
        let next_page_token = match events.last() {
            Some(last) if more => PageToken { before_id: last.id }.encode(),
            _ => String::new(),
        };
        Ok(EventPage {
            events,
            next_page_token,
        })
    }
}

/// An operator's export: the events of one user (by email) or of all, at or after a time,
/// oldest first, read in batches.
pub struct Export {
    db: DatabaseConnection,
    filter: ExportFilter,
    after_id: i64,
}

/// Events read from the database at a time by an export.
const EXPORT_BATCH: u32 = 500;

impl Export {
    pub async fn new(
        db: DatabaseConnection,
        email: Option<&str>,
        since: Option<i64>,
    ) -> Result<Self, AuditError> {
        let user_id = match email {
            Some(email) => Some(
                users::find_by_email(&db, email)
                    .await?
                    .ok_or_else(|| AuditError::UnknownUser(email.to_owned()))?
                    .id,
            ),
            None => None,
        };
        Ok(Self {
            db,
            filter: ExportFilter { user_id, since },
            after_id: 0,
        })
    }

    /// The next batch of events; empty when the export is done.
    pub async fn next_batch(&mut self) -> Result<Vec<EventRow>, AuditError> {
        let batch =
            store::export_batch(&self.db, &self.filter, self.after_id, EXPORT_BATCH).await?;
        if let Some(last) = batch.last() {
            self.after_id = last.id;
        }
        Ok(batch)
    }
}

/// Records `event` after the change it describes has committed, at the clock's time. Best
/// effort (see the module comment): a failure is logged, not returned.
pub async fn record_after(db: &DatabaseConnection, clock: &SharedClock, event: AuditEvent) {
    let at = clock.now().timestamp();
    if let Err(err) = store::record(db, &event, at).await {
        tracing::warn!(
            error = %err,
            event_type = event.event_type.as_str(),
            "could not record an audit event"
        );
    }
}
