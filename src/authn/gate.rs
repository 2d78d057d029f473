//! Admission of one request: the access rule of its RPC, the credential it carries, and the
//! counting that goes with it.

use std::collections::HashMap;

use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tonic::Status;

use super::{Principal, bearer::parse_authorization};
use crate::{
    grpc::errors::{ErrorCode, error},
    proto::cloudsigma::v1::Access,
};

/// Metadata that internal callers authenticate with.
pub const SERVICE_TOKEN_HEADER: &str = "x-cloudsigma-service-token";

pub struct Gate {
    rules: HashMap<String, Access>,
    service_token: Option<SecretString>,
}

/// A request let through, with what the services and the response need to know.
#[derive(Debug, Default)]
pub struct Admission {
    pub principal: Option<Principal>,
}

impl Admission {
    /// Headers added to the response (the rate-limit state of an API key).
    pub fn response_headers(&self) -> HeaderMap {
        HeaderMap::new()
    }
}

impl Gate {
    pub fn new(rules: HashMap<String, Access>, service_token: Option<SecretString>) -> Self {
        Self {
            rules,
            service_token,
        }
    }

    pub async fn admit(&self, path: &str, headers: &HeaderMap) -> Result<Admission, Status> {
        // Paths outside our package (reflection, health) are public; an unknown path of ours
        // falls through to tonic's UNIMPLEMENTED.
        let Some(access) = self.rules.get(path) else {
            return Ok(Admission::default());
        };
        match access {
            Access::Public => Ok(Admission::default()),
            Access::Internal => {
                self.check_service_token(headers)?;
                Ok(Admission::default())
            }
            Access::Jwt | Access::JwtOrApiKey => {
                let _bearer = parse_authorization(headers)
                    .map_err(|e| error(ErrorCode::Unauthorized, e.to_string()))?;
                Err(error(ErrorCode::Unauthorized, "invalid or expired token"))
            }
            Access::Unspecified => Err(error(ErrorCode::Forbidden, "this RPC is not available")),
        }
    }

    fn check_service_token(&self, headers: &HeaderMap) -> Result<(), Status> {
        let Some(expected) = &self.service_token else {
            return Err(error(
                ErrorCode::Forbidden,
                "internal RPCs are disabled on this instance",
            ));
        };
        let given = headers
            .get(SERVICE_TOKEN_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if bool::from(given.ct_eq(expected.expose_secret().as_bytes())) {
            Ok(())
        } else {
            Err(error(
                ErrorCode::Forbidden,
                "a valid service token is required",
            ))
        }
    }
}
