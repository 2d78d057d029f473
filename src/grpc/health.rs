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

/// How long a health ping may take before the database counts as down: a server that hangs
/// must not hang the health check with it.
const PING_TIMEOUT: Duration = Duration::from_millis(500);
/// Pause between two pings of the background reporter. With `PING_TIMEOUT` this bounds how
/// long `grpc.health.v1.Health` says SERVING after the database went away (under 1 s).
const PING_INTERVAL: Duration = Duration::from_millis(250);

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
        store::ping(&self.db, PING_TIMEOUT).await?;
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
        let status = match store::ping(&db, PING_TIMEOUT).await {
            Ok(()) => ServingStatus::Serving,
            Err(_) => ServingStatus::NotServing,
        };
        reporter.set_service_status("", status).await;
        for service in &services {
            reporter.set_service_status(service, status).await;
        }
        tokio::time::sleep(PING_INTERVAL).await;
    }
}
