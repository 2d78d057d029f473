//! `cloudsigma.v1.AuditService`: the caller's own audit events.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{errors::principal, timestamp};
use crate::{
    audit::AuditTrail,
    proto::cloudsigma::v1::{
        AuditEvent, ListAuditEventsRequest, ListAuditEventsResponse, audit_service_server,
    },
    store::audit::EventRow,
};

pub struct AuditApi {
    trail: Arc<AuditTrail>,
}

impl AuditApi {
    pub fn new(trail: Arc<AuditTrail>) -> Self {
        Self { trail }
    }
}

impl From<EventRow> for AuditEvent {
    fn from(row: EventRow) -> Self {
        Self {
            id: row.id,
            time: Some(timestamp(row.at)),
            r#type: row.event_type,
            key_prefix: row.key_prefix.unwrap_or_default(),
            client_address: row.client_address.unwrap_or_default(),
            user_agent: row.user_agent.unwrap_or_default(),
            request_id: row.request_id.unwrap_or_default(),
            detail: row.detail.unwrap_or_default(),
        }
    }
}

#[tonic::async_trait]
impl audit_service_server::AuditService for AuditApi {
    async fn list_audit_events(
        &self,
        request: Request<ListAuditEventsRequest>,
    ) -> Result<Response<ListAuditEventsResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.get_ref();
        let page = self
            .trail
            .list(&caller.user_id, body.page_size, &body.page_token)
            .await?;
        Ok(Response::new(ListAuditEventsResponse {
            events: page.events.into_iter().map(AuditEvent::from).collect(),
            next_page_token: page.next_page_token,
        }))
    }
}
