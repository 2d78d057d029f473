//! The client side of Cognito's SRP, written from the protocol (RFC 5054's 3072-bit group,
//! `amazon-cognito-identity-js`'s padding, HKDF step and signature) independently of the
//! service's code, so the tests speak SRP the way an SDK does.

use aws_lc_rs::{digest, hkdf, hmac};
use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Utc};
use num_bigint::BigUint;

const N_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF";

pub fn n() -> BigUint {
    BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap()
}

/// Big-endian bytes with a zero byte in front when the top bit is set (`padHex`).
fn pad(value: &BigUint) -> Vec<u8> {
    let mut bytes = value.to_bytes_be();
    if bytes[0] & 0x80 != 0 {
        bytes.insert(0, 0);
    }
    bytes
}

fn hash(parts: &[&[u8]]) -> Vec<u8> {
    let mut context = digest::Context::new(&digest::SHA256);
    for part in parts {
        context.update(part);
    }
    context.finish().as_ref().to_vec()
}

fn int(bytes: &[u8]) -> BigUint {
    BigUint::from_bytes_be(bytes)
}

/// One SRP sign-in attempt: the secret `a` and public `A`.
pub struct SrpClient {
    a: BigUint,
    pub srp_a: String,
}

/// The challenge parameters the service sent.
pub struct Challenge<'a> {
    pub pool_name: &'a str,
    pub user_id: &'a str,
    pub salt_hex: &'a str,
    pub srp_b_hex: &'a str,
    pub secret_block: &'a str,
}

impl SrpClient {
    pub fn new() -> Self {
        let mut secret = [0u8; 128];
        getrandom::fill(&mut secret).unwrap();
        let a = int(&secret);
        let srp_a = BigUint::from(2u32).modpow(&a, &n()).to_str_radix(16);
        Self { a, srp_a }
    }

    /// `PASSWORD_CLAIM_SIGNATURE` for `password` at `now`, and the `TIMESTAMP` it signs.
    pub fn answer(
        &self,
        challenge: &Challenge,
        password: &str,
        now: DateTime<Utc>,
    ) -> (String, String) {
        let n = n();
        let g = BigUint::from(2u32);
        let k = int(&hash(&[&pad(&n), &pad(&g)]));
        let big_a = g.modpow(&self.a, &n);
        let b = BigUint::parse_bytes(challenge.srp_b_hex.as_bytes(), 16).unwrap();
        let salt = BigUint::parse_bytes(challenge.salt_hex.as_bytes(), 16).unwrap();
        let u = int(&hash(&[&pad(&big_a), &pad(&b)]));
        let identity = hash(&[
            challenge.pool_name.as_bytes(),
            challenge.user_id.as_bytes(),
            b":",
            password.as_bytes(),
        ]);
        let x = int(&hash(&[&pad(&salt), &identity]));
        // (B - k·g^x) mod N, kept non-negative.
        let base = (&b + &k * &n - (&k * g.modpow(&x, &n)) % &n) % &n;
        let s = base.modpow(&(&self.a + &u * &x), &n);

        struct Len;
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                16
            }
        }
        let mut key = [0u8; 16];
        hkdf::Salt::new(hkdf::HKDF_SHA256, &pad(&u))
            .extract(&pad(&s))
            .expand(&[b"Caldera Derived Key"], Len)
            .unwrap()
            .fill(&mut key)
            .unwrap();
        let timestamp = now.format("%a %b %-d %H:%M:%S UTC %Y").to_string();
        let block = STANDARD.decode(challenge.secret_block).unwrap();
        let message = [
            challenge.pool_name.as_bytes(),
            challenge.user_id.as_bytes(),
            &block,
            timestamp.as_bytes(),
        ]
        .concat();
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &message);
        (STANDARD.encode(tag.as_ref()), timestamp)
    }
}
