//! Forged tokens and the claims of an external issuer.

use crate::{
    PASSWORD, Tally, assert_accepted, assert_alive, assert_rejected_everywhere, claims, edit,
    es256_header, segments,
};
use e2e::AppServer;
use e2e::http::{
    CountingListener, KeyPair, b64url, client, now, public_key_spellings, server_signer, sign_hmac,
    sign_up,
};
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Every forged, broken or borrowed token is signed out on every surface of the embedded
/// deployment (the default): `alg` games, algorithm confusion with the public key, wrong claims
/// under a *valid* signature (the provider's own key, read from its database), structure and
/// encoding breakage, size, `kid` tricks, and key-URL headers that must never be fetched.
#[tokio::test(flavor = "multi_thread")]
async fn forged_tokens_are_signed_out_everywhere() {
    let mut server = AppServer::start().await;
    let victim = sign_up(&server, "victim@example.com", PASSWORD, "Victim").await;
    let uid = victim.user_id();
    let real = server_signer(&server).await;
    let kid = real.kid.clone();
    let good = claims(&server, &uid);

    // Positive controls: a token we forge with the provider's key works, and so does the one the
    // provider issued. Without these, every "401" below could be an artefact of the harness.
    assert_accepted(&server, &real.sign(&good), &uid).await;
    assert_accepted(&server, victim.token(), &uid).await;

    let attacker = KeyPair::generate("attacker-key");
    let attacker_jwks = json!({ "keys": [attacker.jwk] }).to_string();
    let listener = CountingListener::start(attacker_jwks.clone()).await;
    let jwks: Value = client()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let server_jwk = jwks["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid.as_str()))
        .expect("the signing key is published")
        .clone();

    // ES256 signatures are randomised: sign until the token has a `-` or `_`, or its "standard
    // base64 alphabet" spelling below would be the valid token itself (about 1 run in 15).
    let valid = std::iter::repeat_with(|| real.sign(&good))
        .find(|token| token.contains(['-', '_']))
        .expect("an endless supply of signatures");
    let (h, p, s) = segments(&valid);
    let good_payload = good.to_string();
    let signed = |claims: Value| real.sign(&claims);
    let raw = |header: &str, payload: &str| real.sign_raw(header, payload);
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut case = |name: &str, token: String| cases.push((name.to_owned(), token));

    // `alg: none` in its spellings, with and without a signature.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64url(json!({ "alg": alg, "typ": "JWT" }).to_string());
        case(
            &format!("alg {alg}, empty signature"),
            format!("{header}.{p}."),
        );
        case(
            &format!("alg {alg}, real signature"),
            format!("{header}.{p}.{s}"),
        );
        let header = b64url(json!({ "alg": alg, "kid": kid }).to_string());
        case(&format!("alg {alg} with kid"), format!("{header}.{p}."));
    }
    case(
        "alg missing",
        raw(
            &json!({ "typ": "JWT", "kid": kid }).to_string(),
            &good_payload,
        ),
    );
    case(
        "alg empty",
        raw(&json!({ "alg": "", "kid": kid }).to_string(), &good_payload),
    );
    case(
        "alg null",
        raw(
            &json!({ "alg": null, "kid": kid }).to_string(),
            &good_payload,
        ),
    );
    case(
        "alg number",
        raw(
            &json!({ "alg": 256, "kid": kid }).to_string(),
            &good_payload,
        ),
    );
    // Another asymmetric alg name over an ES256 signature.
    for alg in ["ES384", "ES512", "RS256", "PS256", "EdDSA"] {
        case(
            &format!("alg {alg} over ES256 signature"),
            raw(
                &json!({ "alg": alg, "kid": kid }).to_string(),
                &good_payload,
            ),
        );
    }
    // Algorithm confusion: HMAC keyed with the server's public key, in every spelling.
    for (spelling, secret) in public_key_spellings(&server_jwk) {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let header = json!({ "alg": format!("{alg:?}"), "typ": "JWT", "kid": kid });
            case(
                &format!("{alg:?} keyed with public key ({spelling})"),
                sign_hmac(alg, &header, &good, &secret),
            );
        }
        let header = json!({ "alg": "HS256", "typ": "JWT" });
        case(
            &format!("HS256 keyed with public key ({spelling}), no kid"),
            sign_hmac(Algorithm::HS256, &header, &good, &secret),
        );
    }
    case(
        "HS256 with an empty secret",
        sign_hmac(
            Algorithm::HS256,
            &json!({ "alg": "HS256", "kid": kid }),
            &good,
            b"",
        ),
    );
    // Signatures that are not the provider's.
    case(
        "attacker key, server kid",
        attacker.signer.sign_raw(&es256_header(&kid), &good_payload),
    );
    case("attacker key, own kid", attacker.signer.sign(&good));
    case(
        "attacker key, no kid",
        attacker
            .signer
            .sign_raw(&json!({ "alg": "ES256" }).to_string(), &good_payload),
    );
    case("empty signature", format!("{h}.{p}."));
    case(
        "all-zero signature",
        format!("{h}.{p}.{}", b64url([0u8; 64])),
    );
    case("signature of another token", {
        let other = real.sign(&edit(&good, json!({ "sid": "another" })));
        format!("{h}.{p}.{}", segments(&other).2)
    });
    case("last signature byte flipped", {
        let mut sig = e2e::http::b64url_decode(s);
        *sig.last_mut().unwrap() ^= 1;
        format!("{h}.{p}.{}", b64url(sig))
    });
    case("DER-encoded signature", {
        // ECDSA signatures in JWS are r‖s; a DER SEQUENCE must not be accepted either.
        let sig = e2e::http::b64url_decode(s);
        let mut der = vec![0x30, 0x44, 0x02, 0x20];
        der.extend_from_slice(&sig[..32]);
        der.extend_from_slice(&[0x02, 0x20]);
        der.extend_from_slice(&sig[32..]);
        format!("{h}.{p}.{}", b64url(der))
    });
    // Tampering: payload or header changed, signature kept.
    for (what, payload) in [
        ("sub", edit(&good, json!({ "sub": "user_attacker" }))),
        ("roles", edit(&good, json!({ "roles": ["admin"] }))),
        ("exp", edit(&good, json!({ "exp": now() + 86_400 * 365 }))),
    ] {
        case(
            &format!("tampered payload ({what})"),
            format!("{h}.{}.{s}", b64url(payload.to_string())),
        );
    }
    case(
        "tampered header (typ)",
        format!(
            "{}.{p}.{s}",
            b64url(json!({ "alg": "ES256", "typ": "at+jwt", "kid": kid }).to_string())
        ),
    );
    // Wrong claims under a valid signature.
    for (what, changes) in [
        ("iss wrong", json!({ "iss": "https://evil.example" })),
        (
            "iss lookalike",
            json!({ "iss": format!("{}.evil.example", server.base_url) }),
        ),
        (
            "iss with path",
            json!({ "iss": format!("{}/evil", server.base_url) }),
        ),
        (
            "iss upper-case",
            json!({ "iss": server.base_url.to_uppercase() }),
        ),
        ("iss missing", json!({ "iss": null })),
        ("iss not a string", json!({ "iss": 1 })),
        ("iss array", json!({ "iss": [server.base_url] })),
        ("expired an hour ago", json!({ "exp": now() - 3600 })),
        ("expired beyond the leeway", json!({ "exp": now() - 30 })),
        ("exp zero", json!({ "exp": 0 })),
        ("exp negative", json!({ "exp": -1 })),
        ("exp missing", json!({ "exp": null })),
        ("exp a string", json!({ "exp": (now() + 300).to_string() })),
        ("exp huge float", json!({ "exp": 1e300 })),
        ("exp fractional", json!({ "exp": now() as f64 + 300.5 })),
        ("nbf in the future", json!({ "nbf": now() + 3600 })),
        ("nbf a string", json!({ "nbf": "0" })),
        ("iat in the future", json!({ "iat": now() + 3600 })),
        ("iat a string", json!({ "iat": "yesterday" })),
        ("sub missing", json!({ "sub": null })),
        ("sub a number", json!({ "sub": 42 })),
        ("sub an array", json!({ "sub": [uid] })),
        ("sub an object", json!({ "sub": { "id": uid } })),
        ("sub true", json!({ "sub": true })),
        ("roles not strings", json!({ "roles": [1, 2] })),
        ("sid not a string", json!({ "sid": { "id": 1 } })),
    ] {
        case(what, signed(edit(&good, changes)));
    }
    case(
        "sub explicitly null",
        raw(
            &es256_header(&kid),
            &good_payload.replacen(&format!(r#""sub":"{uid}""#), r#""sub":null"#, 1),
        ),
    );
    // Payloads and headers that are not JSON objects (validly signed).
    for (what, payload) in [
        ("payload array", "[]"),
        ("payload string", r#""sub""#),
        ("payload number", "123"),
        ("payload null", "null"),
        ("payload true", "true"),
        ("payload empty", ""),
        ("payload broken JSON", r#"{"sub":"#),
        (
            "payload with trailing garbage",
            &format!("{good_payload}xyz"),
        ),
        ("payload with BOM", &format!("\u{feff}{good_payload}")),
        ("payload nested 10000 deep", &"[".repeat(10_000)),
    ] {
        case(what, raw(&es256_header(&kid), payload));
    }
    for (what, header) in [
        ("header array", "[]".to_owned()),
        ("header string", r#""ES256""#.to_owned()),
        ("header null", "null".to_owned()),
        ("header broken JSON", r#"{"alg":"ES256""#.to_owned()),
        ("header nested 10000 deep", "{\"a\":".repeat(10_000)),
    ] {
        case(what, raw(&header, &good_payload));
    }
    // Duplicate claims / header fields (raw JSON; last-wins parsers would see another value).
    let dup = |claim: &str, first: &str| {
        let payload = good_payload.replacen('{', &format!("{{\"{claim}\":{first},"), 1);
        raw(&es256_header(&kid), &payload)
    };
    case("duplicate sub", dup("sub", r#""user_other""#));
    case("duplicate exp", dup("exp", &(now() - 3600).to_string()));
    case("duplicate iss", dup("iss", r#""https://evil.example""#));
    case("duplicate nbf", dup("nbf", &(now() + 3600).to_string()));
    case("duplicate roles", dup("roles", r#"["admin"]"#));
    case("duplicate sid", dup("sid", r#""sess_other""#));
    case(
        "duplicate alg (none first)",
        raw(
            &format!(r#"{{"alg":"none","alg":"ES256","kid":"{kid}"}}"#),
            &good_payload,
        ),
    );
    case(
        "duplicate kid",
        raw(
            &format!(r#"{{"alg":"ES256","kid":"unknown","kid":"{kid}"}}"#),
            &good_payload,
        ),
    );
    // Structure: truncated, extra segments, bad base64url.
    case("header only", h.to_owned());
    case("two segments", format!("{h}.{p}"));
    case("truncated signature", valid[..valid.len() - 10].to_owned());
    case("half a token", valid[..valid.len() / 2].to_owned());
    case("trailing dot", format!("{valid}."));
    case("extra segment", format!("{valid}.x"));
    case("five segments (JWE shape)", format!("{h}.{p}.{s}.{s}.{s}"));
    case("dots only", "....".to_owned());
    case("empty segments", "..".to_owned());
    case("padded base64", {
        let pad = |seg: &str| format!("{seg}{}", "=".repeat((4 - seg.len() % 4) % 4));
        format!("{}.{}.{}", pad(h), pad(p), pad(s))
    });
    let standard_alphabet = valid.replace('-', "+").replace('_', "/");
    assert_ne!(
        standard_alphabet, valid,
        "the variant must differ from the valid token"
    );
    case("standard base64 alphabet", standard_alphabet);
    case("illegal characters", format!("{h}!.{p}$.{s}*"));
    case("percent-encoded", valid.replace('.', "%2E"));
    case("not a JWT at all", "hello".to_owned());
    // Size: far over the 8 KiB token cap (the header and the payload, validly signed).
    case(
        "64 KB header",
        raw(
            &json!({ "alg": "ES256", "kid": kid, "pad": "a".repeat(64 * 1024) }).to_string(),
            &good_payload,
        ),
    );
    case(
        "64 KB payload",
        signed(edit(&good, json!({ "pad": "a".repeat(64 * 1024) }))),
    );
    // `kid` tricks (validly signed by the real key, so only the key lookup can refuse them).
    for bad_kid in [
        "unknown-kid".to_owned(),
        "../../etc/passwd".to_owned(),
        "../../../../../../dev/random".to_owned(),
        "/dev/zero".to_owned(),
        "file:///etc/passwd".to_owned(),
        "' OR '1'='1".to_owned(),
        format!("{kid}' --"),
        format!("{kid}\u{0}"),
        format!("{kid} "),
        kid.to_uppercase(),
        format!("{}/.well-known/jwks.json", listener.url),
        "k".repeat(4000),
    ] {
        case(
            &format!("kid {:?}", &bad_kid[..bad_kid.len().min(40)]),
            raw(
                &json!({ "alg": "ES256", "kid": bad_kid }).to_string(),
                &good_payload,
            ),
        );
    }
    for (what, bad_kid) in [
        ("kid a number", json!(1)),
        ("kid an object", json!({ "kid": kid })),
        ("kid an array", json!([kid])),
    ] {
        case(
            what,
            raw(
                &json!({ "alg": "ES256", "kid": bad_kid }).to_string(),
                &good_payload,
            ),
        );
    }
    // Key-location headers: the attacker's key, offered by URL or inline. Never fetched, never
    // trusted.
    let jku = format!("{}/.well-known/jwks.json", listener.url);
    let x5u = format!("{}/cert.pem", listener.url);
    for (what, header) in [
        (
            "jku to attacker JWKS",
            json!({ "alg": "ES256", "kid": attacker.signer.kid, "jku": jku }),
        ),
        (
            "jku with server kid",
            json!({ "alg": "ES256", "kid": kid, "jku": jku }),
        ),
        (
            "x5u to attacker",
            json!({ "alg": "ES256", "kid": attacker.signer.kid, "x5u": x5u }),
        ),
        (
            "embedded jwk",
            json!({ "alg": "ES256", "jwk": attacker.jwk }),
        ),
        (
            "embedded jwk with kid",
            json!({ "alg": "ES256", "kid": attacker.signer.kid, "jwk": attacker.jwk }),
        ),
        (
            "embedded jwk with server kid",
            json!({ "alg": "ES256", "kid": kid, "jwk": attacker.jwk }),
        ),
        (
            "x5c garbage chain",
            json!({ "alg": "ES256", "x5c": [b64url(b"not a certificate")] }),
        ),
        (
            "jku + x5u + jwk",
            json!({ "alg": "ES256", "kid": attacker.signer.kid, "jku": jku, "x5u": x5u, "jwk": attacker.jwk }),
        ),
    ] {
        case(
            what,
            attacker.signer.sign_raw(&header.to_string(), &good_payload),
        );
    }

    let mut tally = Tally::default();
    for (name, token) in &cases {
        tally.add(assert_rejected_everywhere(&server, name, token).await);
    }
    assert_eq!(
        listener.connections(),
        0,
        "the server fetched a key URL from a token header"
    );
    // The real session is untouched by all of it.
    assert_accepted(&server, &real.sign(&good), &uid).await;
    assert_alive(&mut server).await;
    eprintln!(
        "forged_tokens_are_signed_out_everywhere: {} tokens, {} attack requests",
        cases.len(),
        tally.0
    );
}

/// An app trusting an external issuer (`AUTH_PROVIDER=jwks` with `AUTH_PUBLIC_KEY`, an audience
/// and authorized parties configured): wrong `iss`, `aud` and `azp` under a valid signature are
/// refused, as are other keys and algorithm confusion with that public key.
#[tokio::test(flavor = "multi_thread")]
async fn external_issuer_claims_are_enforced() {
    const ISSUER: &str = "https://issuer.test";
    const AUDIENCE: &str = "api://orders";
    let trusted = KeyPair::generate("trusted");
    let mut server = AppServer::start_with_env(&[
        ("AUTH_PROVIDER", "jwks"),
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_PUBLIC_KEY", &trusted.public_pem),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("AUTH_AUTHORIZED_PARTIES", "http://127.0.0.1:{port}"),
    ])
    .await;
    let azp = server.base_url.clone();
    let good = json!({
        "iss": ISSUER, "sub": "user_ext", "aud": AUDIENCE, "azp": azp,
        "iat": now() - 5, "nbf": now() - 5, "exp": now() + 300,
    });
    // Controls: the right claims pass (with `aud` as a string or a list, and without `azp`).
    let http = client();
    for claims in [
        good.clone(),
        edit(&good, json!({ "aud": ["other", AUDIENCE] })),
        edit(&good, json!({ "azp": null })),
        edit(&good, json!({ "iss": format!("{ISSUER}/") })),
    ] {
        let response = http
            .get(server.url("/api/me"))
            .bearer_auth(trusted.signer.sign(&claims))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "control {claims}");
    }

    let mut cases: Vec<(String, String)> = Vec::new();
    for (what, changes) in [
        ("aud wrong", json!({ "aud": "api://other" })),
        ("aud missing", json!({ "aud": null })),
        ("aud empty list", json!({ "aud": [] })),
        ("aud list without ours", json!({ "aud": ["a", "b"] })),
        ("aud a number", json!({ "aud": 1 })),
        ("aud prefix", json!({ "aud": format!("{AUDIENCE}/extra") })),
        ("azp wrong", json!({ "azp": "https://evil.example" })),
        ("azp empty", json!({ "azp": "" })),
        ("azp a number", json!({ "azp": 1 })),
        ("azp a list", json!({ "azp": [azp] })),
        (
            "azp lookalike",
            json!({ "azp": format!("{azp}.evil.example") }),
        ),
        ("iss wrong", json!({ "iss": "https://evil.example" })),
        (
            "iss lookalike",
            json!({ "iss": "https://issuer.test.evil.example" }),
        ),
        ("iss http", json!({ "iss": "http://issuer.test" })),
        ("iss missing", json!({ "iss": null })),
        ("expired", json!({ "exp": now() - 3600 })),
        ("nbf in the future", json!({ "nbf": now() + 3600 })),
        ("sub missing", json!({ "sub": null })),
        ("sub a number", json!({ "sub": 7 })),
    ] {
        cases.push((what.to_owned(), trusted.signer.sign(&edit(&good, changes))));
    }
    let other = KeyPair::generate("trusted");
    cases.push(("another key, same kid".into(), other.signer.sign(&good)));
    let payload = b64url(good.to_string());
    cases.push((
        "alg none".into(),
        format!("{}.{payload}.", b64url(r#"{"alg":"none"}"#)),
    ));
    for (spelling, secret) in public_key_spellings(&trusted.jwk) {
        cases.push((
            format!("HS256 keyed with the public key ({spelling})"),
            sign_hmac(Algorithm::HS256, &json!({ "alg": "HS256" }), &good, &secret),
        ));
    }

    let mut tally = Tally::default();
    for (name, token) in &cases {
        tally.add(assert_rejected_everywhere(&server, name, token).await);
    }
    assert_alive(&mut server).await;
    eprintln!(
        "external_issuer_claims_are_enforced: {} tokens, {} attack requests",
        cases.len(),
        tally.0
    );
}
