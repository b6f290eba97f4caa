//! The attack suite (issue 8): the built app server attacked over real HTTP, as an adversary
//! would. No browser; every request says exactly what the test wrote (no cookie store, no
//! redirects followed).
//!
//! Every table-driven test asserts a concrete answer for each attack — `401
//! {"error":"Unauthorized"}` on the API, the signed-out page (or the 303 to `/sign-in`) on
//! documents, `403 {"error":"Forbidden"}` for cross-origin writes — and that the server process is
//! still alive afterwards. Each table also has a positive control (the same request made valid
//! succeeds), so a test cannot pass because the request was broken in some other way.
//!
//! One test binary, one module per attack family: [`tokens`] (forged tokens, external issuer
//! claims), [`headers`] (cookies and headers, oversized credentials, raw header bytes),
//! [`accounts`] (hostile fields, escaping, email variants, enumeration, sessions and sign-out),
//! [`rate_limits`] (brute force, spraying, parallel bursts), [`csrf_redirects`] (cross-origin
//! writes, redirects, the profile server function) and [`one_path`] (one request, one answer: a
//! session is refreshed at most once, a refused request changes nothing, a refused Bearer never
//! falls back to the cookies). The checks they share are below.
//!
//! Run: `cargo xtask bundle`, then
//! `APP_BUNDLE_DIR=<bundle> cargo test -p e2e --test attacks -- --test-threads 1`.

mod accounts;
mod csrf_redirects;
mod headers;
mod one_path;
mod rate_limits;
mod sessions;
mod tokens;

use e2e::AppServer;
use e2e::http::{UNAUTHORIZED, client, now, post_json, set_cookies};
use reqwest::{RequestBuilder, StatusCode, header};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub(crate) const PASSWORD: &str = "correct horse battery staple";

// ---- shared checks ----------------------------------------------------------------------------

/// How a token reaches the server.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Via {
    Bearer,
    Cookie,
}

pub(crate) fn with_token(request: RequestBuilder, via: Via, token: &str) -> RequestBuilder {
    match via {
        Via::Bearer => request.header(header::AUTHORIZATION, format!("Bearer {token}")),
        Via::Cookie => request.header(header::COOKIE, format!("__session={token}")),
    }
}

/// Counts the attack requests a test sends (reported at the end of each test).
#[derive(Debug, Default)]
pub(crate) struct Tally(pub(crate) usize);

impl Tally {
    pub(crate) fn add(&mut self, n: usize) {
        self.0 += n;
    }
}

/// The API answers exactly `401 {"error":"Unauthorized"}` with a JSON content type.
pub(crate) async fn assert_api_401(response: reqwest::Response, what: &str) {
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
pub(crate) async fn assert_dashboard_redirects(response: reqwest::Response, what: &str) {
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
pub(crate) async fn assert_signed_out_page(response: reqwest::Response, what: &str) {
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
pub(crate) async fn assert_rejected_everywhere(
    server: &AppServer,
    name: &str,
    token: &str,
) -> usize {
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
pub(crate) async fn assert_accepted(server: &AppServer, token: &str, user_id: &str) {
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
pub(crate) async fn assert_alive(server: &mut AppServer) {
    assert!(server.is_running(), "the server process exited");
    let response = client()
        .get(server.url("/api/health"))
        .send()
        .await
        .expect("the server still answers");
    assert_eq!(response.status(), StatusCode::OK);
}

/// Valid claims for `sub` on this server (embedded issuer = the public URL).
pub(crate) fn claims(server: &AppServer, sub: &str) -> Value {
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
pub(crate) fn edit(base: &Value, changes: Value) -> Value {
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

pub(crate) fn es256_header(kid: &str) -> String {
    json!({ "alg": "ES256", "typ": "JWT", "kid": kid }).to_string()
}

/// The three segments of a JWT.
pub(crate) fn segments(token: &str) -> (&str, &str, &str) {
    let mut it = token.splitn(3, '.');
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

/// One sign-in attempt's observable answer: status, body, cookies set, Location, and the time.
pub(crate) async fn attempt(
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
