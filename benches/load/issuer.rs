//! A trusted external issuer for the external-JWT scenarios: a JWKS served from this process and
//! an access token in a Cognito pool's layout, from an authoritative issuer (its `custom:tier`
//! makes the user enterprise, as the bench's own user is).

use std::path::{Path, PathBuf};

use axum::{Router, routing::get};
use cloudsigma_auth::auth::keys::generate;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

const POOL_ID: &str = "eu-west-1_BenchPool";
const CLIENT_ID: &str = "benchclient";
const KID: &str = "bench-pool-key";

pub struct ExternalIssuer {
    /// The trusted-issuers file naming it.
    pub file: PathBuf,
    iss: String,
    key: EncodingKey,
}

impl ExternalIssuer {
    /// Serves the JWKS on a free loopback port and writes the trusted-issuers file into `dir`.
    pub async fn start(dir: &Path) -> ExternalIssuer {
        let row = generate(0).expect("an RSA key");
        let jwks = json!({"keys": [{"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig",
            "n": row.n, "e": row.e}]});
        let router = Router::new().route(
            &format!("/{POOL_ID}/.well-known/jwks.json"),
            get(move || {
                let body = jwks.to_string();
                async move { ([(http::header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let iss = format!("http://{}/{POOL_ID}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let file = dir.join("trusted-issuers.toml");
        std::fs::write(
            &file,
            format!(
                "[[issuer]]\niss = \"{iss}\"\nclient_ids = [\"{CLIENT_ID}\"]\nauthoritative = true\n"
            ),
        )
        .expect("the trusted-issuers file");
        ExternalIssuer {
            file,
            iss,
            key: EncodingKey::from_rsa_pem(row.private_key_pem.as_bytes()).expect("a PEM key"),
        }
    }

    /// An access token valid for the whole bench (a few hours).
    pub fn token(&self) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "sub": "bench-external-user",
            "iss": self.iss,
            "client_id": CLIENT_ID,
            "origin_jti": "bench-external-sign-in",
            "event_id": "bench-event",
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now,
            "iat": now,
            "exp": now + 6 * 3600,
            "jti": "bench-external-token",
            "username": "bench-external-user",
            "custom:tier": "enterprise",
        });
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(KID.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("a signed token")
    }
}
