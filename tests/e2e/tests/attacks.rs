//! The attack suite (issue 8): the built demo server attacked over real HTTP, as an adversary
//! would. No browser; every request says exactly what the test wrote (no cookie store, no
//! redirects followed).
//!
//! Every table-driven test asserts a concrete answer for each attack — `401
//! {"error":"Unauthorized"}` on the API, the signed-out page (or the 303 to `/sign-in`) on
//! documents, `403 {"error":"Forbidden"}` for cross-origin writes — and that the server process is
//! still alive afterwards. Each table also has a positive control (the same request made valid
//! succeeds), so a test cannot pass because the request was broken in some other way.
//!
//! Run: `cargo xtask bundle`, then
//! `APP_BUNDLE_DIR=<bundle> cargo test -p e2e --test attacks -- --test-threads 1`.

use e2e::AppServer;
use e2e::http::{
    CLIENT_ADDRESS_HEADER, CountingListener, FORBIDDEN, KeyPair, Session, UNAUTHORIZED, b64url,
    client, html_unescape, now, post_form, post_json, public_key_spellings, raw_request,
    server_signer, set_cookies, sign_hmac, sign_in, sign_up,
};
use jsonwebtoken::Algorithm;
use reqwest::{RequestBuilder, StatusCode, header};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery staple";

// ---- shared checks ----------------------------------------------------------------------------

/// How a token reaches the server.
#[derive(Debug, Clone, Copy)]
enum Via {
    Bearer,
    Cookie,
}

fn with_token(request: RequestBuilder, via: Via, token: &str) -> RequestBuilder {
    match via {
        Via::Bearer => request.header(header::AUTHORIZATION, format!("Bearer {token}")),
        Via::Cookie => request.header(header::COOKIE, format!("__session={token}")),
    }
}

/// Counts the attack requests a test sends (reported at the end of each test).
#[derive(Debug, Default)]
struct Tally(usize);

impl Tally {
    fn add(&mut self, n: usize) {
        self.0 += n;
    }
}

/// The API answers exactly `401 {"error":"Unauthorized"}` with a JSON content type.
async fn assert_api_401(response: reqwest::Response, what: &str) {
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::UNAUTHORIZED, UNAUTHORIZED),
        "{what}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "{what}: content-type {content_type:?}"
    );
}

/// `GET /dashboard` is refused before rendering: 303 to the sign-in page with the path kept.
async fn assert_dashboard_redirects(response: reqwest::Response, what: &str) {
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(status, StatusCode::SEE_OTHER, "{what}");
    assert_eq!(location, "/sign-in?redirect_url=%2Fdashboard", "{what}");
}

/// The page rendered for a signed-out visitor (the header offers sign-in, no user menu).
async fn assert_signed_out_page(response: reqwest::Response, what: &str) {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert_eq!(status, StatusCode::OK, "{what}");
    assert!(
        body.contains(r#"id="sign-in-link""#) && !body.contains("auth-user-button"),
        "{what}: the page is not the signed-out render"
    );
}

/// The token is worth nothing anywhere: API routes (Bearer and cookie), the protected document
/// and the home page. Returns the number of requests sent.
async fn assert_rejected_everywhere(server: &AppServer, name: &str, token: &str) -> usize {
    let http = client();
    let mut sent = 0;
    for path in ["/api/me", "/api/user"] {
        for via in [Via::Bearer, Via::Cookie] {
            let response = with_token(http.get(server.url(path)), via, token)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: GET {path} via {via:?}: {e}"));
            assert_api_401(response, &format!("{name}: GET {path} via {via:?}")).await;
            sent += 1;
        }
    }
    for via in [Via::Bearer, Via::Cookie] {
        let response = with_token(http.get(server.url("/dashboard")), via, token)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: GET /dashboard via {via:?}: {e}"));
        assert_dashboard_redirects(response, &format!("{name}: GET /dashboard via {via:?}")).await;
        sent += 1;
    }
    let response = with_token(http.get(server.url("/")), Via::Cookie, token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: GET /: {e}"));
    assert_signed_out_page(response, &format!("{name}: GET / with the cookie")).await;
    sent + 1
}

/// The token works everywhere (the positive control of a table).
async fn assert_accepted(server: &AppServer, token: &str, user_id: &str) {
    let http = client();
    for via in [Via::Bearer, Via::Cookie] {
        let response = with_token(http.get(server.url("/api/me")), via, token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "control via {via:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["user_id"], user_id, "control via {via:?}");
    }
    let response = with_token(http.get(server.url("/dashboard")), Via::Cookie, token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "control: /dashboard");
    let body = response.text().await.unwrap();
    assert!(body.contains("auth-user-button"), "control: signed-in page");
}

/// The server process is alive and answers.
async fn assert_alive(server: &mut AppServer) {
    assert!(server.is_running(), "the server process exited");
    let response = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(response.status(), StatusCode::OK);
}

/// Valid claims for `sub` on this server (embedded issuer = the public URL).
fn claims(server: &AppServer, sub: &str) -> Value {
    json!({
        "iss": server.base_url,
        "sub": sub,
        "sid": "sess_forged",
        "iat": now() - 5,
        "nbf": now() - 5,
        "exp": now() + 300,
        "roles": ["member"],
        "permissions": ["profile:read", "profile:write"],
    })
}

/// `base` with some claims changed; `null` removes a claim.
fn edit(base: &Value, changes: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in changes.as_object().expect("an object of changes") {
        if v.is_null() {
            out.as_object_mut().unwrap().remove(k);
        } else {
            out[k] = v.clone();
        }
    }
    out
}

fn es256_header(kid: &str) -> String {
    json!({ "alg": "ES256", "typ": "JWT", "kid": kid }).to_string()
}

/// The three segments of a JWT.
fn segments(token: &str) -> (&str, &str, &str) {
    let mut it = token.splitn(3, '.');
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

// ---- tokens -----------------------------------------------------------------------------------

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
    const AUDIENCE: &str = "api://demo";
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
        ("aud prefix", json!({ "aud": "api://demo/extra" })),
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

// ---- cookies and headers ----------------------------------------------------------------------

/// Several `__session` cookies are ambiguous, so the request is signed out (documented rule,
/// `token.rs`): whichever order, in one header or split across two, even when both are valid.
/// Never a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn several_session_cookies_mean_signed_out() {
    let mut server = AppServer::start().await;
    let a = sign_up(&server, "cookie-a@example.com", PASSWORD, "A").await;
    let b = sign_up(&server, "cookie-b@example.com", PASSWORD, "B").await;
    let (ta, tb) = (a.token(), b.token());
    let junk = "junk.junk.junk";
    let http = client();
    let single = |cookie: String| vec![cookie];
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "valid then junk",
            single(format!("__session={ta}; __session={junk}")),
        ),
        (
            "junk then valid",
            single(format!("__session={junk}; __session={ta}")),
        ),
        (
            "valid twice",
            single(format!("__session={ta}; __session={ta}")),
        ),
        (
            "two users",
            single(format!("__session={ta}; __session={tb}")),
        ),
        (
            "empty then valid",
            single(format!("__session=; __session={ta}")),
        ),
        (
            "split across headers (valid first)",
            vec![format!("__session={ta}"), format!("__session={junk}")],
        ),
        (
            "split across headers (junk first)",
            vec![format!("__session={junk}"), format!("__session={ta}")],
        ),
    ];
    // Control: one valid cookie among others works.
    let response = http
        .get(server.url("/api/me"))
        .header(header::COOKIE, format!("theme=dark; __session={ta}; x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut sent = 1;
    for (name, headers) in &cases {
        for path in ["/api/me", "/api/user", "/dashboard", "/"] {
            let mut request = http.get(server.url(path));
            for value in headers {
                request = request.header(header::COOKIE, value);
            }
            let response = request.send().await.unwrap();
            let what = format!("{name}: GET {path}");
            match path {
                "/dashboard" => assert_dashboard_redirects(response, &what).await,
                "/" => assert_signed_out_page(response, &what).await,
                _ => assert_api_401(response, &what).await,
            }
            sent += 1;
        }
    }
    assert_alive(&mut server).await;
    eprintln!("several_session_cookies_mean_signed_out: {sent} attack requests");
}

/// `Authorization` spelling: the scheme is case-insensitive and spaces around the token are
/// ignored (RFC 7235); a `Bearer` without exactly one token is signed out and does not fall back
/// to the cookie; another scheme falls back to the cookie; two headers are ambiguous.
#[tokio::test(flavor = "multi_thread")]
async fn authorization_header_spellings() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "bearer@example.com", PASSWORD, "Bearer").await;
    let t = user.token();
    let cookie = format!("__session={t}");
    let http = client();
    // (Authorization values, Cookie, signed in?)
    let cases: Vec<(Vec<String>, Option<&str>, bool)> = vec![
        (vec![format!("Bearer {t}")], None, true),
        (vec![format!("bearer {t}")], None, true),
        (vec![format!("BEARER {t}")], None, true),
        (vec![format!("bEaReR {t}")], None, true),
        (vec![format!("Bearer    {t}   ")], None, true),
        (vec![format!("Bearer\t{t}")], None, true),
        (vec!["Bearer".into()], None, false),
        (vec!["Bearer ".into()], None, false),
        (vec!["bearer      ".into()], None, false),
        (vec![format!("Bearer {t} {t}")], None, false),
        (vec![format!("Bearer {t} extra")], None, false),
        (vec![format!("Bearer{t}")], None, false),
        (vec![format!("Bearer,{t}")], None, false),
        (vec![format!("Token {t}")], None, false),
        (vec![format!("Basic {t}")], None, false),
        (vec![t.to_owned()], None, false),
        (vec!["Bearer junk".into()], Some(&cookie), false),
        (vec!["Bearer".into()], Some(&cookie), false),
        (
            vec![format!("Bearer {t}"), format!("Bearer {t}")],
            None,
            false,
        ),
        (
            vec![format!("Bearer {t}"), "Bearer junk".into()],
            None,
            false,
        ),
        (vec!["Basic dXNlcjpwYXNz".into()], Some(&cookie), true),
        (vec![String::new()], Some(&cookie), true),
    ];
    let mut sent = 0;
    for (values, cookie, signed_in) in &cases {
        for path in ["/api/me", "/dashboard"] {
            let mut request = http.get(server.url(path));
            for value in values {
                request = request.header(header::AUTHORIZATION, value);
            }
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, *cookie);
            }
            let response = request.send().await.unwrap();
            let what = format!(
                "Authorization {values:?}, cookie {}: {path}",
                cookie.is_some()
            );
            sent += 1;
            match (path, signed_in) {
                ("/api/me", true) | ("/dashboard", true) => {
                    assert_eq!(response.status(), StatusCode::OK, "{what}")
                }
                ("/api/me", false) => assert_api_401(response, &what).await,
                _ => assert_dashboard_redirects(response, &what).await,
            }
        }
    }
    assert_alive(&mut server).await;
    eprintln!("authorization_header_spellings: {sent} requests");
}

