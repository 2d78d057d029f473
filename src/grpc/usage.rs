//! `cloudsigma.v1.UsageService`.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{errors::principal, timestamp};
use crate::{
    proto::cloudsigma::v1::{
        GetUsageRequest, GetUsageResponse, RecordUsageRequest, RecordUsageResponse,
        usage_service_server,
    },
    quota::Usage,
};

pub struct UsageApi {
    usage: Arc<Usage>,
}

impl UsageApi {
    pub fn new(usage: Arc<Usage>) -> Self {
        Self { usage }
    }
}

#[tonic::async_trait]
impl usage_service_server::UsageService for UsageApi {
    async fn get_usage(
        &self,
        request: Request<GetUsageRequest>,
    ) -> Result<Response<GetUsageResponse>, Status> {
        let caller = principal(&request)?;
        let report = self
            .usage
            .report(&caller.user_id, caller.tier, caller.monthly_rule_allowance)
            .await?;
        Ok(Response::new(GetUsageResponse {
            used: report.used,
            limit: report.limit,
            tier: report.tier.as_str().to_owned(),
            period_start: Some(timestamp(report.period_start.timestamp())),
        }))
    }

    async fn record_usage(
        &self,
        request: Request<RecordUsageRequest>,
    ) -> Result<Response<RecordUsageResponse>, Status> {
        let RecordUsageRequest { user_id, rules } = request.into_inner();
        let report = self.usage.record(&user_id, rules).await?;
        Ok(Response::new(RecordUsageResponse {
            used: report.used,
            limit: report.limit,
        }))
    }
}
