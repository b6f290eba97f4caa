//! Every rejection reason of the verifier, and the token shapes of real issuers. No network: keys
//! are static sets or PEMs.

mod common {
    pub mod keys;
}

use auth_server::{AuthConfig, KeySource, KeyStore, MAX_TOKEN_BYTES, Verifier, VerifyError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::keys::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

fn verifier_for(config: AuthConfig, keys: &[&TestKey]) -> Verifier {
    Verifier::new(&config, KeyStore::static_set(jwks(keys))).unwrap()
}

fn default_verifier() -> (Verifier, TestKey) {
    let key = TestKey::es256_a();
    let config = AuthConfig::embedded().with_issuer(ISSUER);
    (
        verifier_for(config, &[&key, &TestKey::rsa(), &TestKey::ed25519()]),
        key,
    )
}

async fn reason(verifier: &Verifier, token: &str) -> VerifyError {
    verifier.verify(token).await.unwrap_err()
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

#[tokio::test]
async fn valid_tokens_of_each_algorithm_verify() {
    let (verifier, _) = default_verifier();
    for key in [TestKey::es256_a(), TestKey::rsa(), TestKey::ed25519()] {
        let claims = verifier.verify(&key.sign(&claims())).await.unwrap();
        assert_eq!(claims.sub, "user_1");
        assert_eq!(claims.sid.as_deref(), Some("sess_1"));
    }
    // An RSA JWK without `alg` verifies RS256/RS384/RS512; with `alg` only that one.
    let mut rsa = TestKey::rsa();
    rsa.jwk.common.key_algorithm = None;
    let any_rs = verifier_for(AuthConfig::embedded().with_issuer(ISSUER), &[&rsa]);
    for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
        let token = TestKey::new("rsa", alg, "rsa").sign(&claims());
        assert!(any_rs.verify(&token).await.is_ok(), "{alg:?}");
        let pinned = verifier.verify(&token).await;
        assert_eq!(pinned.is_ok(), alg == Algorithm::RS256, "{alg:?}");
    }
}

#[tokio::test]
async fn alg_none_is_refused() {
    let (verifier, key) = default_verifier();
    let header = b64(&json!({"alg": "none", "typ": "JWT", "kid": key.kid}));
    for token in [
        format!("{header}.{}.", b64(&claims())),
        format!("{header}.{}", b64(&claims())),
    ] {
        let r = reason(&verifier, &token).await;
        assert!(
            matches!(r, VerifyError::AlgorithmNotAllowed | VerifyError::Malformed),
            "{r:?}"
        );
    }
    let header = b64(&json!({"alg": "none", "kid": key.kid}));
    assert_eq!(
        reason(&verifier, &format!("{header}.{}.", b64(&claims()))).await,
        VerifyError::AlgorithmNotAllowed
    );
    let header = b64(&json!({"alg": "None", "kid": key.kid}));
    assert_eq!(
        reason(&verifier, &format!("{header}.{}.sig", b64(&claims()))).await,
        VerifyError::AlgorithmNotAllowed
    );
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    // Algorithm confusion: HMAC with the public key's bytes as secret.
    for key in [TestKey::rsa(), TestKey::es256_a(), TestKey::ed25519()] {
        let verifier = verifier_for(AuthConfig::embedded().with_issuer(ISSUER), &[&key]);
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(key.public_pem.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            reason(&verifier, &token).await,
            VerifyError::AlgorithmNotAllowed
        );
        // Also with a PEM key store.
        let config = AuthConfig::jwks(ISSUER)
            .with_authorized_parties(["https://app.example"])
            .with_key_source(KeySource::PublicKeyPem(key.public_pem.to_owned()));
        let verifier = Verifier::from_config(&config).unwrap();
        assert_eq!(
            reason(&verifier, &token).await,
            VerifyError::AlgorithmNotAllowed
        );
    }
}

#[tokio::test]
async fn algorithm_must_match_the_key_type_and_the_allow_list() {
    let (verifier, _) = default_verifier();
    // An RSA token whose kid names the EC key.
    let rsa = TestKey::rsa();
    let token = rsa.sign_with(&claims(), |h| h.kid = Some("es-a".into()));
    assert_eq!(
        reason(&verifier, &token).await,
        VerifyError::AlgorithmNotAllowed
    );
    // PS256 is not in the default allow-list.
    let token = TestKey::new("rsa", Algorithm::PS256, "rsa").sign(&claims());
    assert_eq!(
        reason(&verifier, &token).await,
        VerifyError::AlgorithmNotAllowed
    );
    // An allow-list of RS256 only refuses ES256.
    let es = TestKey::es256_a();
    let only_rs = verifier_for(
        AuthConfig::embedded()
            .with_issuer(ISSUER)
            .with_algorithms([Algorithm::RS256]),
        &[&es, &rsa],
    );
    assert_eq!(
        reason(&only_rs, &es.sign(&claims())).await,
        VerifyError::AlgorithmNotAllowed
    );
    assert!(only_rs.verify(&rsa.sign(&claims())).await.is_ok());
}

#[tokio::test]
async fn claim_checks() {
    let key = TestKey::es256_a();
    let config = AuthConfig::embedded()
        .with_issuer(ISSUER)
        .with_audiences(["api"])
        .with_authorized_parties(["https://app.test"]);
    let v = verifier_for(config, &[&key]);
    let ok = claims_with(json!({"aud": "api", "azp": "https://app.test"}));
    assert!(v.verify(&key.sign(&ok)).await.is_ok());

    let with = |changes: serde_json::Value| {
        let mut c = ok.clone();
        for (k, val) in changes.as_object().unwrap() {
            if val.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = val.clone();
            }
        }
        key.sign(&c)
    };
    let cases = [
        (
            json!({"iss": "https://evil.test"}),
            VerifyError::WrongIssuer,
        ),
        (json!({"iss": null}), VerifyError::MissingClaim("iss")),
        (json!({"aud": "other"}), VerifyError::WrongAudience),
        (json!({"aud": ["other", "x"]}), VerifyError::WrongAudience),
        (json!({"aud": null}), VerifyError::MissingClaim("aud")),
        (
            json!({"azp": "https://evil.test"}),
            VerifyError::WrongAuthorizedParty,
        ),
        (json!({"azp": 5}), VerifyError::WrongAuthorizedParty),
        (json!({"exp": now() - 60}), VerifyError::Expired),
        (json!({"exp": null}), VerifyError::MissingClaim("exp")),
        (json!({"exp": "tomorrow"}), VerifyError::MissingClaim("exp")),
        (json!({"nbf": now() + 60}), VerifyError::NotYetValid),
        (json!({"iat": now() + 60}), VerifyError::IssuedInFuture),
        (
            json!({"iat": "yesterday"}),
            VerifyError::InvalidClaim("iat"),
        ),
        (json!({"sub": null}), VerifyError::MissingClaim("sub")),
        (json!({"sub": 42}), VerifyError::MissingClaim("sub")),
        (json!({"sub": ""}), VerifyError::InvalidClaim("sub")),
        (json!({"sub": "  "}), VerifyError::InvalidClaim("sub")),
        (json!({"sid": 42}), VerifyError::InvalidClaim("claims")),
    ];
    for (changes, expected) in cases {
        let token = with(changes.clone());
        assert_eq!(reason(&v, &token).await, expected, "{changes}");
    }
    // Within the 5 s leeway.
    assert!(v.verify(&with(json!({"exp": now() - 2}))).await.is_ok());
    assert!(
        v.verify(&with(json!({"nbf": now() + 2, "iat": now() + 2})))
            .await
            .is_ok()
    );
    // azp absent is accepted (Clerk's rule for native clients); aud in an array is fine.
    assert!(v.verify(&with(json!({"azp": null}))).await.is_ok());
    assert!(v.verify(&with(json!({"aud": ["x", "api"]}))).await.is_ok());
    // The issuer's trailing slash does not matter.
    assert!(
        v.verify(&with(json!({"iss": format!("{ISSUER}/")})))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn zero_leeway_is_strict() {
    let key = TestKey::es256_a();
    let v = verifier_for(
        AuthConfig::embedded()
            .with_issuer(ISSUER)
            .with_leeway_secs(0),
        &[&key],
    );
    let token = key.sign(&claims_with(json!({"exp": now() - 2})));
    assert_eq!(reason(&v, &token).await, VerifyError::Expired);
}

#[tokio::test]
async fn signature_is_checked_before_claims() {
    let (v, key) = default_verifier();
    // Expired, wrong issuer, and a bad signature: the signature is what is reported.
    let token = key.sign(&claims_with(json!({"exp": now() - 999, "iss": "x"})));
    let (head, _) = token.rsplit_once('.').unwrap();
    let other = TestKey::es256_b().sign(&claims());
    let (_, sig) = other.rsplit_once('.').unwrap();
    assert_eq!(
        reason(&v, &format!("{head}.{sig}")).await,
        VerifyError::InvalidSignature
    );
}

#[tokio::test]
async fn structural_damage() {
    let (v, key) = default_verifier();
    let token = key.sign(&claims());
    let parts: Vec<&str> = token.split('.').collect();

    // Tampered payload: a different user, original signature.
    let evil = b64(&claims_with(json!({"sub": "admin"})));
    let tampered = format!("{}.{}.{}", parts[0], evil, parts[2]);
    assert_eq!(reason(&v, &tampered).await, VerifyError::InvalidSignature);

    // Truncated signature, missing segments, extra segments.
    let truncated = &token[..token.len() - 10];
    assert!(matches!(
        reason(&v, truncated).await,
        VerifyError::InvalidSignature | VerifyError::Malformed
    ));
    assert_eq!(
        reason(&v, &format!("{}.{}", parts[0], parts[1])).await,
        VerifyError::Malformed
    );
    assert_eq!(
        reason(&v, &format!("{token}.extra")).await,
        VerifyError::Malformed
    );
    assert_eq!(
        reason(&v, &format!("{token}.")).await,
        VerifyError::Malformed
    );
    assert_eq!(reason(&v, "").await, VerifyError::Malformed);
    assert_eq!(reason(&v, "..").await, VerifyError::Malformed);

    // Bad base64 in each segment.
    assert_eq!(
        reason(&v, &format!("!!!.{}.{}", parts[1], parts[2])).await,
        VerifyError::Malformed
    );
    assert!(matches!(
        reason(&v, &format!("{}.!!!.{}", parts[0], parts[2])).await,
        VerifyError::InvalidSignature | VerifyError::Malformed
    ));
    assert!(matches!(
        reason(&v, &format!("{}.{}.!!!", parts[0], parts[1])).await,
        VerifyError::InvalidSignature | VerifyError::Malformed
    ));
    // A header that is JSON but not an object / not a JWT header.
    assert_eq!(
        reason(
            &v,
            &format!("{}.{}.{}", b64(&json!([1])), parts[1], parts[2])
        )
        .await,
        VerifyError::Malformed
    );
}

/// A validly signed token whose payload names a claim twice is refused, whichever claim: a
/// last-wins parser (serde_json's map) and a first-wins one would disagree about it.
#[tokio::test]
async fn duplicate_claims_are_refused() {
    let (v, key) = default_verifier();
    let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"ES256","kid":"{}"}}"#, key.kid));
    let sign = |payload: &str| {
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let sig =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key.encoding, Algorithm::ES256).unwrap();
        format!("{input}.{sig}")
    };
    let body = claims().to_string();
    // Control: the same payload without a duplicate verifies.
    assert!(v.verify(&sign(&body)).await.is_ok());
    for (claim, first) in [
        ("roles", r#"["admin"]"#),
        ("sid", r#""sess_other""#),
        ("org_id", r#""org_1""#),
        ("sub", r#""user_other""#),
        ("exp", "1"),
    ] {
        let payload = body.replacen('{', &format!(r#"{{"{claim}":{first},"#), 1);
        let payload = if body.contains(&format!(r#""{claim}":"#)) {
            payload
        } else {
            // A claim the base payload lacks: name it twice.
            payload.replacen('{', &format!(r#"{{"{claim}":{first},"#), 1)
        };
        assert!(
            v.verify(&sign(&payload)).await.is_err(),
            "duplicate {claim} accepted"
        );
    }
}

#[tokio::test]
async fn unknown_kid_and_missing_kid() {
    let (v, key) = default_verifier();
    let token = key.sign_with(&claims(), |h| h.kid = Some("nope".into()));
    assert_eq!(reason(&v, &token).await, VerifyError::UnknownKey);
    let token = key.sign_with(&claims(), |h| h.kid = None);
    assert_eq!(
        reason(&v, &token).await,
        VerifyError::MissingKeyId,
        "3 keys, no kid"
    );
    // A one-key set accepts a token without kid.
    let single = verifier_for(AuthConfig::embedded().with_issuer(ISSUER), &[&key]);
    assert!(single.verify(&token).await.is_ok());
}

#[tokio::test]
async fn oversize_tokens_are_refused_before_decoding() {
    let (v, key) = default_verifier();
    let big = claims_with(json!({"padding": "x".repeat(MAX_TOKEN_BYTES)}));
    assert_eq!(reason(&v, &key.sign(&big)).await, VerifyError::TooLarge);
    assert_eq!(
        reason(&v, &"a".repeat(MAX_TOKEN_BYTES + 1)).await,
        VerifyError::TooLarge
    );
}

#[tokio::test]
async fn jku_x5u_and_jwk_headers_are_ignored() {
    let (v, key) = default_verifier();
    // A valid token with remote-key headers still verifies with the local key (nothing fetched:
    // the URLs do not exist).
    let token = key.sign_with(&claims(), |h| {
        h.jku = Some("http://127.0.0.1:9/jwks".into());
        h.x5u = Some("http://127.0.0.1:9/cert".into());
    });
    assert!(v.verify(&token).await.is_ok());
    // An attacker's token pointing at the attacker's key is refused.
    let attacker = TestKey::new("es256-b", Algorithm::ES256, "es-a");
    let token = attacker.sign_with(&claims(), |h| {
        h.jku = Some("http://127.0.0.1:9/jwks".into());
        h.jwk = Some(attacker.jwk.clone());
    });
    assert_eq!(reason(&v, &token).await, VerifyError::InvalidSignature);
}

#[tokio::test]
async fn key_store_replace_rotates() {
    let a = TestKey::es256_a();
    let b = TestKey::es256_b();
    let store = KeyStore::static_set(jwks(&[&a]));
    let v = Verifier::new(&AuthConfig::embedded().with_issuer(ISSUER), store.clone()).unwrap();
    assert!(v.verify(&a.sign(&claims())).await.is_ok());
    assert_eq!(
        reason(&v, &b.sign(&claims())).await,
        VerifyError::UnknownKey
    );
    store.replace(jwks(&[&b]));
    assert!(v.verify(&b.sign(&claims())).await.is_ok());
    assert_eq!(
        reason(&v, &a.sign(&claims())).await,
        VerifyError::UnknownKey
    );
}

#[tokio::test]
async fn pem_key_source_is_networkless_and_ignores_kid() {
    for key in [TestKey::rsa(), TestKey::es256_a(), TestKey::ed25519()] {
        let config = AuthConfig::jwks(ISSUER)
            .with_authorized_parties(["https://app.example"])
            .with_key_source(KeySource::PublicKeyPem(key.public_pem.to_owned()));
        let v = Verifier::from_config(&config).unwrap();
        let token = key.sign_with(&claims(), |h| h.kid = Some("ins_whatever".into()));
        assert!(v.verify_cached(&token).is_ok(), "{:?}", key.alg);
        let other = TestKey::es256_b().sign(&claims());
        assert!(v.verify(&other).await.is_err());
    }
}

#[tokio::test]
async fn clerk_token_shape() {
    // Clerk: RS256, sub/sid/azp, org claims, no aud; configured with issuer + authorized parties.
    let key = TestKey::new("rsa", Algorithm::RS256, "ins_2abc");
    let config = AuthConfig::from_lookup(|k| {
        match k {
            "AUTH_PROVIDER" => Some("jwks"),
            "AUTH_ISSUER" => Some("https://clerk.example.test"),
            "AUTH_AUTHORIZED_PARTIES" => Some("https://app.example.test"),
            _ => None,
        }
        .map(str::to_owned)
    })
    .unwrap();
    let v = Verifier::new(&config, KeyStore::static_set(jwks(&[&key]))).unwrap();
    let token = key.sign_with(
        &json!({
            "azp": "https://app.example.test",
            "exp": now() + 60, "fva": [0, -1], "iat": now(), "nbf": now() - 10,
            "iss": "https://clerk.example.test",
            "sid": "sess_2abc", "sub": "user_2abc", "v": 2,
            "org_id": "org_1", "org_role": "org:admin", "org_slug": "acme",
            "org_permissions": ["org:posts:write"],
        }),
        |h| h.typ = Some("JWT".into()),
    );
    let c = v.verify(&token).await.unwrap();
    assert_eq!(c.sub, "user_2abc");
    assert_eq!(c.sid.as_deref(), Some("sess_2abc"));
    assert_eq!(c.extra["org_role"], "org:admin");
}

#[tokio::test]
async fn auth0_token_shape() {
    // Auth0: iss with a trailing slash, aud array, no sid, permissions, scope.
    let key = TestKey::new("rsa", Algorithm::RS256, "auth0-key");
    let config = AuthConfig::jwks("https://tenant.eu.auth0.test/")
        .with_audiences(["https://api.example.test"]);
    let v = Verifier::new(&config, KeyStore::static_set(jwks(&[&key]))).unwrap();
    let token = key.sign(&json!({
        "iss": "https://tenant.eu.auth0.test/",
        "sub": "auth0|64f1",
        "aud": ["https://api.example.test", "https://tenant.eu.auth0.test/userinfo"],
        "iat": now(), "exp": now() + 86400,
        "azp": "Xy12ClientId", "scope": "openid profile email",
        "permissions": ["read:posts"],
    }));
    let c = v.verify(&token).await.unwrap();
    assert_eq!(c.sub, "auth0|64f1");
    assert_eq!(c.sid, None);
    assert_eq!(c.permissions, ["read:posts"]);
}

#[tokio::test]
async fn keycloak_token_shape() {
    // Keycloak: RS256, aud "account", azp client id, typ "Bearer", nested realm roles.
    let key = TestKey::new("rsa", Algorithm::RS256, "kc-key");
    let config = AuthConfig::jwks("https://sso.example.test/realms/acme")
        .with_audiences(["account"])
        .with_authorized_parties(["web-app"]);
    let v = Verifier::new(&config, KeyStore::static_set(jwks(&[&key]))).unwrap();
    let token = key.sign(&json!({
        "exp": now() + 300, "iat": now(), "auth_time": now() - 5,
        "jti": "onrtac:1", "iss": "https://sso.example.test/realms/acme",
        "aud": "account", "sub": "f1b3c0de-0000-4000-8000-000000000001",
        "typ": "Bearer", "azp": "web-app", "sid": "c0ffee",
        "acr": "1", "realm_access": {"roles": ["offline_access"]},
        "scope": "openid email profile", "email_verified": true,
        "preferred_username": "ada",
    }));
    let c = v.verify(&token).await.unwrap();
    assert_eq!(c.sid.as_deref(), Some("c0ffee"));
    assert_eq!(c.extra["preferred_username"], "ada");
}

#[tokio::test]
async fn headers_to_auth_state() {
    let (v, key) = default_verifier();
    let mut headers = http::HeaderMap::new();
    assert_eq!(
        v.authenticate(&headers).await.unwrap_err(),
        VerifyError::MissingToken
    );
    assert_eq!(
        v.auth_state(&headers).await,
        auth_types::AuthState::SignedOut
    );
    headers.insert(
        "cookie",
        format!("__session={}", key.sign(&claims()))
            .parse()
            .unwrap(),
    );
    assert_eq!(v.authenticate(&headers).await.unwrap().sub, "user_1");
    let state = v.auth_state(&headers).await;
    assert_eq!(state.user_id().unwrap().as_str(), "user_1");
    assert_eq!(state.session_id().unwrap().as_str(), "sess_1");
}

/// The verified-token cache never outlives what it remembers: the key that checked the token
/// must still be the store's key for that `kid`, and the token must not have expired.
#[tokio::test]
async fn remembered_tokens_follow_key_removal_and_expiry() {
    let key = TestKey::es256_a();
    let store = KeyStore::static_set(jwks(&[&key, &TestKey::es256_b()]));
    let verifier =
        Verifier::new(&AuthConfig::embedded().with_issuer(ISSUER), store.clone()).unwrap();
    let token = key.sign(&claims());
    for _ in 0..3 {
        assert_eq!(verifier.verify(&token).await.unwrap().sub, "user_1");
    }
    // Key a removed (e.g. after rotation): the remembered success must not be served.
    store.replace(jwks(&[&TestKey::es256_b()]));
    assert!(matches!(
        reason(&verifier, &token).await,
        VerifyError::UnknownKey
    ));
    assert!(verifier.verify_cached(&token).is_err());

    // Expiry: verified while valid (no leeway), refused once `exp` has passed.
    store.replace(jwks(&[&key]));
    let strict = Verifier::new(
        &AuthConfig::embedded()
            .with_issuer(ISSUER)
            .with_leeway_secs(0),
        store,
    )
    .unwrap();
    let short = key.sign(&claims_with(json!({ "exp": now() + 1 })));
    assert!(strict.verify(&short).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(matches!(
        reason(&strict, &short).await,
        VerifyError::Expired
    ));
}
