//! Arbitrary bytes in the headers and as tokens never panic, and never sign anybody in.

mod common {
    pub mod keys;
}

use auth_server::{AuthConfig, KeyStore, Verifier, token_from_headers};
use common::keys::*;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

fn verifier() -> &'static Verifier {
    static VERIFIER: std::sync::LazyLock<Verifier> = std::sync::LazyLock::new(build_verifier);
    &VERIFIER
}

fn valid_token() -> &'static str {
    static TOKEN: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| TestKey::es256_a().sign(&claims()));
    &TOKEN
}

fn build_verifier() -> Verifier {
    let keys = [TestKey::es256_a(), TestKey::ed25519(), TestKey::rsa()];
    let config = AuthConfig::embedded().with_issuer(ISSUER);
    Verifier::new(
        &config,
        KeyStore::static_set(jwks(&keys.iter().collect::<Vec<_>>())),
    )
    .unwrap()
}

fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        "(Bearer|bearer|BEARER|Basic)?[ \t]{0,3}[A-Za-z0-9._\\-=; ]{0,120}"
            .prop_map(String::into_bytes),
        "(__session=[A-Za-z0-9._\\-]{0,60}; ?){0,3}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn headers_never_panic(auth in header_bytes(), cookie in header_bytes(), cookie2 in header_bytes()) {
        let mut headers = HeaderMap::new();
        for (name, value) in [("authorization", &auth), ("cookie", &cookie), ("cookie", &cookie2)] {
            if let Ok(v) = HeaderValue::from_bytes(value) {
                headers.append(name, v);
            }
        }
        if let Some((token, _)) = token_from_headers(&headers) {
            prop_assert!(!token.is_empty());
            prop_assert!(verifier().verify_cached(token).is_err());
        }
    }

    #[test]
    fn arbitrary_tokens_never_verify(token in "\\PC{0,300}") {
        prop_assert!(verifier().verify_cached(&token).is_err());
    }

    #[test]
    fn mutated_tokens_never_verify(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = valid_token().as_bytes().to_vec();
        let i = pos.index(bytes.len());
        prop_assume!(bytes[i] != byte);
        bytes[i] = byte;
        if let Ok(mutated) = String::from_utf8(bytes) {
            let result = verifier().verify_cached(&mutated);
            // Base64 padding bits: a few single-character changes decode to the same bytes.
            if let Ok(claims) = result {
                prop_assert_eq!(claims.sub, "user_1");
            }
        }
    }
}
