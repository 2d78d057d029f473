//! The operations: each checks the app client and calls the use case the REST door calls.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::{
    errors::{CognitoError, ErrorType},
    requests::{
        AccessTokenRequest, ChangePasswordRequest, ConfirmSignUpRequest,
        GetTokensFromRefreshTokenRequest, InitiateAuthRequest, RespondToAuthChallengeRequest,
        RevokeTokenRequest, SignUpRequest, optional, parameter, parse, required,
    },
    wire::Cognito,
};
use crate::{
    auth::{AuthError, ClientProof, Login, Rotate, SrpAnswer, TokenSet},
    authn::{AuthMethod, Principal},
    domain::{app_client::AppClient, origin::RequestOrigin},
};

/// Where a call comes from.
pub struct Call {
    pub origin: RequestOrigin,
    pub client_ip: Option<IpAddr>,
}

macro_rules! operations {
    ($($name:ident),* $(,)?) => {
        /// The operations this user pool answers; any other target is an unknown operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Operation { $($name),* }

        /// Every target, as the metrics may name it.
        pub const OPERATIONS: &[&str] = &[$(concat!("AWSCognitoIdentityProviderService.", stringify!($name))),*];

        impl Operation {
            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($name) => Some(Operation::$name),)*
                    _ => None,
                }
            }

            pub fn target(self) -> &'static str {
                match self {
                    $(Operation::$name => concat!("AWSCognitoIdentityProviderService.", stringify!($name)),)*
                }
            }
        }
    };
}

operations!(
    InitiateAuth,
    RespondToAuthChallenge,
    SignUp,
    ConfirmSignUp,
    GetUser,
    GlobalSignOut,
    RevokeToken,
    GetTokensFromRefreshToken,
    ChangePassword,
);

/// A client with a secret proves it with the `SECRET_HASH` of `username`.
fn check_secret_hash(
    client: &AppClient,
    username: &str,
    hash: Option<&str>,
) -> Result<(), CognitoError> {
    if client.secret_hash_matches(username, hash) {
        Ok(())
    } else {
        Err(AuthError::BadClientSecret.into())
    }
}

/// The token calls take the client's secret itself (`ClientSecret`).
fn check_client_secret(client: &AppClient, secret: Option<&str>) -> Result<(), CognitoError> {
    if client.secret_matches(secret) {
        Ok(())
    } else {
        Err(AuthError::BadClientSecret.into())
    }
}

/// `AuthenticationResult`; without a refresh token when the refresh kept its own.
fn authentication_result(tokens: TokenSet) -> Value {
    let mut result = json!({
        "AccessToken": tokens.access_token,
        "ExpiresIn": tokens.expires_in,
        "IdToken": tokens.id_token,
        "TokenType": "Bearer",
    });
    if let Some(refresh_token) = tokens.refresh_token {
        result["RefreshToken"] = Value::String(refresh_token);
    }
    json!({"AuthenticationResult": result, "ChallengeParameters": {}})
}

impl Cognito {
    pub(super) async fn dispatch(
        &self,
        operation: Operation,
        call: &Call,
        body: &[u8],
    ) -> Result<Value, CognitoError> {
        match operation {
            Operation::InitiateAuth => self.initiate_auth(call, parse(body)?).await,
            Operation::RespondToAuthChallenge => {
                self.respond_to_auth_challenge(call, parse(body)?).await
            }
            Operation::SignUp => self.sign_up(call, parse(body)?).await,
            Operation::ConfirmSignUp => self.confirm_sign_up(parse(body)?),
            Operation::GetUser => self.get_user(call, parse(body)?).await,
            Operation::GlobalSignOut => self.global_sign_out(call, parse(body)?).await,
            Operation::RevokeToken => self.revoke_token(call, parse(body)?).await,
            Operation::GetTokensFromRefreshToken => {
                self.get_tokens_from_refresh_token(call, parse(body)?).await
            }
            Operation::ChangePassword => self.change_password(call, parse(body)?).await,
        }
    }

    /// The app client a request names.
    fn client(&self, client_id: Option<&str>) -> Result<&AppClient, CognitoError> {
        let id = required(client_id, "clientId")?;
        self.settings.clients.get(id).ok_or_else(|| {
            CognitoError::new(
                ErrorType::ResourceNotFound,
                "User pool client does not exist.",
            )
        })
    }

