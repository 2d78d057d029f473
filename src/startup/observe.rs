//! What start-up gives the metrics: the RPC paths they may name, the code of a gateway check's
//! HTTP answer, and the sampler of the gauges no request moves.

use std::{collections::HashSet, sync::Arc, time::Duration};

use sea_orm::DatabaseConnection;

use crate::{auth::PasswordHasher, descriptors, gateway, metrics::Metrics, store};

/// Every RPC path the metrics may name: ours, the gateway's, health and reflection, and the
/// HTTP gateway check.
pub fn rpc_paths() -> HashSet<String> {
    let pool = descriptors::pool();
    let mut paths: HashSet<String> = pool
        .services()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .map(|method| descriptors::grpc_path(&method))
        .collect();
    paths.extend(
        [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            gateway::CHECK_PREFIX,
        ]
        .map(str::to_owned),
    );
    paths.extend(crate::cognito::OPERATIONS.iter().map(|op| (*op).to_owned()));
    paths
}

/// The gRPC code a gateway check's HTTP answer stands for (the check answers the REST way).
pub fn http_outcome(status: http::StatusCode) -> tonic::Code {
    match status.as_u16() {
        200..=299 => tonic::Code::Ok,
        400 => tonic::Code::InvalidArgument,
        401 => tonic::Code::Unauthenticated,
        403 => tonic::Code::PermissionDenied,
        404 => tonic::Code::NotFound,
        413 | 429 => tonic::Code::ResourceExhausted,
        503 => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    }
}

/// Samples the gauges that no request moves: the hashing queue and the database pool, once a
/// second.
pub async fn sample_gauges(db: DatabaseConnection, hasher: Arc<PasswordHasher>, metrics: Metrics) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        metrics.hashing_queue(hasher.waiting());
        let (in_use, idle, acquire) = store::sample_pool(&db).await;
        metrics.db_pool(in_use, idle);
        if let Some(took) = acquire {
            metrics.db_acquire(took);
        }
    }
}
