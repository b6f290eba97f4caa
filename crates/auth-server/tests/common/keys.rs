//! Test keys (fixtures under tests/fixtures, throw-away) and token minting.
#![allow(dead_code)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.test";

/// A signing key with its public JWK.
#[derive(Clone)]
pub struct TestKey {
    pub alg: Algorithm,
    pub kid: String,
    pub encoding: EncodingKey,
    pub public_pem: &'static str,
    pub jwk: Jwk,
}

fn fixture(name: &str) -> (&'static str, &'static str) {
    match name {
        "es256-a" => (
            include_str!("../fixtures/es256-a.key.pem"),
            include_str!("../fixtures/es256-a.pub.pem"),
        ),
        "es256-b" => (
            include_str!("../fixtures/es256-b.key.pem"),
            include_str!("../fixtures/es256-b.pub.pem"),
        ),
        "ed25519" => (
            include_str!("../fixtures/ed25519.key.pem"),
            include_str!("../fixtures/ed25519.pub.pem"),
        ),
        "rsa" => (
            include_str!("../fixtures/rsa.key.pem"),
            include_str!("../fixtures/rsa.pub.pem"),
        ),
        _ => panic!("no fixture {name}"),
    }
}

impl TestKey {
    /// `name`: es256-a, es256-b, ed25519 or rsa.
    pub fn new(name: &str, alg: Algorithm, kid: &str) -> Self {
        let (private, public) = fixture(name);
        let encoding = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(private.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private.as_bytes()),
            _ => EncodingKey::from_rsa_pem(private.as_bytes()),
        }
        .unwrap();
        let mut jwk = if alg == Algorithm::EdDSA {
            // Jwk::from_encoding_key does not do Ed25519: the raw key is the SPKI's last 32 bytes.
            let body: String = public.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = STANDARD.decode(body).unwrap();
            Jwk {
                common: CommonParameters {
                    key_algorithm: Some(KeyAlgorithm::EdDSA),
                    ..Default::default()
                },
                algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(&der[der.len() - 32..]),
                }),
            }
        } else {
            Jwk::from_encoding_key(&encoding, alg).unwrap()
        };
        jwk.common.key_id = Some(kid.to_owned());
        Self {
            alg,
            kid: kid.to_owned(),
            encoding,
            public_pem: public,
            jwk,
        }
    }

    pub fn es256_a() -> Self {
        Self::new("es256-a", Algorithm::ES256, "es-a")
    }

    pub fn es256_b() -> Self {
        Self::new("es256-b", Algorithm::ES256, "es-b")
    }

    pub fn ed25519() -> Self {
        Self::new("ed25519", Algorithm::EdDSA, "ed")
    }

    pub fn rsa() -> Self {
        Self::new("rsa", Algorithm::RS256, "rsa")
    }

    /// Signs `claims` with this key's kid.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with(claims, |_| {})
    }

    /// Signs `claims` after editing the header.
    pub fn sign_with(&self, claims: &Value, edit: impl FnOnce(&mut Header)) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        edit(&mut header);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

pub fn jwks(keys: &[&TestKey]) -> JwkSet {
    JwkSet {
        keys: keys.iter().map(|k| k.jwk.clone()).collect(),
    }
}

pub fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// Valid claims for `ISSUER`, user `user_1`, valid for an hour.
pub fn claims() -> Value {
    json!({
        "sub": "user_1",
        "sid": "sess_1",
        "iss": ISSUER,
        "iat": now() - 10,
        "nbf": now() - 10,
        "exp": now() + 3600,
    })
}

/// `claims()` with some fields changed (`null` removes a field).
pub fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}
