//! Token extraction and verification on arbitrary bytes.
//!
//! The first byte picks a mode, the rest is the input:
//! * `headers`: lines `name:value` become request headers (invalid names/values are dropped),
//!   then `token_from_headers` and the verifier, as the auth layer runs them;
//! * `raw`: the bytes (lossily UTF-8) are the token;
//! * `signed`: three parts separated by `0xFF` — header JSON, payload JSON, and a selector —
//!   are base64url-encoded and **signed with the real ES256 test key**, so the fuzzer reaches the
//!   claim checks (`alg`/`kid` handling, `exp`, `nbf`, `iat`, `iss`, `sub`, `azp`) with any JSON.
//!
//! Invariants: nothing panics; an extracted token is a non-empty slice of one header value with
//! no whitespace, at most one per request; a token verifies only when its header says `ES256`,
//! its payload carries the configured issuer, a string `sub` and an `exp` not in the past; the
//! async path, the networkless path and a repeat (cache hit) agree.

#![no_main]

use auth_server::{AuthConfig, KeyStore, TokenSource, Verifier, token_from_headers};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

const ISSUER: &str = "https://issuer.test";
const LEEWAY: u64 = 5;
const AZP: &str = "https://app.test";

struct Fixture {
    verifier: Verifier,
    signing: EncodingKey,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let fixtures = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../crates/auth-server/tests/fixtures"
        );
        let read = |name: &str| std::fs::read(format!("{fixtures}/{name}")).expect("fixture");
        let signing = EncodingKey::from_ec_pem(&read("es256-a.key.pem")).unwrap();
        let other = EncodingKey::from_ec_pem(&read("es256-b.key.pem")).unwrap();
        let rsa = EncodingKey::from_rsa_pem(&read("rsa.key.pem")).unwrap();
        let jwk = |key: &EncodingKey, alg, kid: &str| {
            let mut jwk = Jwk::from_encoding_key(key, alg).unwrap();
            jwk.common.key_id = Some(kid.to_owned());
            jwk
        };
        let keys = KeyStore::static_set(JwkSet {
            keys: vec![
                jwk(&signing, Algorithm::ES256, "a"),
                jwk(&other, Algorithm::ES256, "b"),
                jwk(&rsa, Algorithm::RS256, "rsa"),
            ],
        });
        let config = AuthConfig::embedded()
            .with_issuer(ISSUER)
            .with_leeway_secs(LEEWAY)
            .with_authorized_parties([AZP]);
        Fixture {
            verifier: Verifier::new(&config, keys).unwrap(),
            signing,
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
        }
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn headers_from(bytes: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for line in bytes.split(|&b| b == b'\n') {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    headers
}

/// The extraction rules that must hold whatever the headers.
fn check_extraction(headers: &HeaderMap) -> Option<String> {
    let (token, source) = token_from_headers(headers)?;
    assert!(!token.is_empty(), "empty token");
    let from: Vec<&[u8]> = match source {
        TokenSource::Bearer => {
            assert!(
                !token.contains(|c: char| c.is_ascii_whitespace()),
                "whitespace in a Bearer token {token:?}"
            );
            assert_eq!(
                headers.get_all(http::header::AUTHORIZATION).iter().count(),
                1,
                "a token from several Authorization headers"
            );
            headers
                .get_all(http::header::AUTHORIZATION)
                .iter()
                .map(HeaderValue::as_bytes)
                .collect()
        }
        TokenSource::Cookie => headers
            .get_all(http::header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes)
            .collect(),
    };
    assert!(
        from.iter()
            .any(|v| v.windows(token.len()).any(|w| w == token.as_bytes())),
        "token {token:?} is not part of a header it came from"
    );
    Some(token.to_owned())
}

/// Signs `header_json` / `payload_json` as they are (any bytes) with the ES256 test key.
fn signed_token(header_json: &[u8], payload_json: &[u8], selector: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(payload_json)
    );
    let signature = match selector.first().copied().unwrap_or(0) % 4 {
        // A real signature over the message.
        0 | 1 => {
            jsonwebtoken::crypto::sign(message.as_bytes(), &fixture().signing, Algorithm::ES256)
                .unwrap()
        }
        // A tampered one, or arbitrary bytes.
        2 => {
            let real = jsonwebtoken::crypto::sign(
                message.as_bytes(),
                &fixture().signing,
                Algorithm::ES256,
            )
            .unwrap();
            let mut raw = URL_SAFE_NO_PAD.decode(real).unwrap();
            let i = selector.get(1).copied().unwrap_or(0) as usize % raw.len();
            raw[i] ^= selector.get(2).copied().unwrap_or(1) | 1;
            URL_SAFE_NO_PAD.encode(raw)
        }
        _ => URL_SAFE_NO_PAD.encode(&selector[1.min(selector.len())..]),
    };
    format!("{message}.{signature}")
}

/// What must be true of a token that verified.
fn check_accepted(token: &str, claims: &auth_types::SessionClaims) {
    let mut parts = token.split('.');
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256", "accepted alg {}", header["alg"]);
    assert!(
        matches!(header.get("kid").and_then(Value::as_str), Some("a")),
        "accepted with kid {:?}",
        header.get("kid")
    );
    let iss = payload["iss"].as_str().expect("iss is a string");
    assert_eq!(iss.trim_end_matches('/'), ISSUER, "accepted issuer {iss:?}");
    assert!(
        payload["sub"].is_string(),
        "accepted sub {}",
        payload["sub"]
    );
    assert_eq!(payload["sub"].as_str(), Some(claims.sub.as_str()));
    let exp = payload["exp"].as_f64().expect("exp is a number");
    assert!(
        exp >= (now() - LEEWAY as i64 - 1) as f64,
        "accepted an expired token (exp {exp})"
    );
    if let Some(azp) = payload.get("azp").filter(|v| !v.is_null()) {
        assert_eq!(azp, AZP, "accepted azp {azp}");
    }
    if let Some(nbf) = payload.get("nbf").and_then(Value::as_f64) {
        assert!(
            nbf <= (now() + LEEWAY as i64 + 1) as f64,
            "accepted a token before its nbf {nbf}"
        );
    }
}

/// Whether a claim sits so close to the current second that two calls may disagree.
fn near_now(token: &str) -> bool {
    let payload = token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
        .and_then(|p| serde_json::from_slice::<Value>(&p).ok());
    let Some(payload) = payload else {
        return false;
    };
    ["exp", "nbf", "iat"].iter().any(|c| {
        payload
            .get(*c)
            .and_then(Value::as_f64)
            .is_some_and(|t| (t - now() as f64).abs() < LEEWAY as f64 + 10.0)
    })
}

fn verify(token: &str) {
    let f = fixture();
    let networkless = f.verifier.verify_cached(token);
    let full = f.runtime.block_on(f.verifier.verify(token));
    let repeat = f.verifier.verify_cached(token);
    if let Ok(claims) = &full {
        check_accepted(token, claims);
    }
    if !near_now(token) {
        assert_eq!(networkless.is_ok(), full.is_ok(), "paths disagree");
        assert_eq!(full, repeat, "a repeat (cache hit) disagrees");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let headers = headers_from(rest);
            if let Some(token) = check_extraction(&headers) {
                verify(&token);
            }
        }
        1 => verify(&String::from_utf8_lossy(rest)),
        _ => {
            let mut parts = rest.splitn(3, |&b| b == 0xFF);
            let header = parts.next().unwrap_or_default();
            let payload = parts.next().unwrap_or_default();
            let selector = parts.next().unwrap_or_default();
            verify(&signed_token(header, payload, selector));
        }
    }
});