/// Bytes reqwest will not send (non-UTF-8 header values, a non-UTF-8 path, NUL, a raw 1 MB
/// header, 200 header lines) over a raw socket: a 4xx or the documented signed-out answer, never
/// a 5xx, and the server keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn raw_header_bytes_never_break_the_server() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "raw@example.com", PASSWORD, "Raw").await;
    let token = user.token().to_owned();
    let host = server.base_url.trim_start_matches("http://").to_owned();
    let request = |method: &str, path: &[u8], headers: &[&[u8]]| {
        let mut out = Vec::new();
        out.extend_from_slice(method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(path);
        out.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n").as_bytes(),
        );
        for h in headers {
            out.extend_from_slice(h);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out
    };
    let valid_cookie = format!("Cookie: __session={token}");
    let bearer_ff = [&b"Authorization: Bearer \xff\xfe"[..]].concat();
    let big_header = [&b"Authorization: Bearer "[..], &vec![b'a'; 1024 * 1024][..]].concat();
    let big_cookie = [&b"Cookie: __session="[..], &vec![b'a'; 1024 * 1024][..]].concat();
    let many: Vec<Vec<u8>> = (0..200)
        .map(|i| format!("X-Junk-{i}: {i}").into_bytes())
        .collect();
    let many_refs: Vec<&[u8]> = many.iter().map(Vec::as_slice).collect();

    // (name, request, allowed statuses; None = the server may also just close the connection)
    let cases: Vec<(&str, Vec<u8>, &[u16], bool)> = vec![
        (
            "Bearer with non-UTF-8 bytes",
            request("GET", b"/api/me", &[&bearer_ff]),
            &[401],
            false,
        ),
        (
            "non-UTF-8 Authorization falls back to the cookie",
            request(
                "GET",
                b"/api/me",
                &[b"Authorization: \xff\xfe", valid_cookie.as_bytes()],
            ),
            &[200],
            false,
        ),
        (
            "non-UTF-8 session cookie",
            request("GET", b"/api/me", &[b"Cookie: __session=\xff\xfe\xfd"]),
            &[401],
            false,
        ),
        (
            "non-UTF-8 bytes around a valid cookie (header ignored)",
            request(
                "GET",
                b"/api/me",
                &[[&b"Cookie: \xff=1; __session="[..], token.as_bytes()]
                    .concat()
                    .as_slice()],
            ),
            &[401],
            false,
        ),
        (
            "non-UTF-8 cookie on a document",
            request("GET", b"/", &[b"Cookie: __session=\xff\xfe"]),
            &[200],
            false,
        ),
        (
            "non-UTF-8 cookie on the protected document",
            request("GET", b"/dashboard", &[b"Cookie: __session=\xff\xfe"]),
            &[303],
            false,
        ),
        (
            "non-UTF-8 Origin on a POST",
            request(
                "POST",
                b"/auth/sign-in",
                &[
                    b"Origin: http://\xff\xfe",
                    b"Content-Type: application/json",
                    b"Content-Length: 2",
                ],
            )
            .into_iter()
            .chain(*b"{}")
            .collect(),
            &[403],
            false,
        ),
        (
            "non-UTF-8 Sec-Fetch-Site on a POST",
            request(
                "POST",
                b"/auth/sign-out",
                &[b"Sec-Fetch-Site: \xff", b"Content-Length: 0"],
            ),
            &[200, 403],
            false,
        ),
        (
            "non-UTF-8 path",
            request("GET", b"/dashboard\xff\xfe", &[]),
            &[400, 404, 303],
            false,
        ),
        (
            "NUL in a header value",
            request("GET", b"/api/me", &[b"Authorization: Bearer a\0b"]),
            &[400, 401],
            true,
        ),
        (
            "1 MB Authorization header",
            request("GET", b"/api/me", &[&big_header]),
            &[400, 401, 413, 431],
            true,
        ),
        (
            "1 MB cookie header",
            request("GET", b"/", &[&big_cookie]),
            &[200, 400, 413, 431],
            true,
        ),
        (
            "200 header lines",
            request("GET", b"/api/me", &many_refs),
            &[400, 401, 431],
            true,
        ),
        (
            "header without a colon",
            request("GET", b"/api/me", &[b"this is not a header"]),
            &[400],
            true,
        ),
    ];
    for (name, bytes, allowed, may_close) in &cases {
        let response = raw_request(&server.base_url, bytes).await;
        match response.status {
            Some(status) => assert!(
                allowed.contains(&status),
                "{name}: status {status}, expected one of {allowed:?}\n{}",
                response.head
            ),
            None => assert!(*may_close, "{name}: the server closed without answering"),
        }
        if response.status == Some(401) {
            assert!(response.body.contains(UNAUTHORIZED), "{name}: 401 body");
        }
    }
    assert_alive(&mut server).await;
    // A valid request still works after all of it.
    let response = client()
        .get(server.url("/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    eprintln!(
        "raw_header_bytes_never_break_the_server: {} attack requests",
        cases.len()
    );
}

/// Oversized credentials through reqwest: 64 KB and 100 KB Bearer tokens and cookie headers
/// (over the 8 KiB token cap, under the HTTP header limit) are signed out (401 / signed-out page /
/// 303) or refused as too large (431), never a 5xx.
#[tokio::test(flavor = "multi_thread")]
async fn oversized_credentials_are_refused() {
    let mut server = AppServer::start().await;
    let user = sign_up(&server, "big@example.com", PASSWORD, "Big").await;
    let http = client();
    let mut sent = 0;
    let big_token = |n: usize| {
        format!(
            "{}.{}.{}",
            "a".repeat(n / 3),
            "b".repeat(n / 3),
            "c".repeat(n / 3)
        )
    };
    let many_cookies = (0..10_000)
        .map(|i| format!("c{i}=v"))
        .collect::<Vec<_>>()
        .join("; ");
    let cases: Vec<(String, String)> = vec![
        (
            "64 KB Bearer".into(),
            format!("Bearer {}", big_token(64 * 1024)),
        ),
        (
            "100 KB Bearer".into(),
            format!("Bearer {}", big_token(100 * 1024)),
        ),
        (
            "64 KB cookie".into(),
            format!("__session={}", big_token(64 * 1024)),
        ),
        (
            "100 KB cookie".into(),
            format!("__session={}", big_token(100 * 1024)),
        ),
        (
            "100 KB cookie header of many cookies".into(),
            many_cookies.clone(),
        ),
        (
            "100 KB of cookies around a valid session".into(),
            format!("{many_cookies}; __session={}", user.token()),
        ),
    ];
    for (name, value) in &cases {
        let is_cookie = !value.starts_with("Bearer ");
        for path in ["/api/me", "/dashboard", "/"] {
            let request = http.get(server.url(path));
            let request = if is_cookie {
                request.header(header::COOKIE, value)
            } else {
                request.header(header::AUTHORIZATION, value)
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            sent += 1;
            let what = format!("{name}: GET {path}");
            if status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE {
                continue;
            }
            let valid_inside = name.contains("valid session");
            match (path, valid_inside) {
                (_, true) => assert_eq!(status, StatusCode::OK, "{what}"),
                ("/api/me", false) => assert_api_401(response, &what).await,
                ("/dashboard", false) => assert_dashboard_redirects(response, &what).await,
                _ => assert_signed_out_page(response, &what).await,
            }
        }
    }
    assert_alive(&mut server).await;
    eprintln!("oversized_credentials_are_refused: {sent} attack requests");
}

// ---- accounts ---------------------------------------------------------------------------------

/// SQL metacharacters, LIKE wildcards, quotes, backslashes, NUL and Unicode in every sign-up
/// field round-trip intact (JSON and form posts), sign in, and never match another account.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_account_fields_round_trip() {
    let mut server = AppServer::start().await;
    let cases: [(&str, &str, &str); 5] = [
        (
            "o'brien+x@example.com",
            "pa'ss\"word; DROP TABLE users;--",
            "Robert'); DROP TABLE users;--",
        ),
        (
            "percent%_x@example.com",
            r#"100%_match\\'" OR 1=1"#,
            r"%_\ LIKE '%' ESCAPE '\'",
        ),
        (
            "unicode.user@example.com",
            "pässwörd-🔑-密码-пароль",
            "Zoë Ünïcødé 名前 مرحبا 👩‍💻 \u{202e}txt",
        ),
        (
            "x`{|}~'--@example.com",
            "nul\u{0}byte\u{0}password",
            "$1 $$ ${name} {{name}} %s %n \\0",
        ),
        (
            "q@example.com",
            "\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}\u{1F600}",
            "\u{fdfd}\u{200b}\u{feff}",
        ),
    ];
    let http = client();
    let mut sent = 0;
    for (email, password, name) in cases {
        let session = sign_up(&server, email, password, name).await;
        sent += 1;
        assert_eq!(
            session.body["user"]["email"], email,
            "sign-up echoes the email"
        );
        assert_eq!(
            session.body["user"]["name"],
            name.trim(),
            "sign-up echoes the name"
        );
        let again = sign_in(&server, email, password).await;
        sent += 1;
        assert_eq!(again.user_id(), session.user_id(), "{email}: same account");
        let user: Value = http
            .get(server.url("/api/user"))
            .header(header::COOKIE, again.cookie_header())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(user["name"], name.trim(), "{email}: stored name");
        assert_eq!(user["email"], email, "{email}: stored email");
        let snapshot: Value = http
            .get(server.url("/auth/session"))
            .header(header::COOKIE, again.cookie_header())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            snapshot["user"]["name"],
            name.trim(),
            "{email}: /auth/session"
        );
    }
    // The same through a form post (what the prebuilt form sends before the wasm loads).
    let form_name = "Form'; DELETE FROM sessions;-- Ω";
    let response = post_form(
        &server,
        "/auth/sign-up",
        &[
            ("email", "form'user@example.com"),
            ("password", "f0rm'pass\"&=%"),
            ("name", form_name),
        ],
        None,
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(set_cookies(&response).contains_key("__session"));
    let session = sign_in(&server, "form'user@example.com", "f0rm'pass\"&=%").await;
    assert_eq!(session.body["user"]["name"], form_name);

    // Wildcards and injections in the sign-in email match nothing (each with a real password).
    for (email, password) in [
        ("%@example.com", cases[0].1),
        ("_'brien+x@example.com", cases[0].1),
        ("o'brien+x@example.com' --", cases[0].1),
        ("' OR '1'='1", cases[0].1),
        ("' OR 1=1 --@example.com", cases[0].1),
        ("percent%@example.com", cases[1].1),
        ("percent%_x@example.com\u{0}", cases[1].1),
        ("*@example.com", cases[2].1),
    ] {
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{email:?}");
        assert!(set_cookies(&response).is_empty(), "{email:?}: no cookies");
    }
    // Refused input is a 422 with a fixed message, never a 500.
    for (what, body) in [
        (
            "NUL in name",
            json!({ "email": "n1@example.com", "password": PASSWORD, "name": "a\u{0}b" }),
        ),
        (
            "newline in name",
            json!({ "email": "n2@example.com", "password": PASSWORD, "name": "a\r\nSet-Cookie: x=1" }),
        ),
        (
            "201-character name",
            json!({ "email": "n3@example.com", "password": PASSWORD, "name": "é".repeat(201) }),
        ),
        (
            "Unicode email",
            json!({ "email": "ünï@exämple.com", "password": PASSWORD, "name": "x" }),
        ),
        (
            "email with quotes",
            json!({ "email": "\"a\"@example.com", "password": PASSWORD, "name": "x" }),
        ),
        (
            "email is SQL",
            json!({ "email": "'; DROP TABLE users; --", "password": PASSWORD, "name": "x" }),
        ),
        (
            "email a number",
            json!({ "email": 1, "password": PASSWORD, "name": "x" }),
        ),
        (
            "password an object",
            json!({ "email": "n4@example.com", "password": { "$ne": null }, "name": "x" }),
        ),
    ] {
        let response = post_json(&server, "/auth/sign-up", &body, None).await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}"
        );
    }
    // Nothing was dropped: the first account still signs in.
    sign_in(&server, cases[0].0, cases[0].1).await;
    assert_alive(&mut server).await;
    eprintln!("hostile_account_fields_round_trip: {sent} attack requests");
}

