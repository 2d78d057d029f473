//! A stand-in for a Cognito user pool: a small HTTP server on port 0 that serves the pool's
//! JWKS (or misbehaves on request), counts its fetches, and mints tokens with Cognito's claim
//! layout signed by the pool's keys.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Body, extract::State, http::Response, routing::get};
use cloudsigma_auth::{auth::keys::generate, domain::clock::Clock};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::TestApp;

/// The app client tokens are issued to.
pub const CLIENT_ID: &str = "4k9d0example7client";

/// How the JWKS endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Serve,
    Fail500,
    Html,
    /// 10 MB with a `Content-Length`.
    Huge,
    /// 10 MB streamed, without a `Content-Length`.
    HugeStreamed,
    /// Only symmetric (`kty: oct`) keys.
    SymmetricKeys,
    /// Answers after 10 s.
    Slow,
}

pub struct PoolKey {
    pub kid: String,
    n: String,
    e: String,
    encoding: EncodingKey,
}

impl PoolKey {
    fn new() -> Self {
        let row = generate(0).unwrap();
        Self {
            kid: format!("pool-{}", &row.kid[..12]),
            encoding: EncodingKey::from_rsa_pem(row.private_key_pem.as_bytes()).unwrap(),
            n: row.n,
            e: row.e,
        }
    }

    fn jwk(&self) -> Value {
        json!({"alg": "RS256", "e": self.e, "kid": self.kid, "kty": "RSA", "n": self.n, "use": "sig"})
    }
}

struct Served {
    published: Vec<usize>,
    behaviour: Behaviour,
    cache_control: Option<String>,
}

struct Shared {
    served: Mutex<Served>,
    keys: Vec<PoolKey>,
    pool_id: String,
    fetches: watch::Sender<usize>,
}

pub struct Pool {
    pub iss: String,
    shared: Arc<Shared>,
}