    /// The user behind an `AccessToken`, checked as a bearer JWT is.
    async fn principal(&self, call: &Call, token: Option<&str>) -> Result<Principal, CognitoError> {
        let token = required(token, "accessToken")?;
        Ok(self
            .gate
            .authenticate_access_token(token, call.client_ip)
            .await?)
    }

    async fn initiate_auth(
        &self,
        call: &Call,
        request: InitiateAuthRequest,
    ) -> Result<Value, CognitoError> {
        let flow = required(request.auth_flow.as_deref(), "authFlow")?;
        let client = self.client(request.client_id.as_deref())?;
        let parameters = request.auth_parameters.unwrap_or_default();
        let origin = call.origin.clone();
        match flow {
            "USER_PASSWORD_AUTH" => {
                let username = parameter(&parameters, "USERNAME")?;
                let password = parameter(&parameters, "PASSWORD")?;
                check_secret_hash(client, username, optional(&parameters, "SECRET_HASH"))?;
                self.limit_address(call)?;
                let tokens = self
                    .accounts
                    .sign_in(
                        Login::Username(username),
                        password.to_owned(),
                        Some(client),
                        origin,
                    )
                    .await?;
                Ok(authentication_result(tokens))
            }
            "USER_SRP_AUTH" => {
                if !self.settings.srp {
                    return Err(CognitoError::invalid(
                        "USER_SRP_AUTH is not enabled on this user pool; use USER_PASSWORD_AUTH",
                    ));
                }
                let username = parameter(&parameters, "USERNAME")?;
                let srp_a = parameter(&parameters, "SRP_A")?;
                check_secret_hash(client, username, optional(&parameters, "SECRET_HASH"))?;
                self.limit_address(call)?;
                let challenge = self
                    .accounts
                    .start_srp(username, srp_a, client, origin)
                    .await?;
                Ok(json!({
                    "ChallengeName": "PASSWORD_VERIFIER",
                    "ChallengeParameters": {
                        "SALT": challenge.salt_hex,
                        "SECRET_BLOCK": challenge.secret_block,
                        "SRP_B": challenge.srp_b_hex,
                        "USERNAME": challenge.user_id_for_srp,
                        "USER_ID_FOR_SRP": challenge.user_id_for_srp,
                    },
                }))
            }
            // As in Cognito, the refresh token stays as it is and none is returned.
            "REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN" => {
                let token = parameter(&parameters, "REFRESH_TOKEN")?;
                self.limit_address(call)?;
                let proof = ClientProof::SecretHash(client, optional(&parameters, "SECRET_HASH"));
                let tokens = self
                    .accounts
                    .refresh(token, proof, Rotate::No, origin)
                    .await?;
                Ok(authentication_result(tokens))
            }
            _ => Err(CognitoError::invalid(
                "AuthFlow must be USER_PASSWORD_AUTH, USER_SRP_AUTH, REFRESH_TOKEN_AUTH or \
                 REFRESH_TOKEN",
            )),
        }
    }

    async fn respond_to_auth_challenge(
        &self,
        call: &Call,
        request: RespondToAuthChallengeRequest,
    ) -> Result<Value, CognitoError> {
        let name = required(request.challenge_name.as_deref(), "challengeName")?;
        let client = self.client(request.client_id.as_deref())?;
        if name != "PASSWORD_VERIFIER" || !self.settings.srp {
            return Err(CognitoError::invalid(
                "The only challenge of this user pool is PASSWORD_VERIFIER (with SRP on)",
            ));
        }
        let responses = request.challenge_responses.unwrap_or_default();
        let username = parameter(&responses, "USERNAME")?;
        let answer = SrpAnswer {
            secret_block: parameter(&responses, "PASSWORD_CLAIM_SECRET_BLOCK")?,
            signature: parameter(&responses, "PASSWORD_CLAIM_SIGNATURE")?,
            timestamp: parameter(&responses, "TIMESTAMP")?,
        };
        check_secret_hash(client, username, optional(&responses, "SECRET_HASH"))?;
        self.limit_address(call)?;
        let tokens = self
            .accounts
            .answer_srp(answer, client, call.origin.clone())
            .await?;
        Ok(authentication_result(tokens))
    }