/// Every base64 hydration payload Dioxus embeds in the page (the initial data and the data of
/// streamed suspense boundaries, `window.dx_hydrate([…], "…")`), decoded and concatenated.
fn hydration_data(html: &str) -> Vec<u8> {
    use base64::Engine as _;
    let mut data = Vec::new();
    let mut found = 0;
    for (marker, quote) in [
        ("window.initial_dioxus_hydration_data=", "\""),
        ("window.dx_hydrate(", "], \""),
    ] {
        let mut rest = html;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            let Some(open) = rest.find(quote) else { break };
            let start = open + quote.len();
            let Some(len) = rest[start..].find('"') else {
                break;
            };
            let encoded = &rest[start..start + len];
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap_or_else(|e| panic!("hydration data is not base64 ({e}): {encoded:.80}"));
            data.extend_from_slice(&decoded);
            found += 1;
        }
    }
    assert!(found > 0, "the page carries no hydration data");
    data
}

/// Whether `text` is in the hydration data. Dioxus serialises each value to bytes and stores
/// those bytes in its CBOR payload as an array of integers (`0x18 b` for each byte ≥ 24), so
/// the text appears either contiguously or byte by byte with that prefix.
fn contains_serialised(data: &[u8], text: &str) -> bool {
    let plain = text.as_bytes();
    let spread: Vec<u8> = plain
        .iter()
        .flat_map(|&b| if b < 24 { vec![b] } else { vec![0x18, b] })
        .collect();
    [plain, spread.as_slice()]
        .iter()
        .any(|needle| data.windows(needle.len()).any(|w| w == *needle))
}

