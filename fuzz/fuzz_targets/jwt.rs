//! Bearer JWT verification (`Tokens::verify_access`) on arbitrary text and on tokens built from
//! fuzzed headers and claims, some signed with the service's real key.
//!
//! The key ring is the service's own (`KeyRing::load_or_create`) over a throw-away SQLite file,
//! so the exact production path runs, including the throttled reload on an unknown `kid`.
//!
//! Properties: never a panic; every refusal is `InvalidToken` or `ExpiredToken` (never a store
//! or signing error); arbitrary text is never accepted; a built token is accepted exactly when
//! it is an RS256 token signed by the service's key, names that key, refers to no other key,
//! and its claims are an unexpired access token of this issuer and client with a session id;
//! `alg: none`, HS256 keyed with the public key, and a foreign key are refused.
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{TimeZone, Utc};
use cloudsigma_auth::{
    auth::{AuthError, KeyRing, Tokens, keys, tokens::LEEWAY_SECS},
    domain::clock::FakeClock,
    store,
};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.fuzz.test/pool";
/// The pool's one app client.
const CLIENT_ID: &str = "fuzz_client";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    tokens: Tokens,
    now: i64,
    kid: String,
    key: EncodingKey,
    foreign_kid: String,
    foreign_key: EncodingKey,
    /// The public modulus: what an algorithm-confusion attacker would use as an HMAC secret.
    public_secret: Vec<u8>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let start = Utc.with_ymd_and_hms(2026, 2, 14, 10, 0, 0).unwrap();
        let now = start.timestamp();
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/keys.db?mode=rwc", dir.path().display());
        let (tokens, kid, key) = runtime.block_on(async {
            let db = store::connect(Some(&url)).await.expect("database");
            let clock = Arc::new(FakeClock::new(start));
            let ring = KeyRing::load_or_create(db, clock.clone())
                .await
                .expect("key ring");
            let clients = Arc::new(CLIENT_ID.parse().expect("a valid client id"));
            let tokens = Tokens::new(ISSUER.to_owned(), Arc::new(ring), clock, clients);
            let (kid, key) = tokens.keys().signing_key(now).await.expect("signing key");
            (tokens, kid, key)
        });
        let jwks = runtime.block_on(tokens.keys().jwks(now)).expect("jwks");
        let public_secret = jwks["keys"][0]["n"].as_str().unwrap().as_bytes().to_vec();
        let foreign = keys::generate(now).expect("foreign key");
        Fixture {
            runtime,
            tokens,
            now,
            kid,
            key,
            foreign_kid: foreign.kid.clone(),
            foreign_key: EncodingKey::from_rsa_pem(foreign.private_key_pem.as_bytes()).unwrap(),
            public_secret,
            _dir: dir,
        }
    })
}

#[derive(Arbitrary, Debug)]
enum Input {
    /// Any text as the bearer token.
    Raw(String),
    Built(Built),
}

#[derive(Arbitrary, Debug)]
struct Built {
    alg: Alg,
    kid: Kid,
    /// A header member that points at another key (`jku`, `jwk`, `x5u`, `x5c`).
    reference: Option<Reference>,
    /// Replaces the whole header JSON.
    raw_header: Option<String>,
    claims: Claims,
    /// Replaces the whole claims JSON.
    raw_claims: Option<String>,
    signature: Signature,
}

#[derive(Arbitrary, Debug, PartialEq)]
enum Alg {
    Rs256,
    Hs256,
    None,
    Ps256,
    Es256,
    Other(String),
}

