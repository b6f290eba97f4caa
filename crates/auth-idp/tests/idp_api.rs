//! HTTP tests of the identity provider endpoints, each on SQLite and on PostgreSQL.

mod idp_support;

use auth_idp::{RateLimitConfig, UserUpdate};
use auth_server::Renewed;
use auth_types::{SessionClaims, UserId};
use idp_support::{Jar, Kind, Renewal, Server, TestDb, renew, verify};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;
use std::time::Duration;

const PW: &str = "correct horse battery";

both_backends!(
    sign_up_json_sets_cookies_and_session,
    sign_up_rejects_bad_input,
    sign_in_success_and_uniform_failures,
    sign_in_rate_limited_per_account_and_address,
    form_posts_redirect_safely,
    cross_origin_requests_are_refused,
    sign_out_and_sign_out_all_revoke,
    refresh_hook_after_expiry,
    session_endpoint_renews_before_expiry,
    expired_refresh_signs_out,
    users_api,
    database_unavailable_is_503,
    concurrent_duplicate_sign_ups,
);

async fn sign_up_json_sets_cookies_and_session(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    let r = s.sign_up("  Ada@Example.COM ", PW, &mut jar).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["user"]["email"], "ada@example.com");
    assert_eq!(r.body["user"]["name"], "Test User");
    assert_eq!(r.body["auth"]["status"], "signed_in");
    assert_eq!(r.body["auth"]["roles"], json!(["member"]));
    assert_eq!(
        r.body["auth"]["permissions"],
        json!(["profile:read", "profile:write"])
    );
    assert!(r.body["user"].get("private_metadata").is_none());
    let cookies = r.set_cookies();
    assert_eq!(
        cookies.len(),
        2,
        "both Set-Cookie headers arrive: {cookies:?}"
    );
    for c in &cookies {
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/"));
        assert!(!c.contains("Secure"), "http public URL: no Secure");
    }
    assert!(cookies.iter().any(|c| c.starts_with("__session=")));
    assert!(
        cookies
            .iter()
            // Kept for the idle timeout (7 days), renewed by each refresh.
            .any(|c| c.starts_with("__refresh=") && c.contains("Max-Age=604800"))
    );

    // GET /auth/session
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["auth"]["status"], "signed_in");
    assert_eq!(r.body["user"]["email"], "ada@example.com");
    let user_id = r.body["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["auth"]["user_id"], user_id.as_str());

    // GET /auth/token, verified with the published JWKS.
    let r = s.get("/auth/token", &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let token = r.body["token"].as_str().unwrap().to_owned();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let jwks: JwkSet = s
        .http
        .get(s.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks.keys.len(), 1);
    assert!(
        jwks.keys[0].common.key_id.is_some(),
        "published keys have a kid"
    );
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let text = serde_json::to_string(&jwks).unwrap();
    assert!(!text.contains("\"d\""), "no private key material");
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[s.base.as_str()]);
    let claims: SessionClaims =
        jsonwebtoken::decode(&token, &DecodingKey::from_jwk(jwk).unwrap(), &v)
            .unwrap()
            .claims;
    assert_eq!(claims.sub, user_id);
    assert!(claims.sid.as_deref().unwrap().starts_with("sess_"));
    assert_eq!(r.body["expires_at"], claims.exp);
    assert_eq!(claims.exp - claims.iat.unwrap(), 60);
    assert_eq!(claims.nbf, claims.iat);
    assert_eq!(s.idp.jwks().keys.len(), 1);

    // Discovery document.
    let r = s
        .get("/.well-known/openid-configuration", &mut Jar::default())
        .await;
    assert_eq!(r.body["issuer"], s.base.as_str());
    assert_eq!(
        r.body["jwks_uri"],
        format!("{}/.well-known/jwks.json", s.base).as_str()
    );

    // Without cookies: signed out, token 401.
    let r = s.get("/auth/session", &mut Jar::default()).await;
    assert_eq!(
        r.body,
        json!({"auth": {"status": "signed_out"}, "user": null})
    );
    let r = s.get("/auth/token", &mut Jar::default()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "Unauthorized");
}