/// Markup in a user's name is text: escaped in the SSR HTML of every page that shows it and
/// carried (base64, so inert) in the serialised hydration data; reflected query parameters are
/// escaped too. The raw `</script><script>` sequence never appears in a page.
#[tokio::test(flavor = "multi_thread")]
async fn markup_in_names_is_escaped_in_html_and_hydration_data() {
    let mut server = AppServer::start().await;
    let first = r#"</script><script>alert(1)</script><!--"'&"#;
    let session = sign_up(&server, "xss@example.com", PASSWORD, first).await;
    let http = client();
    let mut sent = 1;
    let dangerous = [
        "</script><script>",
        "<script>alert(",
        "<img src=x",
        "<svg onload",
    ];
    let check_pages = |name: &'static str| {
        let http = http.clone();
        let cookies = session.cookie_header();
        let server = &server;
        async move {
            for path in ["/dashboard", "/profile", "/"] {
                let response = http
                    .get(server.url(path))
                    .header(header::COOKIE, &cookies)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{path}");
                let html = response.text().await.unwrap();
                for bad in dangerous {
                    assert!(!html.contains(bad), "{path}: raw {bad:?} in the HTML");
                }
                // The home page shows only initials; the others show the name.
                assert!(
                    path == "/" || html_unescape(&html).contains(name),
                    "{path}: the name is not rendered as text"
                );
                assert!(
                    contains_serialised(&hydration_data(&html), name),
                    "{path}: the name is missing from the hydration data"
                );
            }
        }
    };
    check_pages(first).await;
    sent += 3;

    // The same after a change through the profile server function.
    let second = r#"</SCRIPT><img src=x onerror=alert(2)><svg onload=alert(3)>"#;
    let response = post_json(
        &server,
        "/auth/ui/profile/name",
        &json!({ "name": second }),
        Some(&session.cookie_header()),
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::OK, "update_name");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], second);
    let dangerous_upper = ["</SCRIPT>", "<img src=x", "<svg onload"];
    for path in ["/dashboard", "/profile", "/"] {
        let html = http
            .get(server.url(path))
            .header(header::COOKIE, session.cookie_header())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        sent += 1;
        for bad in dangerous_upper {
            assert!(!html.contains(bad), "{path}: raw {bad:?} in the HTML");
        }
        assert!(
            path == "/" || html_unescape(&html).contains(second),
            "{path}: the new name is not rendered as text"
        );
    }

    // Reflected query parameters of the sign-in / sign-up pages.
    for path in ["/sign-in", "/sign-up"] {
        let url = format!(
            "{path}?redirect_url=%22%3E%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E\
             &error=%3C%2Fscript%3E%3Cscript%3Ealert(2)%3C%2Fscript%3E"
        );
        let response = http.get(server.url(&url)).send().await.unwrap();
        sent += 1;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let html = response.text().await.unwrap();
        for bad in dangerous {
            assert!(!html.contains(bad), "{url}: raw {bad:?} in the HTML");
        }
    }
    assert_alive(&mut server).await;
    eprintln!("markup_in_names_is_escaped_in_html_and_hydration_data: {sent} attack requests");
}

