//! The Cognito user-pool wire API: `POST /` with `X-Amz-Target:
//! AWSCognitoIdentityProviderService.<Op>` and Cognito's JSON, so the Cognito SDKs (boto3, the
//! AWS SDK for JavaScript, `amazon-cognito-identity-js`, Amplify) sign in, refresh and sign out
//! against this service unchanged. A door beside `grpc/` and `rest/`: it parses its own wire
//! format and calls the same use cases (`auth::Accounts`) and admission (`authn::Gate`).

mod errors;
mod operations;
mod requests;
mod wire;

pub use operations::OPERATIONS;
pub use wire::{Cognito, CognitoSettings, is_cognito};