async fn sign_up_rejects_bad_input(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start_with(&db, |c| c.with_max_body_bytes(16 * 1024)).await;
    let mut jar = Jar::default();
    let cases = [
        (
            json!({"email": "not-an-email", "password": PW, "name": "x"}),
            422,
            "Invalid email address",
        ),
        (
            json!({"email": "a@b", "password": PW}),
            422,
            "Invalid email address",
        ),
        (
            json!({"email": "a@b.co", "password": "short"}),
            422,
            "Password must be 8 to 128 characters and differ from the email",
        ),
        (
            json!({"email": "a@b.co", "password": "x".repeat(257)}),
            422,
            "Password must be 8 to 128 characters and differ from the email",
        ),
        (
            json!({"email": "long@b.co", "password": "LONG@b.co"}),
            422,
            "Password must be 8 to 128 characters and differ from the email",
        ),
        (
            json!({"email": "a@b.co", "password": PW, "name": "n".repeat(201)}),
            422,
            "Name must be at most 200 characters",
        ),
        (json!({"email": "a@b.co"}), 422, "Missing or invalid fields"),
        (
            json!({"email": 5, "password": PW}),
            422,
            "Missing or invalid fields",
        ),
    ];
    for (body, status, message) in cases {
        let r = s.post_json("/auth/sign-up", body.clone(), &mut jar).await;
        assert_eq!((r.status, r.error()), (status, message), "{body}");
        assert!(r.set_cookies().is_empty());
    }

    // Duplicate email (after normalisation) → 409 with a vague message.
    assert_eq!(s.sign_up("dup@example.com", PW, &mut jar).await.status, 201);
    let r = s.sign_up(" DUP@example.com", PW, &mut Jar::default()).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.error(), "This email cannot be used to sign up");

    // Malformed JSON, wrong content type, oversized body, wrong method.
    let raw = |ct: &'static str, body: Vec<u8>| {
        s.http
            .post(s.url("/auth/sign-up"))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = raw("application/json", b"{\"email\": ".to_vec())
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "Malformed request body"
    );
    let r = raw("text/plain", b"email=a@b.co".to_vec()).await.unwrap();
    assert_eq!(r.status(), 415);
    assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    let r = s
        .http
        .post(s.url("/auth/sign-in"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415, "missing content type");
    let big = format!(
        r#"{{"email":"a@b.co","password":"{}"}}"#,
        "x".repeat(20_000)
    );
    let r = raw("application/json", big.into_bytes()).await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "Request body too large"
    );
    let r = s.http.get(s.url("/auth/sign-up")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    let r = s.http.post(s.url("/auth/session")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = s
        .http
        .post(s.url("/auth/sign-in"))
        .header("content-type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);

    let users = s.idp.users().list(1, 100).await.unwrap();
    assert_eq!(users.total, 1, "no user was created by a rejected request");
}

async fn sign_in_success_and_uniform_failures(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut first = Jar::default();
    assert_eq!(
        s.sign_up("bob@example.com", PW, &mut first).await.status,
        201
    );
    let first_sid = s.get("/auth/session", &mut first).await.body["auth"]["session_id"].clone();

    let mut jar = first.clone();
    let r = s.sign_in(" BOB@example.com", PW, &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email"], "bob@example.com");
    assert_eq!(r.body["redirect_url"], "/");
    assert_eq!(r.set_cookies().len(), 2);
    let new_sid = r.body["auth"]["session_id"].clone();
    assert!(new_sid.is_string());
    assert_ne!(
        new_sid, first_sid,
        "sign-in always creates a new session id"
    );
    assert!(
        matches!(renew(&s.idp, &first).await, Renewal::Ended),
        "the replaced session is revoked"
    );
    assert!(matches!(renew(&s.idp, &jar).await, Renewal::Renewed(_)));

    let wrong = s
        .sign_in("bob@example.com", "wrong password!", &mut Jar::default())
        .await;
    let unknown = s
        .sign_in("nobody@example.com", PW, &mut Jar::default())
        .await;
    let malformed = s.sign_in("not an email", PW, &mut Jar::default()).await;
    for r in [&wrong, &unknown, &malformed] {
        assert_eq!(r.status, 401);
        assert_eq!(r.text, r#"{"error":"Invalid email or password"}"#);
        assert!(r.set_cookies().is_empty());
    }
}

async fn sign_in_rate_limited_per_account_and_address(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start_with(&db, |c| {
        // The per-account ceiling (100 by default) and the per-address budget (20) at the
        // pair's 10, so that each is reached here; `crates/auth-idp/tests/limits.rs` tests them
        // apart. The header is single-valued here (one address per request).
        c.with_trusted_ip_header(http::HeaderName::from_static("x-forwarded-for"))
            .with_rate_limit(RateLimitConfig {
                account_max_failures: 10,
                address_max_failures: 10,
                ..RateLimitConfig::default()
            })
    })
    .await;
    assert_eq!(
        s.sign_up("carol@example.com", PW, &mut Jar::default())
            .await
            .status,
        201
    );

    // Per account: 10 failures from 10 different addresses, then 429 even with the right password.
    for i in 0..10 {
        let mut jar = Jar::default();
        jar.extra.push(("x-forwarded-for", format!("10.0.0.{i}")));
        let r = s
            .sign_in("carol@example.com", "wrong password!", &mut jar)
            .await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let mut jar = Jar::default();
    jar.extra.push(("x-forwarded-for", "10.0.1.1".into()));
    let r = s.sign_in("carol@example.com", PW, &mut jar).await;
    assert_eq!(r.status, 429);
    assert_eq!(r.error(), "Too many attempts, try again later");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    // The per-account window is an hour (counted in 4-minute slots).
    assert!((1..=3840).contains(&retry), "{retry}");

    // Per address: 10 failures on different accounts from one address.
    let mut jar = Jar::default();
    jar.extra.push(("x-forwarded-for", "192.0.2.7".into()));
    for i in 0..10 {
        let r = s
            .sign_in(&format!("u{i}@example.com"), "wrong password!", &mut jar)
            .await;
        assert_eq!(r.status, 401);
    }
    let r = s.sign_in("someone@example.com", PW, &mut jar).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // Form variant: redirect with the code and a Retry-After.
    let r = s
        .post_form(
            "/auth/sign-in",
            &[("email", "x@example.com"), ("password", PW)],
            &mut jar,
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-in?error=rate_limited")
    );
    assert!(r.header("retry-after").is_some());
    // Another address is unaffected.
    let mut other = Jar::default();
    other.extra.push(("x-forwarded-for", "192.0.2.8".into()));
    assert_eq!(
        s.sign_in("someone@example.com", PW, &mut other)
            .await
            .status,
        401
    );
}

async fn form_posts_redirect_safely(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    let r = s
        .post_form(
            "/auth/sign-up",
            &[
                ("email", "dora@example.com"),
                ("password", PW),
                ("name", "Dora"),
                ("redirect_url", "/dashboard?tab=1"),
            ],
            &mut jar,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(r.header("location"), Some("/dashboard?tab=1"));
    assert_eq!(r.set_cookies().len(), 2);
    assert_eq!(
        s.get("/auth/session", &mut jar).await.body["user"]["name"],
        "Dora"
    );

    for evil in [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/ok\r\nx: y",
    ] {
        let r = s
            .post_form(
                "/auth/sign-in",
                &[
                    ("email", "dora@example.com"),
                    ("password", PW),
                    ("redirect_url", evil),
                ],
                &mut Jar::default(),
            )
            .await;
        assert_eq!(r.status, 303);
        assert_eq!(r.header("location"), Some("/"), "{evil:?}");
        let r = s
            .post_json(
                "/auth/sign-in",
                json!({"email": "dora@example.com", "password": PW, "redirect_url": evil}),
                &mut Jar::default(),
            )
            .await;
        assert_eq!(r.body["redirect_url"], "/", "{evil:?}");
    }

    // Form errors go back to the form page with a code, keeping the (safe) redirect.
    let r = s
        .post_form(
            "/auth/sign-in",
            &[
                ("email", "dora@example.com"),
                ("password", "nope nope nope"),
                ("redirect_url", "/x"),
            ],
            &mut Jar::default(),
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        r.header("location"),
        Some("/sign-in?error=invalid_credentials&redirect_url=%2Fx")
    );
    assert!(r.set_cookies().is_empty());
    let r = s
        .post_form(
            "/auth/sign-up",
            &[
                ("email", "bad"),
                ("password", PW),
                ("redirect_url", "//evil.example"),
            ],
            &mut Jar::default(),
        )
        .await;
    assert_eq!(
        r.header("location"),
        Some("/sign-up?error=invalid_email&redirect_url=%2F")
    );
    let r = s
        .post_form(
            "/auth/sign-up",
            &[("email", "dora@example.com"), ("password", PW)],
            &mut Jar::default(),
        )
        .await;
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-up?error=email_taken")
    );
    let r = s
        .post_form(
            "/auth/sign-up",
            &[("email", "e@example.com"), ("password", "short")],
            &mut Jar::default(),
        )
        .await;
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-up?error=invalid_password")
    );
    // Missing fields in a form: a clear 4xx JSON.
    let r = s
        .post_form("/auth/sign-in", &[("email", "x@y.co")], &mut Jar::default())
        .await;
    assert_eq!(r.status, 422);

    // Form sign-out redirects and clears the cookies.
    let r = s
        .post_form("/auth/sign-out", &[("redirect_url", "/bye")], &mut jar)
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/bye"));
    assert!(jar.cookies.is_empty());
}

async fn cross_origin_requests_are_refused(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("eve@example.com", PW, &mut jar).await.status, 201);
    let body = json!({"email": "eve@example.com", "password": PW});
    let post = |origin: Option<&str>, site: Option<&str>, path: &str| {
        let mut req = s.http.post(s.url(path)).json(&body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req.header("cookie", jar.header().unwrap()).send()
    };
    for (origin, site) in [
        (Some("https://evil.example"), None),
        (Some("null"), None),
        (Some("http://127.0.0.1:1"), None),
        (None, Some("cross-site")),
        (Some("https://evil.example"), Some("same-origin")),
    ] {
        for path in [
            "/auth/sign-in",
            "/auth/sign-up",
            "/auth/sign-out",
            "/auth/sign-out-all",
        ] {
            let r = post(origin, site, path).await.unwrap();
            assert_eq!(r.status(), 403, "{origin:?} {site:?} {path}");
            assert_eq!(r.text().await.unwrap(), r#"{"error":"Forbidden"}"#);
        }
    }
    // Own origin and same-origin fetches pass.
    let r = post(Some(&s.base), Some("same-origin"), "/auth/sign-in")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = post(
        Some(&s.base.replace("127.0.0.1", "localhost")),
        None,
        "/auth/sign-in",
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        403,
        "a different loopback origin than Host is refused"
    );

    // That sign-in replaced (and revoked) the jar's session: sign in again for the token checks.
    assert_eq!(s.sign_in("eve@example.com", PW, &mut jar).await.status, 200);

    // GET /auth/token: same-origin only.
    let get = |origin: Option<&str>, site: Option<&str>| {
        let mut req = s
            .http
            .get(s.url("/auth/token"))
            .header("cookie", jar.header().unwrap());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(site) = site {
            req = req.header("sec-fetch-site", site);
        }
        req.send()
    };
    assert_eq!(get(None, Some("cross-site")).await.unwrap().status(), 403);
    assert_eq!(get(None, Some("same-site")).await.unwrap().status(), 403);
    assert_eq!(
        get(Some("https://evil.example"), None)
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        get(Some(&s.base), Some("same-origin"))
            .await
            .unwrap()
            .status(),
        200
    );
}

async fn sign_out_and_sign_out_all_revoke(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut a = Jar::default();
    assert_eq!(s.sign_up("fay@example.com", PW, &mut a).await.status, 201);
    let mut b = Jar::default();
    assert_eq!(s.sign_in("fay@example.com", PW, &mut b).await.status, 200);
    let mut c = Jar::default();
    assert_eq!(s.sign_in("fay@example.com", PW, &mut c).await.status, 200);
    let a_before = a.clone();

    // sign-out: revokes this session only, clears both cookies.
    let r = s.post_json("/auth/sign-out", json!({}), &mut a).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["auth"]["status"], "signed_out");
    let cleared = r.set_cookies();
    assert_eq!(cleared.len(), 2);
    assert!(cleared.iter().all(|c| c.contains("Max-Age=0")));
    assert!(a.cookies.is_empty());
    // The old cookies no longer work: the session is revoked even though the JWT is unexpired.
    let mut stale = a_before.clone();
    let r = s.get("/auth/session", &mut stale).await;
    assert_eq!(r.body["auth"]["status"], "signed_out");
    assert_eq!(r.set_cookies().len(), 2, "revoked session: cookies cleared");
    assert!(matches!(renew(&s.idp, &a_before).await, Renewal::Ended));
    assert_eq!(
        s.get("/auth/token", &mut a_before.clone()).await.status,
        401
    );
    // Others are still signed in.
    assert_eq!(
        s.get("/auth/session", &mut b).await.body["auth"]["status"],
        "signed_in"
    );
    // sign-out with no body/content type at all and no cookies is fine.
    let r = s.http.post(s.url("/auth/sign-out")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // sign-out-all from b: c is signed out too.
    let r = s
        .http
        .post(s.url("/auth/sign-out-all"))
        .header("cookie", b.header().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(matches!(renew(&s.idp, &c).await, Renewal::Ended));
    assert!(matches!(renew(&s.idp, &b).await, Renewal::Ended));
    assert_eq!(
        s.get("/auth/session", &mut c).await.body["auth"]["status"],
        "signed_out"
    );
    // sign-out-all without a live session: 401.
    let r = s
        .post_json("/auth/sign-out-all", json!({}), &mut Jar::default())
        .await;
    assert_eq!(r.status, 401);
    // Signing in again works and yields a fresh session.
    let mut d = Jar::default();
    assert_eq!(s.sign_in("fay@example.com", PW, &mut d).await.status, 200);
    assert_eq!(
        s.get("/auth/session", &mut d).await.body["auth"]["status"],
        "signed_in"
    );
}

async fn refresh_hook_after_expiry(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start_with(&db, |c| c.with_session_token_ttl(Duration::from_secs(1))).await;
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("gus@example.com", PW, &mut jar).await.status, 201);
    let first = jar.cookies["__session"].clone();
    assert!(verify(&s.idp, &first).await.is_some());

    // No refresh cookie: None. Garbage refresh cookie: SignedOut clearing both cookies.
    assert!(matches!(
        renew(&s.idp, &Jar::default()).await,
        Renewal::NoCookie
    ));
    let mut garbage = Jar::default();
    garbage.cookies.insert("__refresh".into(), "garbage".into());
    assert!(matches!(renew(&s.idp, &garbage).await, Renewal::Ended));

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(verify(&s.idp, &first).await.is_none(), "expired");
    let Renewal::Renewed(Renewed {
        token,
        claims,
        refresh_secret,
        ..
    }) = renew(&s.idp, &jar).await
    else {
        panic!("expected a refresh");
    };
    assert_ne!(token, first);
    assert_eq!(verify(&s.idp, &token).await.unwrap(), claims);
    assert_eq!(claims.roles, ["member"]);
    assert!(
        refresh_secret.is_some_and(|new| &new != jar.cookies.get("__refresh").unwrap()),
        "the refresh rotated the secret"
    );
    let sid = claims.sid.clone().unwrap();
    assert_eq!(
        db.scalar(&format!(
            "SELECT last_active_at - created_at FROM sessions WHERE id = '{sid}'"
        ))
        .await,
        0,
        "activity is recorded at most once a minute: 2 s after sign-up it is not rewritten"
    );

    // The endpoints refresh in the same request too. The jar still holds the secret the hook
    // rotated out, inside its grace: a new token, and no refresh cookie (the live secret is
    // the one the hook got).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_in");
    assert_eq!(r.set_cookies().len(), 1, "a new __session cookie only");
    let r = s.get("/auth/token", &mut jar).await;
    assert_eq!(r.status, 200);

    // After sign-out the hook answers SignedOut.
    let before = jar.clone();
    s.post_json("/auth/sign-out", json!({}), &mut jar).await;
    assert!(matches!(renew(&s.idp, &before).await, Renewal::Ended));
}

/// `/auth/session` hands out a fresh token inside the renew window (a quarter of an 8 s lifetime:
/// 2 s), so a client polling it never holds an expired token; outside it, no new cookie.
async fn session_endpoint_renews_before_expiry(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start_with(&db, |c| c.with_session_token_ttl(Duration::from_secs(8))).await;
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("ivy@example.com", PW, &mut jar).await.status, 201);
    let first = jar.cookies["__session"].clone();

    let early = s.get("/auth/session", &mut jar).await;
    assert_eq!(early.body["auth"]["status"], "signed_in");
    assert!(early.set_cookies().is_empty(), "{:?}", early.set_cookies());
    assert_eq!(jar.cookies["__session"], first);

    tokio::time::sleep(Duration::from_millis(6200)).await;
    assert!(verify(&s.idp, &first).await.is_some(), "still valid");
    let late = s.get("/auth/session", &mut jar).await;
    assert_eq!(late.body["auth"]["status"], "signed_in");
    assert_eq!(
        late.set_cookies().len(),
        2,
        "a renewed __session cookie and the rotated __refresh"
    );
    let renewed = jar.cookies["__session"].clone();
    assert_ne!(renewed, first);
    let claims = verify(&s.idp, &renewed).await.unwrap();
    assert!(claims.exp >= verify(&s.idp, &first).await.unwrap().exp + 6);
}

async fn expired_refresh_signs_out(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start_with(&db, |c| {
        c.with_session_token_ttl(Duration::from_secs(1))
            .with_session_ttl(Duration::from_secs(2))
    })
    .await;
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("hal@example.com", PW, &mut jar).await.status, 201);
    assert!(matches!(renew(&s.idp, &jar).await, Renewal::Renewed(_)));
    tokio::time::sleep(Duration::from_millis(3100)).await;
    assert!(matches!(renew(&s.idp, &jar).await, Renewal::Ended));
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_out");
    assert!(jar.cookies.is_empty(), "cookies cleared");
    // Dead sessions can be purged.
    assert_eq!(db.scalar("SELECT COUNT(*) FROM sessions").await, 1);
    assert_eq!(
        s.idp
            .purge_sessions(Duration::from_secs(3600))
            .await
            .unwrap(),
        0
    );
    assert_eq!(s.idp.purge_sessions(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM sessions").await, 0);
}

async fn users_api(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    for i in 0..5 {
        let mut j = Jar::default();
        assert_eq!(
            s.sign_up(&format!("user{i}@example.com"), PW, &mut j)
                .await
                .status,
            201
        );
        if i == 0 {
            jar = j;
        }
    }
    let users = s.idp.users();
    let page = users.list(1, 2).await.unwrap();
    assert_eq!((page.total, page.users.len()), (5, 2));
    let page2 = users.list(2, 2).await.unwrap();
    let page3 = users.list(3, 2).await.unwrap();
    assert_eq!(page3.users.len(), 1);
    let mut emails: Vec<String> = [page, page2, page3]
        .into_iter()
        .flat_map(|p| p.users)
        .map(|u| u.email)
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(emails.len(), 5, "pages are disjoint and complete");
    assert_eq!(users.list(0, 0).await.unwrap().per_page, 1, "clamped");

    let u = users
        .get_by_email(" USER0@example.com ")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(users.get(&u.id).await.unwrap().unwrap(), u);
    assert!(
        users
            .get(&UserId::new("user_nope"))
            .await
            .unwrap()
            .is_none()
    );

    let record = users
        .update(
            &u.id,
            UserUpdate {
                name: Some("Renamed".into()),
                image_url: Some(Some("https://img.example/a.png".into())),
                public_metadata: Some(json!({"plan": "pro"})),
                private_metadata: Some(json!({"stripe": "cus_1"})),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.user.name, "Renamed");
    assert_eq!(record.private_metadata, json!({"stripe": "cus_1"}));
    let partial = users
        .update(
            &u.id,
            UserUpdate {
                name: Some("Again".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        partial.user.public_metadata,
        json!({"plan": "pro"}),
        "untouched"
    );
    assert!(
        users
            .update(&UserId::new("nope"), UserUpdate::default())
            .await
            .unwrap()
            .is_none()
    );
    for bad in ["javascript:alert(1)", "not a url", "ftp://x.example/a.png"] {
        let err = users
            .update(
                &u.id,
                UserUpdate {
                    image_url: Some(Some(bad.into())),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, auth_idp::IdpError::Invalid(_)), "{bad}");
    }
    // Names: the sign-up rules (length, no control characters) hold for updates too.
    for bad in [
        "n".repeat(201),
        "a\u{0}b".into(),
        "a\r\nb".into(),
        "\u{7f}".into(),
    ] {
        let err = users
            .update(
                &u.id,
                UserUpdate {
                    name: Some(bad.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, auth_idp::IdpError::Invalid(_)), "{bad:?}");
    }

    // The public view never carries private metadata.
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["user"]["public_metadata"], json!({"plan": "pro"}));
    assert!(!r.text.contains("cus_1"));

    // Roles → permissions at the next refresh.
    let updated = users
        .set_roles(&u.id, vec!["admin".into(), "member".into(), "admin".into()])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.roles, ["admin", "member"]);
    let Renewal::Renewed(Renewed { claims, .. }) = renew(&s.idp, &jar).await else {
        panic!()
    };
    assert_eq!(
        claims.permissions,
        [
            "admin:access",
            "profile:read",
            "profile:write",
            "users:read",
            "users:write"
        ]
    );
    let granted = users
        .grant_role_by_email("user1@example.com", "editor")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(granted.roles, ["editor", "member"]);
    assert!(
        users
            .grant_role_by_email("ghost@example.com", "x")
            .await
            .unwrap()
            .is_none()
    );

    // Delete: sessions die with the user.
    assert!(users.delete(&u.id).await.unwrap());
    assert!(!users.delete(&u.id).await.unwrap());
    assert!(users.get(&u.id).await.unwrap().is_none());
    assert!(matches!(renew(&s.idp, &jar).await, Renewal::Ended));
    assert_eq!(
        s.sign_in("user0@example.com", PW, &mut Jar::default())
            .await
            .status,
        401
    );
    assert_eq!(users.list(1, 100).await.unwrap().total, 4);
    // revoke_sessions signs a user out everywhere.
    let mut k = Jar::default();
    assert_eq!(s.sign_in("user2@example.com", PW, &mut k).await.status, 200);
    let u2 = users
        .get_by_email("user2@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(users.revoke_sessions(&u2.id).await.unwrap() >= 2);
    assert!(matches!(renew(&s.idp, &k).await, Renewal::Ended));
}

async fn database_unavailable_is_503(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("ivy@example.com", PW, &mut jar).await.status, 201);
    s.idp.close().await;
    let r = s.sign_in("ivy@example.com", PW, &mut Jar::default()).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (503, r#"{"error":"Service unavailable"}"#)
    );
    let r = s.sign_up("new@example.com", PW, &mut Jar::default()).await;
    assert_eq!(r.status, 503);
    let r = s.get("/auth/session", &mut jar.clone()).await;
    assert_eq!(r.status, 503);
    let r = s
        .post_json("/auth/sign-out", json!({}), &mut jar.clone())
        .await;
    assert_eq!(r.status, 503);
    // The refresh hook leaves cookies alone when the database is down.
    assert!(
        auth_server::SessionBackend::refresh(&s.idp, &jar.cookies["__refresh"])
            .await
            .is_err()
    );
    let r = s
        .post_form(
            "/auth/sign-in",
            &[("email", "ivy@example.com"), ("password", PW)],
            &mut Jar::default(),
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-in?error=unavailable")
    );
}

async fn concurrent_duplicate_sign_ups(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = std::sync::Arc::new(Server::start(&db).await);
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.sign_up("race@example.com", PW, &mut Jar::default())
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [201, 409, 409, 409, 409, 409]);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM sessions").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_public_url_makes_cookies_secure() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start_with(&db, |mut c| {
        c.public_url = url::Url::parse("https://app.example.test").unwrap();
        c
    })
    .await;
    let mut jar = Jar::default();
    let r = s.sign_up("sec@example.com", PW, &mut jar).await;
    assert_eq!(r.status, 201);
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 2);
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
    // The configured origin is accepted, a foreign one is not.
    let ok = s
        .http
        .post(s.url("/auth/sign-out"))
        .header("origin", "https://app.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| c.to_str().unwrap().contains("Secure"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csrf_layer_guards_other_routes() {
    use axum::routing::{get, post};
    let db = TestDb::new(Kind::Sqlite).await;
    let (listener, base) = idp_support::listener().await;
    let idp = auth_idp::Idp::connect(idp_support::config(&db, &base))
        .await
        .unwrap();
    // e.g. Dioxus server functions mounted next to the provider's routes.
    let app = idp
        .stack(auth_server::AuthConfig::embedded())
        .unwrap()
        .apply(
            axum::Router::new()
                .route("/api/do", post(|| async { "done" }))
                .route("/api/read", get(|| async { "read" })),
        );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let post_with = |origin: &str| {
        http.post(format!("{base}/api/do"))
            .header("origin", origin.to_owned())
            .send()
    };
    let r = post_with("https://evil.example").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), r#"{"error":"Forbidden"}"#);
    assert_eq!(
        post_with(&base).await.unwrap().text().await.unwrap(),
        "done"
    );
    let r = http
        .get(format!("{base}/api/read"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "safe methods pass");
    let r = http
        .get(format!("{base}/auth/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