/// Case and whitespace variants of an email (and a Unicode character that lowercases to ASCII)
/// are the same account: sign-up answers 409, sign-in reaches the one account.
#[tokio::test(flavor = "multi_thread")]
async fn email_variants_are_one_account() {
    let mut server = AppServer::start().await;
    let original = sign_up(&server, "Kelvin.Case@Example.COM", PASSWORD, "K").await;
    assert_eq!(original.body["user"]["email"], "kelvin.case@example.com");
    let variants = [
        "kelvin.case@example.com",
        "KELVIN.CASE@EXAMPLE.COM",
        "Kelvin.Case@example.com",
        "  kelvin.case@example.com  ",
        "\tkelvin.case@EXAMPLE.com\n",
        "\u{212a}elvin.case@example.com", // KELVIN SIGN lowercases to `k`
    ];
    let mut sent = 0;
    for email in variants {
        let response = post_json(
            &server,
            "/auth/sign-up",
            &json!({ "email": email, "password": "another password 123", "name": "dup" }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::CONFLICT, "{email:?}");
        assert!(set_cookies(&response).is_empty(), "{email:?}: no session");
        let response = post_form(
            &server,
            "/auth/sign-up",
            &[("email", email), ("password", "another password 123")],
            None,
        )
        .await;
        sent += 1;
        assert_eq!(
            response.headers()[header::LOCATION],
            "/sign-up?error=email_taken&redirect_url=%2F",
            "{email:?} (form)"
        );
        let session = sign_in(&server, email, PASSWORD).await;
        sent += 1;
        assert_eq!(session.user_id(), original.user_id(), "{email:?}");
    }
    assert_alive(&mut server).await;
    eprintln!("email_variants_are_one_account: {sent} attack requests");
}

/// One sign-in attempt's observable answer: status, body, cookies set, Location, and the time.
async fn attempt(
    server: &AppServer,
    email: &str,
    password: &str,
) -> (u16, String, usize, Duration) {
    let started = Instant::now();
    let response = post_json(
        server,
        "/auth/sign-in",
        &json!({ "email": email, "password": password }),
        None,
    )
    .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let cookies = set_cookies(&response).len();
    (status, response.text().await.unwrap(), cookies, elapsed)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Unknown email and wrong password are indistinguishable: same status, same body bytes, no
/// cookies, the same form redirect, and comparable time (both verify an argon2 hash). A taken
/// email at sign-up answers a fixed 409 that is the same whatever password is sent and carries no
/// account data.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_does_not_reveal_accounts() {
    // Many failures from this test: each request poses as another address (see
    // `password_spraying_from_one_address_is_rate_limited` for the per-address limit itself).
    let mut server =
        AppServer::start_with_env(&[("AUTH_TRUSTED_IP_HEADER", CLIENT_ADDRESS_HEADER)]).await;
    let known = sign_up(&server, "known@example.com", PASSWORD, "Known Person").await;
    let mut sent = 0;
    // Warm up (first argon2 run allocates).
    attempt(&server, "warmup@example.com", "warm up password").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    let mut answers = Vec::new();
    for i in 0..5 {
        let w = attempt(&server, "known@example.com", &format!("wrong password {i}")).await;
        let u = attempt(&server, &format!("nobody{i}@example.com"), PASSWORD).await;
        sent += 2;
        wrong.push(w.3);
        unknown.push(u.3);
        answers.push((w.0, w.1, w.2));
        answers.push((u.0, u.1, u.2));
    }
    // Malformed emails and overlong passwords get the very same answer.
    for (email, password) in [
        ("not-an-email", PASSWORD.to_owned()),
        ("", PASSWORD.to_owned()),
        ("known@example.com", "x".repeat(300)),
    ] {
        let a = attempt(&server, email, &password).await;
        sent += 1;
        answers.push((a.0, a.1, a.2));
    }
    let first = answers[0].clone();
    assert_eq!(first.0, 401);
    assert_eq!(first.2, 0, "a failed sign-in sets no cookie");
    for a in &answers {
        assert_eq!(a, &first, "every failed sign-in answers the same");
    }
    let (w, u) = (median(wrong), median(unknown));
    eprintln!("sign-in failure timing: wrong password {w:?}, unknown email {u:?}");
    assert!(
        u * 4 >= w && w * 4 >= u,
        "timing reveals accounts: wrong password {w:?} vs unknown email {u:?}"
    );

    // Form posts: the same redirect.
    let mut locations = Vec::new();
    for email in ["known@example.com", "nobody-form@example.com"] {
        let response = post_form(
            &server,
            "/auth/sign-in",
            &[("email", email), ("password", "wrong password form")],
            None,
        )
        .await;
        sent += 1;
        locations.push(response.headers()[header::LOCATION].clone());
    }
    assert_eq!(locations[0], locations[1]);
    assert_eq!(
        locations[0],
        "/sign-in?error=invalid_credentials&redirect_url=%2F"
    );

    // Sign-up with a taken email: a fixed answer that does not depend on the password sent (no
    // password oracle) and contains nothing about the account.
    let mut bodies = Vec::new();
    for password in [PASSWORD, "a different password"] {
        let response = post_json(
            &server,
            "/auth/sign-up",
            &json!({ "email": "known@example.com", "password": password, "name": "x" }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert!(
            set_cookies(&response).is_empty(),
            "no session for a taken email"
        );
        bodies.push(response.text().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1], "the answer depends on the password");
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert!(
        keys.iter().all(|k| *k == "error" || *k == "code"),
        "409 body has extra fields: {body}"
    );
    for secret in [
        known.user_id().as_str(),
        "Known Person",
        "known@example.com",
    ] {
        assert!(!bodies[0].contains(secret), "409 body reveals {secret:?}");
    }
    assert_alive(&mut server).await;
    eprintln!("sign_in_does_not_reveal_accounts: {sent} attack requests");
}

/// Password guessing on one account stops at the limit (10 failures): 429 with `Retry-After`,
/// also for the *right* password, for every spelling of the email, and for form posts.
#[tokio::test(flavor = "multi_thread")]
async fn brute_force_is_rate_limited() {
    let mut server = AppServer::start().await;
    sign_up(&server, "target@example.com", PASSWORD, "Target").await;
    let mut sent = 0;
    for i in 0..10 {
        let (status, ..) = attempt(&server, "target@example.com", &format!("guess {i:04}")).await;
        sent += 1;
        assert_eq!(status, 401, "guess {i} is an ordinary failure");
    }
    for (email, password) in [
        ("target@example.com", "guess 0010"),
        ("target@example.com", PASSWORD),
        ("TARGET@example.com", PASSWORD),
        ("  target@EXAMPLE.com ", PASSWORD),
    ] {
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{email:?}"
        );
        let retry: u64 = response.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry > 0 && retry <= 15 * 60, "Retry-After {retry}");
        assert!(
            set_cookies(&response).is_empty(),
            "no session while limited"
        );
    }
    let response = post_form(
        &server,
        "/auth/sign-in",
        &[("email", "target@example.com"), ("password", PASSWORD)],
        None,
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/sign-in?error=rate_limited&redirect_url=%2F"
    );
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert!(set_cookies(&response).is_empty());
    assert_alive(&mut server).await;
    eprintln!("brute_force_is_rate_limited: {sent} attack requests");
}

/// `session_id` of a token, as the API sees it.
async fn session_id(server: &AppServer, token: &str) -> String {
    let body: Value = client()
        .get(server.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned()
}

/// The answer to a request carrying only these cookies.
async fn me_with_cookies(server: &AppServer, cookies: &str) -> StatusCode {
    client()
        .get(server.url("/api/me"))
        .header(header::COOKIE, cookies)
        .send()
        .await
        .unwrap()
        .status()
}

/// Session fixation: whatever cookies the browser carries at sign-in (an attacker's own session
/// planted in the victim's browser, or made-up values), sign-in issues a brand-new session id
/// and refresh secret, and the planted session no longer works.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_never_keeps_a_planted_session() {
    let mut server = AppServer::start().await;
    let victim = sign_up(&server, "fix-victim@example.com", PASSWORD, "Victim").await;
    let attacker = sign_up(&server, "fix-attacker@example.com", PASSWORD, "Attacker").await;
    let attacker_sid = session_id(&server, attacker.token()).await;
    let mut sent = 0;

    // Two plain sign-ins of one user: two sessions.
    let s1 = sign_in(&server, "fix-victim@example.com", PASSWORD).await;
    let s2 = sign_in(&server, "fix-victim@example.com", PASSWORD).await;
    assert_ne!(
        session_id(&server, s1.token()).await,
        session_id(&server, s2.token()).await
    );
    assert_ne!(s1.refresh(), s2.refresh());

    // A second live session of the attacker, for the refresh-only plant (the first one is
    // revoked by the first case: a sign-in revokes the session its cookies pointed at).
    let attacker_live = sign_in(&server, "fix-attacker@example.com", PASSWORD).await;
    let planted_cases = [
        ("attacker's own session", attacker.cookie_header()),
        (
            "attacker's live refresh cookie only",
            format!("__refresh={}", attacker_live.refresh()),
        ),
        (
            "attacker's revoked refresh cookie only",
            format!("__refresh={}", attacker.refresh()),
        ),
        (
            "made-up values",
            "__session=fixed.by.attacker; __refresh=fixed-by-attacker-0123456789".to_owned(),
        ),
        (
            "attacker's JWT with a junk refresh",
            format!("__session={}; __refresh=junk", attacker_live.token()),
        ),
    ];
    for (what, planted) in &planted_cases {
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": "fix-victim@example.com", "password": PASSWORD }),
            Some(planted),
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        // The cookies a browser keeps: `Set-Cookie`s applied in order, the last one wins.
        let new = set_cookies(&response);
        for name in ["__session", "__refresh"] {
            let value = new.get(name).map(String::as_str).unwrap_or_default();
            assert!(
                !value.is_empty(),
                "{what}: the browser ends up without {name}"
            );
            assert!(
                !planted.contains(&format!("{name}={value}")),
                "{what}: {name} was kept"
            );
        }
        let sid = session_id(&server, &new["__session"]).await;
        assert_ne!(sid, attacker_sid, "{what}: session id reused");
        // And that session is the victim's.
        let me: Value = client()
            .get(server.url("/api/me"))
            .header(header::COOKIE, format!("__session={}", new["__session"]))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["user_id"], victim.user_id(), "{what}: whose session?");
        // The planted refresh secret is worth nothing now.
        if let Some(refresh) = planted.split("; ").find(|c| c.starts_with("__refresh=")) {
            assert_eq!(
                me_with_cookies(&server, refresh).await,
                StatusCode::UNAUTHORIZED,
                "{what}: the planted refresh cookie still works"
            );
            sent += 1;
        }
    }
    assert_alive(&mut server).await;
    eprintln!("sign_in_never_keeps_a_planted_session: {sent} attack requests");
}