    async fn sign_up(&self, call: &Call, request: SignUpRequest) -> Result<Value, CognitoError> {
        let client = self.client(request.client_id.as_deref())?;
        let username = required(request.username.as_deref(), "username")?;
        let password = required(request.password, "password")?;
        check_secret_hash(client, username, request.secret_hash.as_deref())?;
        // The pool signs in by email: the username is the email, and an email attribute, when
        // sent, must say the same.
        let email_attribute = request
            .user_attributes
            .unwrap_or_default()
            .into_iter()
            .find(|a| a.name.as_deref() == Some("email"))
            .and_then(|a| a.value);
        if email_attribute.is_some_and(|email| !email.trim().eq_ignore_ascii_case(username.trim()))
        {
            return Err(CognitoError::invalid(
                "The email attribute must be the username: this user pool signs in by email",
            ));
        }
        self.limit_address(call)?;
        let user = self
            .accounts
            .sign_up(username, password, call.origin.clone())
            .await?;
        Ok(json!({"UserConfirmed": true, "UserSub": user.user_id}))
    }

    /// Accounts are confirmed when they are made; confirming one again changes nothing, and
    /// the answer is the same for every username, so it tells nobody which exist.
    fn confirm_sign_up(&self, request: ConfirmSignUpRequest) -> Result<Value, CognitoError> {
        let client = self.client(request.client_id.as_deref())?;
        let username = required(request.username.as_deref(), "username")?;
        required(request.confirmation_code.as_deref(), "confirmationCode")?;
        check_secret_hash(client, username, request.secret_hash.as_deref())?;
        Ok(json!({}))
    }

    async fn get_user(
        &self,
        call: &Call,
        request: AccessTokenRequest,
    ) -> Result<Value, CognitoError> {
        let user = self
            .principal(call, request.access_token.as_deref())
            .await?;
        let mut attributes = vec![
            json!({"Name": "sub", "Value": user.user_id}),
            json!({"Name": "email", "Value": user.email}),
            // No address has been proven by a code sent to it.
            json!({"Name": "email_verified", "Value": "false"}),
            json!({"Name": "custom:tier", "Value": user.tier.as_str()}),
        ];
        if let Some(team_id) = &user.team_id {
            attributes.push(json!({"Name": "custom:teamId", "Value": team_id}));
        }
        Ok(json!({"Username": user.user_id, "UserAttributes": attributes}))
    }

    async fn global_sign_out(
        &self,
        call: &Call,
        request: AccessTokenRequest,
    ) -> Result<Value, CognitoError> {
        let user = self
            .principal(call, request.access_token.as_deref())
            .await?;
        let AuthMethod::Jwt { session_id } = &user.method else {
            return Err(CognitoError::new(
                ErrorType::NotAuthorized,
                "Invalid Access Token",
            ));
        };
        self.accounts
            .sign_out(&user.user_id, session_id, true, call.origin.clone())
            .await?;
        Ok(json!({}))
    }

    async fn revoke_token(
        &self,
        call: &Call,
        request: RevokeTokenRequest,
    ) -> Result<Value, CognitoError> {
        let token = required(request.token.as_deref(), "token")?;
        let client = self.client(request.client_id.as_deref())?;
        check_client_secret(client, request.client_secret.as_deref())?;
        self.accounts
            .revoke_refresh_token(token, ClientProof::Checked(client), call.origin.clone())
            .await?;
        Ok(json!({}))
    }

    /// A refresh that rotates its token, exactly as REST's.
    async fn get_tokens_from_refresh_token(
        &self,
        call: &Call,
        request: GetTokensFromRefreshTokenRequest,
    ) -> Result<Value, CognitoError> {
        let token = required(request.refresh_token.as_deref(), "refreshToken")?;
        let client = self.client(request.client_id.as_deref())?;
        check_client_secret(client, request.client_secret.as_deref())?;
        self.limit_address(call)?;
        let tokens = self
            .accounts
            .refresh(
                token,
                ClientProof::Checked(client),
                Rotate::Yes,
                call.origin.clone(),
            )
            .await?;
        Ok(authentication_result(tokens))
    }

    async fn change_password(
        &self,
        call: &Call,
        request: ChangePasswordRequest,
    ) -> Result<Value, CognitoError> {
        let previous = required(request.previous_password, "previousPassword")?;
        let proposed = required(request.proposed_password, "proposedPassword")?;
        let user = self
            .principal(call, request.access_token.as_deref())
            .await?;
        self.limit_address(call)?;
        self.accounts
            .change_password(&user.user_id, previous, proposed, call.origin.clone())
            .await?;
        Ok(json!({}))
    }
}