impl Pool {
    /// A pool with `keys` keys, publishing the first; serving at once.
    pub async fn start(pool_id: &str, keys: usize) -> Self {
        let shared = Arc::new(Shared {
            served: Mutex::new(Served {
                published: vec![0],
                behaviour: Behaviour::Serve,
                cache_control: None,
            }),
            keys: (0..keys).map(|_| PoolKey::new()).collect(),
            pool_id: pool_id.to_owned(),
            fetches: watch::Sender::new(0),
        });
        let router = Router::new()
            .route(&format!("/{pool_id}/.well-known/jwks.json"), get(jwks))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            iss: format!("http://{addr}/{pool_id}"),
            shared,
        }
    }

    pub fn key(&self, index: usize) -> &PoolKey {
        &self.shared.keys[index]
    }

    fn served(&self) -> std::sync::MutexGuard<'_, Served> {
        self.shared.served.lock().unwrap()
    }

    pub fn publish(&self, indexes: &[usize]) {
        self.served().published = indexes.to_vec();
    }

    pub fn behave(&self, behaviour: Behaviour) {
        self.served().behaviour = behaviour;
    }

    pub fn cache_control(&self, value: &str) {
        self.served().cache_control = Some(value.to_owned());
    }

    pub fn fetches(&self) -> usize {
        *self.shared.fetches.borrow()
    }

    /// Waits until the JWKS has been fetched at least `n` times.
    pub async fn fetched(&self, n: usize) {
        let mut fetches = self.shared.fetches.subscribe();
        tokio::time::timeout(Duration::from_secs(10), fetches.wait_for(|f| *f >= n))
            .await
            .unwrap_or_else(|_| panic!("the JWKS was not fetched {n} time(s)"))
            .unwrap();
    }

    /// The trusted-issuers entry of this pool.
    pub fn entry(&self, extra: &str) -> String {
        format!(
            "[[issuer]]\niss = \"{}\"\nclient_ids = [\"{CLIENT_ID}\"]\n{extra}\n",
            self.iss
        )
    }

    /// An access token laid out as Cognito's, signed with key `key`, for the user `sub` and
    /// the sign-in `origin`; `change` edits the claims before signing.
    pub fn access_token(
        &self,
        app: &TestApp,
        sub: &str,
        origin: &str,
        key: usize,
        change: impl FnOnce(&mut Map<String, Value>),
    ) -> String {
        let now = app.clock.now().timestamp();
        let mut claims = json!({
            "sub": sub,
            "iss": self.iss,
            "client_id": CLIENT_ID,
            "origin_jti": origin,
            "event_id": Uuid::new_v4().to_string(),
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "auth_time": now - 30,
            "exp": now + 3600,
            "iat": now,
            "jti": Uuid::new_v4().to_string(),
            "username": sub,
        });
        change(claims.as_object_mut().unwrap());
        self.sign(&claims, key, Algorithm::RS256)
    }

    /// An ID token laid out as Cognito's.
    pub fn id_token(
        &self,
        app: &TestApp,
        sub: &str,
        email: &str,
        tier: &str,
        key: usize,
    ) -> String {
        let now = app.clock.now().timestamp();
        let claims = json!({
            "sub": sub,
            "aud": CLIENT_ID,
            "iss": self.iss,
            "cognito:username": sub,
            "email": email,
            "email_verified": true,
            "custom:tier": tier,
            "custom:teamId": "",
            "origin_jti": Uuid::new_v4().to_string(),
            "event_id": Uuid::new_v4().to_string(),
            "token_use": "id",
            "auth_time": now - 30,
            "exp": now + 3600,
            "iat": now,
            "jti": Uuid::new_v4().to_string(),
        });
        self.sign(&claims, key, Algorithm::RS256)
    }

    pub fn sign(&self, claims: &Value, key: usize, alg: Algorithm) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(self.key(key).kid.clone());
        self.sign_with_header(claims, key, header)
    }

    pub fn sign_with_header(&self, claims: &Value, key: usize, header: Header) -> String {
        jsonwebtoken::encode(&header, claims, &self.key(key).encoding).unwrap()
    }
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response<Body> {
    let (behaviour, published, cache_control) = {
        let served = shared.served.lock().unwrap();
        (
            served.behaviour,
            served.published.clone(),
            served.cache_control.clone(),
        )
    };
    shared.fetches.send_modify(|f| *f += 1);
    let response = Response::builder();
    let json_body = |value: Value| {
        let mut builder = Response::builder().header("content-type", "application/json");
        if let Some(cache_control) = &cache_control {
            builder = builder.header("cache-control", cache_control);
        }
        builder.body(Body::from(value.to_string())).unwrap()
    };
    match behaviour {
        Behaviour::Serve => json_body(json!({
            "keys": published.iter().map(|i| shared.keys[*i].jwk()).collect::<Vec<_>>()
        })),
        Behaviour::Fail500 => response
            .status(500)
            .body(Body::from("{\"message\":\"internal\"}"))
            .unwrap(),
        Behaviour::Html => response
            .header("content-type", "text/html")
            .body(Body::from(format!(
                "<html><body>{} is down for maintenance</body></html>",
                shared.pool_id
            )))
            .unwrap(),
        Behaviour::Huge => {
            // Valid JSON, padded past any sane size.
            let padding = "x".repeat(10 * 1024 * 1024);
            json_body(json!({"keys": [], "padding": padding}))
        }
        Behaviour::HugeStreamed => {
            let chunk = bytes::Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = std::iter::once(bytes::Bytes::from_static(b"{\"keys\":[]"))
                .chain(std::iter::repeat_n(chunk, 160))
                .map(Ok::<_, std::io::Error>);
            response
                .header("content-type", "application/json")
                .body(Body::from_stream(futures_util::stream::iter(chunks)))
                .unwrap()
        }
        Behaviour::SymmetricKeys => json_body(json!({
            "keys": [{"kty": "oct", "kid": shared.keys[0].kid, "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "alg": "HS256"}]
        })),
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            json_body(json!({"keys": [shared.keys[0].jwk()]}))
        }
    }
}
