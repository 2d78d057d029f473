//! `cloudsigma.v1.ApiKeyService`.

use std::sync::Arc;

use tonic::{Request, Response, Status, metadata::MetadataValue};

use super::{errors::principal, origin, timestamp};
use crate::{
    api_keys::ApiKeys,
    proto::cloudsigma::v1::{
        ApiKey, CreateApiKeyRequest, CreateApiKeyResponse, DailyUsage, GetApiKeyUsageRequest,
        GetApiKeyUsageResponse, ListApiKeysRequest, ListApiKeysResponse, RevokeApiKeyRequest,
        RevokeApiKeyResponse, UpdateApiKeyRequest, UpdateApiKeyResponse, api_key_service_server,
    },
    store::api_keys::KeyView,
};

pub struct ApiKeyApi {
    keys: Arc<ApiKeys>,
}

impl ApiKeyApi {
    pub fn new(keys: Arc<ApiKeys>) -> Self {
        Self { keys }
    }
}

impl From<KeyView> for ApiKey {
    fn from(view: KeyView) -> Self {
        Self {
            prefix: view.prefix,
            name: view.name,
            daily_limit: view.daily_limit,
            used_today: view.used_today,
            created_at: Some(timestamp(view.created_at)),
            last_used_at: view.last_used_at.map(timestamp),
        }
    }
}

#[tonic::async_trait]
impl api_key_service_server::ApiKeyService for ApiKeyApi {
    async fn create_api_key(
        &self,
        request: Request<CreateApiKeyRequest>,
    ) -> Result<Response<CreateApiKeyResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.get_ref();
        let created = self
            .keys
            .create(caller, &body.name, body.daily_limit, origin(&request))
            .await?;
        let mut response = Response::new(CreateApiKeyResponse {
            key: created.key.expose().to_owned(),
            prefix: created.view.prefix,
            name: created.view.name,
            daily_limit: created.view.daily_limit,
            created_at: Some(timestamp(created.view.created_at)),
        });
        // The key is in this response and nowhere else; nothing may keep a copy.
        response
            .metadata_mut()
            .insert("cache-control", MetadataValue::from_static("no-store"));
        Ok(response)
    }

    async fn list_api_keys(
        &self,
        request: Request<ListApiKeysRequest>,
    ) -> Result<Response<ListApiKeysResponse>, Status> {
        let caller = principal(&request)?;
        let keys = self.keys.list(caller).await?;
        Ok(Response::new(ListApiKeysResponse {
            keys: keys.into_iter().map(ApiKey::from).collect(),
        }))
    }

    async fn get_api_key_usage(
        &self,
        request: Request<GetApiKeyUsageRequest>,
    ) -> Result<Response<GetApiKeyUsageResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.get_ref();
        let days = self.keys.history(caller, &body.prefix, body.days).await?;
        Ok(Response::new(GetApiKeyUsageResponse {
            prefix: body.prefix.clone(),
            days: days
                .into_iter()
                .map(|day| DailyUsage {
                    date: day.date,
                    count: day.count,
                })
                .collect(),
        }))
    }

    async fn update_api_key(
        &self,
        request: Request<UpdateApiKeyRequest>,
    ) -> Result<Response<UpdateApiKeyResponse>, Status> {
        let caller = principal(&request)?;
        let body = request.get_ref();
        let view = self
            .keys
            .update(
                caller,
                &body.prefix,
                body.name.as_deref(),
                body.daily_limit,
                origin(&request),
            )
            .await?;
        Ok(Response::new(UpdateApiKeyResponse {
            api_key: Some(view.into()),
        }))
    }

    async fn revoke_api_key(
        &self,
        request: Request<RevokeApiKeyRequest>,
    ) -> Result<Response<RevokeApiKeyResponse>, Status> {
        let caller = principal(&request)?;
        self.keys
            .revoke(caller, &request.get_ref().prefix, origin(&request))
            .await?;
        Ok(Response::new(RevokeApiKeyResponse {
            message: "API key revoked".to_owned(),
        }))
    }
}