/// A stolen refresh cookie (or session JWT) stops working at the provider when the user signs out
/// everywhere — and a single sign-out kills that session's refresh cookie.
#[tokio::test(flavor = "multi_thread")]
async fn stolen_cookies_die_with_sign_out() {
    let mut server = AppServer::start().await;
    let device_a = sign_up(&server, "stolen@example.com", PASSWORD, "Stolen").await;
    let device_b = sign_in(&server, "stolen@example.com", PASSWORD).await;
    let stolen_refresh = format!("__refresh={}", device_b.refresh());
    let stolen_jwt = device_b.token().to_owned();
    let http = client();
    let mut sent = 0;

    // Before: the stolen refresh cookie alone signs in (renewed in the same request).
    assert_eq!(
        me_with_cookies(&server, &stolen_refresh).await,
        StatusCode::OK
    );

    // Someone without a live session cannot sign everyone out.
    let response = post_json(
        &server,
        "/auth/sign-out-all",
        &json!({}),
        Some("__refresh=not-a-real-secret"),
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        me_with_cookies(&server, &stolen_refresh).await,
        StatusCode::OK
    );

    // The owner signs out everywhere from device A.
    let response = post_json(
        &server,
        "/auth/sign-out-all",
        &json!({}),
        Some(&device_a.cookie_header()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    for (what, cookies) in [
        ("stolen refresh", stolen_refresh.clone()),
        (
            "device A refresh",
            format!("__refresh={}", device_a.refresh()),
        ),
        (
            "stolen refresh + expired-looking session",
            format!("__session=junk; {stolen_refresh}"),
        ),
    ] {
        assert_eq!(
            me_with_cookies(&server, &cookies).await,
            StatusCode::UNAUTHORIZED,
            "{what}"
        );
        let response = http
            .get(server.url("/dashboard"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap();
        assert_dashboard_redirects(response, what).await;
        let snapshot: Value = http
            .get(server.url("/auth/session"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(snapshot["auth"]["status"], "signed_out", "{what}");
        let response = http
            .get(server.url("/auth/token"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{what}: /auth/token"
        );
        sent += 4;
    }
    // The provider's own endpoints see the revocation at once, even with the unexpired JWT.
    for cookies in [
        format!("__session={stolen_jwt}"),
        format!("__session={stolen_jwt}; {stolen_refresh}"),
    ] {
        let response = http
            .get(server.url("/auth/token"))
            .header(header::COOKIE, &cookies)
            .send()
            .await
            .unwrap();
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "stolen JWT at /auth/token"
        );
    }

    // A single sign-out revokes that session's refresh secret.
    let device_c = sign_in(&server, "stolen@example.com", PASSWORD).await;
    let copied = format!("__refresh={}", device_c.refresh());
    assert_eq!(me_with_cookies(&server, &copied).await, StatusCode::OK);
    let response = post_json(
        &server,
        "/auth/sign-out",
        &json!({}),
        Some(&device_c.cookie_header()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        me_with_cookies(&server, &copied).await,
        StatusCode::UNAUTHORIZED
    );
    sent += 1;
    assert_alive(&mut server).await;
    eprintln!("stolen_cookies_die_with_sign_out: {sent} attack requests");
}

// ---- CSRF and redirects -----------------------------------------------------------------------

/// Cross-origin writes are refused with 403 before anything happens, on every state-changing
/// endpoint and server function (and any other method or path), for every way a browser can
/// reveal a foreign origin: `Origin`, `Origin: null`, `Sec-Fetch-Site`, a foreign `Referer`.
#[tokio::test(flavor = "multi_thread")]
async fn cross_origin_writes_are_forbidden() {
    let mut server = AppServer::start().await;
    let victim = sign_up(&server, "csrf@example.com", PASSWORD, "Original Name").await;
    let cookies = victim.cookie_header();
    let port = server.base_url.rsplit(':').next().unwrap().to_owned();
    let own = server.base_url.clone();
    let http = client();

    let foreign: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "evil origin",
            vec![("origin", "https://evil.example".into())],
        ),
        ("null origin", vec![("origin", "null".into())]),
        (
            "lookalike origin",
            vec![("origin", format!("{own}.evil.example"))],
        ),
        (
            "other port",
            vec![(
                "origin",
                format!("http://127.0.0.1:{}", port.parse::<u16>().unwrap() ^ 1),
            )],
        ),
        (
            "localhost is another origin",
            vec![("origin", format!("http://localhost:{port}"))],
        ),
        (
            "origin list",
            vec![("origin", format!("https://evil.example {own}"))],
        ),
        (
            "evil origin and host",
            vec![
                ("origin", "http://evil.example".into()),
                ("host", "evil.example".into()),
            ],
        ),
        (
            "evil origin, same-origin fetch metadata",
            vec![
                ("origin", "https://evil.example".into()),
                ("sec-fetch-site", "same-origin".into()),
            ],
        ),
        (
            "no origin, cross-site",
            vec![("sec-fetch-site", "cross-site".into())],
        ),
        (
            "no origin, same-site",
            vec![("sec-fetch-site", "same-site".into())],
        ),
        (
            "no origin, foreign referer, cross-site",
            vec![
                ("referer", "https://evil.example/page".into()),
                ("sec-fetch-site", "cross-site".into()),
            ],
        ),
        (
            "no origin, foreign referer",
            vec![("referer", "https://evil.example/page".into())],
        ),
        (
            "no origin, lookalike referer",
            vec![("referer", format!("{own}.evil.example/"))],
        ),
    ];
    let sign_up_body =
        json!({ "email": "csrf-new@example.com", "password": PASSWORD, "name": "n" });
    let sign_in_body = json!({ "email": "csrf@example.com", "password": PASSWORD });
    let form = |fields: &[(&str, &str)]| {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish()
    };
    // (method, path, content type, body)
    let targets: Vec<(&str, &str, &str, String)> = vec![
        (
            "POST",
            "/auth/sign-up",
            "application/json",
            sign_up_body.to_string(),
        ),
        (
            "POST",
            "/auth/sign-up",
            "application/x-www-form-urlencoded",
            form(&[("email", "csrf-new@example.com"), ("password", PASSWORD)]),
        ),
        (
            "POST",
            "/auth/sign-in",
            "application/json",
            sign_in_body.to_string(),
        ),
        (
            "POST",
            "/auth/sign-in",
            "application/x-www-form-urlencoded",
            form(&[("email", "csrf@example.com"), ("password", PASSWORD)]),
        ),
        (
            "POST",
            "/auth/sign-in",
            "text/plain",
            sign_in_body.to_string(),
        ),
        ("POST", "/auth/sign-out", "application/json", "{}".into()),
        ("POST", "/auth/sign-out", "", String::new()),
        (
            "POST",
            "/auth/sign-out-all",
            "application/json",
            "{}".into(),
        ),
        (
            "POST",
            "/auth/sign-out-all",
            "application/x-www-form-urlencoded",
            String::new(),
        ),
        (
            "POST",
            "/auth/ui/profile/name",
            "application/json",
            json!({ "name": "Pwned" }).to_string(),
        ),
        (
            "POST",
            "/auth/ui/profile/name",
            "text/plain",
            json!({ "name": "Pwned" }).to_string(),
        ),
        (
            "PUT",
            "/auth/ui/profile/name",
            "application/json",
            json!({ "name": "Pwned" }).to_string(),
        ),
        ("PATCH", "/api/user", "application/json", "{}".into()),
        ("DELETE", "/api/user", "", String::new()),
        ("DELETE", "/auth/sign-out", "", String::new()),
        ("POST", "/api/me", "", String::new()),
        ("POST", "/api/greeting", "", String::new()),
        (
            "POST",
            "/dashboard",
            "application/x-www-form-urlencoded",
            "a=1".into(),
        ),
        ("POST", "/auth/session", "", String::new()),
        ("POST", "/nowhere", "", String::new()),
    ];
    let mut sent = 0;
    for (method, path, content_type, body) in &targets {
        for (what, headers) in &foreign {
            let mut request = http
                .request(method.parse().unwrap(), server.url(path))
                .header(header::COOKIE, &cookies)
                .body(body.clone());
            if !content_type.is_empty() {
                request = request.header(header::CONTENT_TYPE, *content_type);
            }
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = request.send().await.unwrap();
            sent += 1;
            let status = response.status();
            let set = set_cookies(&response);
            let text = response.text().await.unwrap_or_default();
            assert_eq!(
                (status, text.as_str()),
                (StatusCode::FORBIDDEN, FORBIDDEN),
                "{method} {path} ({content_type}) with {what}"
            );
            assert!(set.is_empty(), "{method} {path} with {what}: cookies set");
        }
    }
    // Nothing happened: no account was created, the session is alive, the name is unchanged.
    let user: Value = http
        .get(server.url("/api/user"))
        .header(header::COOKIE, &cookies)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        user["name"], "Original Name",
        "a cross-origin write went through"
    );
    let response = post_json(
        &server,
        "/auth/sign-in",
        &json!({ "email": "csrf-new@example.com", "password": PASSWORD }),
        None,
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "cross-origin sign-up created an account"
    );
    // Controls: the same writes from the app's own origin work (no Origin at all, as a non-browser
    // client sends, is allowed too).
    let response = post_json(
        &server,
        "/auth/ui/profile/name",
        &json!({ "name": "Changed" }),
        Some(&cookies),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "same-origin update_name");
    let response = http
        .post(server.url("/auth/sign-in"))
        .header("sec-fetch-site", "same-origin")
        .header("referer", server.url("/sign-in"))
        .json(&sign_in_body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "same-origin sign-in without Origin"
    );
    assert_alive(&mut server).await;
    eprintln!("cross_origin_writes_are_forbidden: {sent} attack requests");
}

/// `redirect_url` can only lead back into the app: every off-site spelling (scheme, `//`, `\`,
/// encoded and whitespace tricks, `javascript:`/`data:`, header injection) is replaced by `/` in
/// the sign-in and sign-up answers (JSON and form, success and error) and at sign-out. "Same
/// origin" is judged the way a browser resolves the `Location`.
#[tokio::test(flavor = "multi_thread")]
async fn redirect_url_stays_on_the_site() {
    let mut server = AppServer::start().await;
    sign_up(&server, "redirect@example.com", PASSWORD, "R").await;
    let base = url::Url::parse(&server.base_url).unwrap();
    let same_origin = |location: &str, what: &str| {
        assert!(
            location.starts_with('/')
                && !location.starts_with("//")
                && !location.starts_with("/\\")
                && location.bytes().all(|b| b.is_ascii_graphic()),
            "{what}: Location {location:?}"
        );
        let resolved = base.join(location).expect("a resolvable Location");
        assert_eq!(
            resolved.origin(),
            base.origin(),
            "{what}: {location:?} leaves the site"
        );
    };
    let evil = [
        "https://evil.example",
        "http://evil.example/dashboard",
        "//evil.example",
        "///evil.example",
        "////evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "\\\\evil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/%2F%2Fevil.example",
        "%2F%2Fevil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "\t//evil.example",
        "/\t/evil.example",
        " //evil.example",
        "/ /evil.example",
        "\n//evil.example",
        "/\r\nLocation: https://evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "https:evil.example",
        "https:/evil.example",
        "evil.example",
        "@evil.example",
        "/@evil.example",
        "/.//evil.example",
        "/\u{3002}evil.example",
        "/\u{ff0f}evil.example",
        "\u{2215}\u{2215}evil.example",
        "/dashboard#//evil.example",
    ];
    let mut sent = 0;
    for target in evil {
        let what = format!("redirect_url {target:?}");
        // JSON sign-in: the answer's redirect_url.
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": "redirect@example.com", "password": PASSWORD, "redirect_url": target }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::OK, "{what}");
        let body: Value = response.json().await.unwrap();
        same_origin(
            body["redirect_url"].as_str().unwrap(),
            &format!("{what} (JSON)"),
        );
        // Form sign-in: the 303.
        let response = post_form(
            &server,
            "/auth/sign-in",
            &[
                ("email", "redirect@example.com"),
                ("password", PASSWORD),
                ("redirect_url", target),
            ],
            None,
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{what} (form)");
        let location = response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        same_origin(&location, &format!("{what} (form)"));
        let session = Session {
            cookies: set_cookies(&response),
            body: Value::Null,
        };
        // Form sign-up that fails (taken email): back to the form, carrying only a safe redirect_url.
        let response = post_form(
            &server,
            "/auth/sign-up",
            &[
                ("email", "redirect@example.com"),
                ("password", PASSWORD),
                ("redirect_url", target),
            ],
            None,
        )
        .await;
        sent += 1;
        let location = response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        same_origin(&location, &format!("{what} (form error)"));
        let carried = url::Url::parse("http://x.invalid")
            .unwrap()
            .join(&location)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "redirect_url")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default();
        same_origin(&carried, &format!("{what} (carried in the form error)"));
        // Sign-out with the redirect.
        let response = post_form(
            &server,
            "/auth/sign-out",
            &[("redirect_url", target)],
            Some(&session.cookie_header()),
        )
        .await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::SEE_OTHER,
            "{what} (sign-out)"
        );
        let location = response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        same_origin(&location, &format!("{what} (sign-out)"));
    }
    // Control: a same-origin path is kept exactly.
    let response = post_form(
        &server,
        "/auth/sign-in",
        &[
            ("email", "redirect@example.com"),
            ("password", PASSWORD),
            ("redirect_url", "/dashboard?tab=2"),
        ],
        None,
    )
    .await;
    assert_eq!(response.headers()[header::LOCATION], "/dashboard?tab=2");
    assert_alive(&mut server).await;
    eprintln!("redirect_url_stays_on_the_site: {sent} attack requests");
}

/// The profile server function (`POST /auth/ui/profile/name`): signed out or forged → 401, the
/// sign-up rules for names hold (control characters, length, blank), and malformed bodies are a
/// 4xx — never a 5xx, never a change.
#[tokio::test(flavor = "multi_thread")]
async fn profile_name_server_function_is_guarded() {
    let mut server = AppServer::start().await;
    let session = sign_up(&server, "profile@example.com", PASSWORD, "Profile Owner").await;
    let real = server_signer(&server).await;
    let forged = real.sign_raw(
        &json!({ "alg": "ES256", "kid": "unknown" }).to_string(),
        &claims(&server, &session.user_id()).to_string(),
    );
    let http = client();
    let mut sent = 0;
    for (what, cookie) in [
        ("no session", None),
        ("forged session", Some(format!("__session={forged}"))),
        ("junk session", Some("__session=a.b.c".to_owned())),
    ] {
        let response = post_json(
            &server,
            "/auth/ui/profile/name",
            &json!({ "name": "Pwned" }),
            cookie.as_deref(),
        )
        .await;
        sent += 1;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    }
    let cookies = session.cookie_header();
    for (what, body) in [
        ("NUL", json!({ "name": "a\u{0}b" })),
        ("CR LF", json!({ "name": "a\r\nb" })),
        ("DEL", json!({ "name": "a\u{7f}" })),
        ("201 characters", json!({ "name": "é".repeat(201) })),
        ("blank", json!({ "name": "   " })),
        ("empty", json!({ "name": "" })),
    ] {
        let response = post_json(&server, "/auth/ui/profile/name", &body, Some(&cookies)).await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            response.text().await.unwrap_or_default()
        );
    }
    for (what, content_type, body) in [
        (
            "name a number",
            "application/json",
            r#"{"name":1}"#.to_owned(),
        ),
        ("name missing", "application/json", "{}".to_owned()),
        ("array", "application/json", "[]".to_owned()),
        ("not JSON", "application/json", "name=x".to_owned()),
        (
            "truncated JSON",
            "application/json",
            r#"{"name":"#.to_owned(),
        ),
        (
            "deep nesting",
            "application/json",
            format!(r#"{{"name":{}"#, "[".repeat(100_000)),
        ),
        (
            "1 MB name",
            "application/json",
            json!({ "name": "a".repeat(1024 * 1024) }).to_string(),
        ),
        (
            "2 MB name",
            "application/json",
            json!({ "name": "a".repeat(2 * 1024 * 1024) }).to_string(),
        ),
    ] {
        let response = http
            .post(server.url("/auth/ui/profile/name"))
            .header("origin", &server.base_url)
            .header(header::COOKIE, &cookies)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await;
        sent += 1;
        // A server may refuse a huge body by closing the connection; otherwise a 4xx.
        if let Ok(response) = response {
            assert!(
                response.status().is_client_error(),
                "{what}: {}",
                response.status()
            );
        }
    }
    let user: Value = http
        .get(server.url("/api/user"))
        .header(header::COOKIE, &cookies)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        user["name"], "Profile Owner",
        "a refused update changed the name"
    );
    // Control: a valid update works and is trimmed.
    let response = post_json(
        &server,
        "/auth/ui/profile/name",
        &json!({ "name": "  New Name  " }),
        Some(&cookies),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"], "New Name");
    assert_alive(&mut server).await;
    eprintln!("profile_name_server_function_is_guarded: {sent} attack requests");
}

/// Password spraying: one address trying one password against many accounts. The release server
/// sees the peer address (`ConnectInfo`), so after the per-address budget (10 failures) every
/// further attempt from it is refused, whatever the account — with no proxy header configured.
#[tokio::test(flavor = "multi_thread")]
async fn password_spraying_from_one_address_is_rate_limited() {
    let server = AppServer::start().await;
    sign_up(&server, "sprayed@example.com", PASSWORD, "Sprayed").await;
    for i in 0..10 {
        let (status, ..) = attempt(&server, &format!("user{i}@example.com"), "Summer2026!").await;
        assert_eq!(status, 401, "attempt {i} is an ordinary failure");
    }
    // Another account, even with its right password: this address has used its budget.
    let (status, ..) = attempt(&server, "sprayed@example.com", PASSWORD).await;
    assert_eq!(status, 429, "the 11th attempt from one address is refused");
}

/// A burst of concurrent guesses against one account: each is counted before its (slow) password
/// check, so no more than the budget (10) get an answer other than 429.
#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_burst_of_guesses_cannot_overshoot_the_limit() {
    // Each request poses as another address: only the per-account limit is under test here.
    let server =
        AppServer::start_with_env(&[("AUTH_TRUSTED_IP_HEADER", CLIENT_ADDRESS_HEADER)]).await;
    sign_up(&server, "burst@example.com", PASSWORD, "Burst").await;
    let guesses = (0..40).map(|i| {
        let server = &server;
        async move {
            attempt(server, "burst@example.com", &format!("parallel guess {i}"))
                .await
                .0
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + limited, statuses.len(), "{statuses:?}");
    assert!(
        checked <= 10,
        "{checked} guesses were checked: {statuses:?}"
    );
}