#[derive(Arbitrary, Debug, PartialEq)]
enum Kid {
    Ours,
    Foreign,
    Missing,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Reference {
    Jku,
    Jwk,
    X5u,
    X5c,
}

#[derive(Arbitrary, Debug)]
struct Claims {
    iss: Text,
    sub: Option<String>,
    exp: Option<Exp>,
    token_use: Use,
    client_id: Text,
    origin_jti: String,
}

#[derive(Arbitrary, Debug, PartialEq)]
enum Text {
    Ours,
    Other(String),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum Exp {
    /// Seconds from the service clock's now.
    FromNow(i32),
    At(i64),
    Float(f64),
    Text(String),
}

#[derive(Arbitrary, Debug, PartialEq)]
enum Use {
    Access,
    Id,
    Other(String),
}

#[derive(Arbitrary, Debug, PartialEq)]
enum Signature {
    Ours,
    Foreign,
    HmacWithPublicKey,
    Empty,
    Bytes(Vec<u8>),
}

fn header_json(built: &Built, fx: &Fixture) -> Value {
    let alg = match &built.alg {
        Alg::Rs256 => "RS256",
        Alg::Hs256 => "HS256",
        Alg::None => "none",
        Alg::Ps256 => "PS256",
        Alg::Es256 => "ES256",
        Alg::Other(text) => text.as_str(),
    };
    let mut header = json!({"typ": "JWT", "alg": alg});
    match &built.kid {
        Kid::Ours => header["kid"] = json!(fx.kid),
        Kid::Foreign => header["kid"] = json!(fx.foreign_kid),
        Kid::Missing => {}
        Kid::Other(text) => header["kid"] = json!(text),
    }
    match built.reference {
        None => {}
        Some(Reference::Jku) => header["jku"] = json!("https://attacker.test/jwks.json"),
        Some(Reference::X5u) => header["x5u"] = json!("https://attacker.test/cert.pem"),
        Some(Reference::X5c) => header["x5c"] = json!(["MIIB"]),
        Some(Reference::Jwk) => {
            let jwks = fx.runtime.block_on(fx.tokens.keys().jwks(fx.now)).unwrap();
            header["jwk"] = jwks["keys"][0].clone();
        }
    }
    header
}

fn claims_json(claims: &Claims, fx: &Fixture) -> Value {
    let mut json = json!({
        "iat": fx.now,
        "jti": "3f1c2a9e-0000-4000-8000-000000000000",
        "auth_time": fx.now,
        "username": "user-1",
        "custom:tier": "pro",
        "custom:teamId": "",
        "origin_jti": claims.origin_jti,
        "token_use": match &claims.token_use {
            Use::Access => "access",
            Use::Id => "id",
            Use::Other(text) => text.as_str(),
        },
    });
    let text = |value: &Text, ours: &str| match value {
        Text::Ours => Some(json!(ours)),
        Text::Other(other) => Some(json!(other)),
        Text::Missing => None,
    };
    if let Some(iss) = text(&claims.iss, ISSUER) {
        json["iss"] = iss;
    }
    if let Some(client_id) = text(&claims.client_id, CLIENT_ID) {
        json["client_id"] = client_id;
    }
    if let Some(sub) = &claims.sub {
        json["sub"] = json!(sub);
    }
    match &claims.exp {
        None => {}
        Some(Exp::FromNow(secs)) => json["exp"] = json!(fx.now + i64::from(*secs)),
        Some(Exp::At(at)) => json["exp"] = json!(at),
        Some(Exp::Float(at)) => json["exp"] = json!(at),
        Some(Exp::Text(text)) => json["exp"] = json!(text),
    }
    json
}

/// Whether a built token is one the service issued and still honours; `None` when the fuzzer
/// wrote the header or claims text itself (then only the signature says it could be valid).
fn should_verify(built: &Built, fx: &Fixture) -> Option<bool> {
    if built.raw_header.is_some() || built.raw_claims.is_some() {
        return None;
    }
    // Compare the values that end up in the token, so `Other("RS256")` counts as RS256.
    let header = header_json(built, fx);
    let claims = claims_json(&built.claims, fx);
    let exp = match built.claims.exp {
        Some(Exp::FromNow(secs)) => Some(fx.now + i64::from(secs)),
        Some(Exp::At(at)) => Some(at),
        // Not an integer: `exp` does not fit the claims.
        Some(Exp::Float(_) | Exp::Text(_)) | None => None,
    };
    let unexpired =
        exp.is_some_and(|exp| i128::from(exp) + i128::from(LEEWAY_SECS) > i128::from(fx.now));
    Some(
        header["alg"] == "RS256"
            && header["kid"] == fx.kid.as_str()
            && built.reference.is_none()
            && built.signature == Signature::Ours
            && claims["iss"] == ISSUER
            && claims["sub"].is_string()
            && unexpired
            && claims["token_use"] == "access"
            && claims["client_id"] == CLIENT_ID
            && claims["origin_jti"] != "",
    )
}

fn token(built: &Built, fx: &Fixture) -> String {
    let header = built
        .raw_header
        .clone()
        .unwrap_or_else(|| header_json(built, fx).to_string());
    let claims = built
        .raw_claims
        .clone()
        .unwrap_or_else(|| claims_json(&built.claims, fx).to_string());
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = match &built.signature {
        Signature::Ours => {
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &fx.key, Algorithm::RS256)
                .expect("signing with the service key")
        }
        Signature::Foreign => {
            jsonwebtoken::crypto::sign(signing_input.as_bytes(), &fx.foreign_key, Algorithm::RS256)
                .expect("signing with a foreign key")
        }
        Signature::HmacWithPublicKey => jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(&fx.public_secret),
            Algorithm::HS256,
        )
        .expect("HMAC"),
        Signature::Empty => String::new(),
        Signature::Bytes(bytes) => URL_SAFE_NO_PAD.encode(bytes),
    };
    format!("{signing_input}.{signature}")
}

fuzz_target!(|input: Input| {
    let fx = fixture();
    let (text, expected, signed_by_us) = match &input {
        Input::Raw(text) => (text.clone(), Some(false), false),
        Input::Built(built) => (
            token(built, fx),
            should_verify(built, fx),
            built.signature == Signature::Ours,
        ),
    };
    let result = fx.runtime.block_on(fx.tokens.verify_access(&text));
    match result {
        Ok(claims) => {
            assert!(
                signed_by_us,
                "accepted a token not signed by the service: {input:?}"
            );
            assert_ne!(
                expected,
                Some(false),
                "accepted a token the service never issued: {input:?}"
            );
            assert_eq!(claims.iss, ISSUER);
            assert_eq!(claims.token_use, "access");
            assert_eq!(claims.client_id, CLIENT_ID);
            assert!(!claims.origin_jti.is_empty());
            assert!(i128::from(claims.exp) + i128::from(LEEWAY_SECS) > i128::from(fx.now));
        }
        // Expired is told apart for the metrics only; the client sees the same 401.
        Err(AuthError::InvalidToken | AuthError::ExpiredToken) => {
            assert_ne!(
                expected,
                Some(true),
                "refused a token the service issued: {input:?}"
            );
        }
        Err(other) => panic!("refusal other than an invalid token: {other:?} for {input:?}"),
    }
});
