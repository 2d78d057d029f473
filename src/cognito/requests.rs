//! The operations' requests as the SDKs send them, parsed leniently: unknown members are
//! ignored and `null` counts as absent (browsers send `"DEVICE_KEY": null`).

use std::collections::HashMap;

use serde::{Deserialize, de::DeserializeOwned};

use super::errors::{CognitoError, ErrorType};

/// `AuthParameters` / `ChallengeResponses`: string values, `null` taken as absent.
pub(super) type Parameters = Option<HashMap<String, Option<String>>>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct InitiateAuthRequest {
    pub(super) auth_flow: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) auth_parameters: Parameters,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RespondToAuthChallengeRequest {
    pub(super) challenge_name: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) challenge_responses: Parameters,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SignUpRequest {
    pub(super) client_id: Option<String>,
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) secret_hash: Option<String>,
    pub(super) user_attributes: Option<Vec<Attribute>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Attribute {
    pub(super) name: Option<String>,
    pub(super) value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ConfirmSignUpRequest {
    pub(super) client_id: Option<String>,
    pub(super) username: Option<String>,
    pub(super) confirmation_code: Option<String>,
    pub(super) secret_hash: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AccessTokenRequest {
    pub(super) access_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RevokeTokenRequest {
    pub(super) token: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct GetTokensFromRefreshTokenRequest {
    pub(super) refresh_token: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) client_secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ChangePasswordRequest {
    pub(super) previous_password: Option<String>,
    pub(super) proposed_password: Option<String>,
    pub(super) access_token: Option<String>,
}

/// The body as the operation's request. The parser's message is not passed on: it can quote
/// the value it choked on, and that value may be a password.
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, CognitoError> {
    serde_json::from_slice(body).map_err(|err| {
        let what = if err.is_data() {
            "a field has the wrong type"
        } else {
            "the body is not a JSON object"
        };
        CognitoError::new(
            ErrorType::Serialization,
            format!(
                "The request could not be read: {what} (line {}, column {})",
                err.line(),
                err.column()
            ),
        )
    })
}

/// A member the operation cannot do without, in Cognito's wording.
pub(super) fn required<T>(value: Option<T>, member: &str) -> Result<T, CognitoError> {
    value.ok_or_else(|| {
        CognitoError::invalid(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
             Member must not be null"
        ))
    })
}

pub(super) fn parameter<'a>(
    parameters: &'a HashMap<String, Option<String>>,
    name: &str,
) -> Result<&'a str, CognitoError> {
    parameters
        .get(name)
        .and_then(Option::as_deref)
        .ok_or_else(|| CognitoError::invalid(format!("Missing required parameter {name}")))
}

pub(super) fn optional<'a>(
    parameters: &'a HashMap<String, Option<String>>,
    name: &str,
) -> Option<&'a str> {
    parameters.get(name).and_then(Option::as_deref)
}
