//! Health: `cloudsigma.v1.HealthService/GetHealth` (also served over REST) and the standard
//! `grpc.health.v1.Health`, both reporting whether the database answers.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{
    proto::cloudsigma::v1::{GetHealthRequest, GetHealthResponse, health_service_server},
    store,
};

pub struct HealthApi {
    db: DatabaseConnection,
}

impl HealthApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl health_service_server::HealthService for HealthApi {
    async fn get_health(
        &self,
        _request: Request<GetHealthRequest>,
    ) -> Result<Response<GetHealthResponse>, Status> {
        store::ping(&self.db).await?;
        Ok(Response::new(GetHealthResponse {
            status: "ok".to_owned(),
        }))
    }
}

/// Keeps `grpc.health.v1.Health` in step with the database: the overall status ("") and each
/// named service are SERVING while a ping succeeds, NOT_SERVING otherwise.
pub async fn report_database_health(
    db: DatabaseConnection,
    reporter: HealthReporter,
    services: Vec<String>,
) {
    loop {
        let status = match store::ping(&db).await {
            Ok(()) => ServingStatus::Serving,
            Err(_) => ServingStatus::NotServing,
        };
        reporter.set_service_status("", status).await;
        for service in &services {
            reporter.set_service_status(service, status).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
