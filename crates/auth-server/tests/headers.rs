//! What `AuthStack::apply` adds to every answer, over real HTTP on loopback: the security
//! headers (refusals included), `Cache-Control: private, no-store` on answers that set an auth
//! cookie or were produced for a signed-in user, and the `__Host-` cookie names over https (the
//! old names still read, and replaced on the next `Set-Cookie`).

mod common {
    pub mod keys;
    pub mod server;
}

use auth_server::{
    AuthConfig, AuthStack, BackendError, BoxFuture, DEFAULT_CONTENT_SECURITY_POLICY, KeyStore,
    Renewed, RequireAuth, SecurityHeaders, SessionBackend, Verifier,
};
use auth_types::{SessionClaims, User, UserId};
use axum::response::Html;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::keys::*;
use common::server::serve;
use http::header;
use serde_json::{Value, json};
use std::sync::Arc;

/// Renews `good` (the refresh secret kept) and `rotate` (a new secret); anything else is revoked.
struct Backend;

impl SessionBackend for Backend {
    fn refresh<'a>(
        &'a self,
        secret: &'a str,
    ) -> BoxFuture<'a, Result<Option<Renewed>, BackendError>> {
        Box::pin(async move {
            let claims: SessionClaims =
                serde_json::from_value(claims_with(json!({"sub": "user_refreshed"}))).unwrap();
            Ok(match secret {
                "good" => Some(Renewed::new("new.session.token", claims)),
                "rotate" => Some(
                    Renewed::new("new.session.token", claims).with_refresh_secret("rotated", 100),
                ),
                _ => None,
            })
        })
    }

    fn user<'a>(&'a self, _: &'a UserId) -> BoxFuture<'a, Result<Option<User>, BackendError>> {
        Box::pin(async { Ok(None) })
    }

    fn set_name<'a>(
        &'a self,
        _: &'a UserId,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Option<User>, BackendError>> {
        Box::pin(async { Ok(None) })
    }
}

const PUBLIC_CACHE: &str = "public, max-age=3600";

fn routes() -> Router {
    let cached = |content_type: &'static str, body: &'static str| {
        get(move || async move {
            (
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CACHE_CONTROL, PUBLIC_CACHE),
                ],
                body,
            )
        })
    };
    Router::new()
        .route("/", get(|| async { Html("<p>home</p>") }))
        .route(
            "/api/me",
            get(|auth: RequireAuth| async move { Json(json!({ "user_id": auth.user_id() })) }),
        )
        .route("/api/write", post(|| async { "written" }))
        .route(
            "/api/browser-cached",
            get(|| async { ([(header::CACHE_CONTROL, "private, max-age=30")], "mine") }),
        )
        .route(
            "/cached-page",
            cached("text/html; charset=utf-8", "<p>page</p>"),
        )
        .route("/assets/app.css", cached("text/css", "body{}"))
        .route("/feed", cached("text/plain", "feed"))
        .route(
            "/own-csp",
            get(|| async {
                (
                    [(header::CONTENT_SECURITY_POLICY, "default-src 'none'")],
                    Html("<p>own policy</p>"),
                )
            }),
        )
}

async fn app(public_url: &str, key: &TestKey, headers: Option<SecurityHeaders>) -> String {
    let config = AuthConfig::embedded().with_issuer(ISSUER);
    let verifier = Verifier::new(&config, KeyStore::static_set(jwks(&[key]))).unwrap();
    let mut stack = AuthStack::with_backend(verifier, public_url, Arc::new(Backend), Router::new());
    if let Some(headers) = headers {
        stack = stack.with_security_headers(headers);
    }
    serve(stack.apply(routes())).await
}

fn one(res: &reqwest::Response, name: header::HeaderName) -> Option<String> {
    let values: Vec<_> = res.headers().get_all(&name).iter().collect();
    assert!(values.len() <= 1, "{name}: {values:?}");
    values.first().map(|v| v.to_str().unwrap().to_owned())
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_name(set_cookie: &str) -> &str {
    set_cookie.split_once('=').unwrap().0
}

async fn fetch(base: &str, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{base}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let key = TestKey::es256_a();
    let base = app("http://127.0.0.1:8080", &key, None).await;
    let http = reqwest::Client::new();
    let answers = [
        fetch(&base, "/", &[]).await,
        fetch(&base, "/no-such-page", &[]).await,
        fetch(&base, "/api/me", &[]).await,
        fetch(&base, "/assets/app.css", &[]).await,
        http.post(format!("{base}/api/write"))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap(),
    ];
    let statuses: Vec<u16> = answers.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses, [200, 404, 401, 200, 403]);
    for res in &answers {
        let url = res.url().path().to_owned();
        assert_eq!(
            one(res, header::X_CONTENT_TYPE_OPTIONS).as_deref(),
            Some("nosniff"),
            "{url}"
        );
        assert_eq!(
            one(res, header::REFERRER_POLICY).as_deref(),
            Some("strict-origin-when-cross-origin"),
            "{url}"
        );
        assert_eq!(
            one(res, header::X_FRAME_OPTIONS).as_deref(),
            Some("DENY"),
            "{url}"
        );
        let csp = one(res, header::CONTENT_SECURITY_POLICY).unwrap();
        assert_eq!(csp, DEFAULT_CONTENT_SECURITY_POLICY, "{url}");
        assert!(csp.contains("frame-ancestors 'none'"), "{url}");
    }
    // A route that sets its own policy keeps it (`if_not_present`); the others are still added.
    let own = fetch(&base, "/own-csp", &[]).await;
    assert_eq!(
        one(&own, header::CONTENT_SECURITY_POLICY).as_deref(),
        Some("default-src 'none'")
    );
    assert_eq!(one(&own, header::X_FRAME_OPTIONS).as_deref(), Some("DENY"));

    // The app-wide policy can be replaced, or left to a proxy.
    let custom = SecurityHeaders::default()
        .with_content_security_policy("default-src 'self'; frame-ancestors 'none'")
        .unwrap();
    let base = app("http://127.0.0.1:8080", &key, Some(custom)).await;
    let res = fetch(&base, "/", &[]).await;
    assert_eq!(
        one(&res, header::CONTENT_SECURITY_POLICY).as_deref(),
        Some("default-src 'self'; frame-ancestors 'none'")
    );
    let none = SecurityHeaders::default().without_content_security_policy();
    let base = app("http://127.0.0.1:8080", &key, Some(none)).await;
    let res = fetch(&base, "/", &[]).await;
    assert_eq!(one(&res, header::CONTENT_SECURITY_POLICY), None);
    assert_eq!(
        one(&res, header::X_CONTENT_TYPE_OPTIONS).as_deref(),
        Some("nosniff")
    );
}

#[tokio::test]
async fn private_answers_are_never_stored() {
    let key = TestKey::es256_a();
    let base = app("http://127.0.0.1:8080", &key, None).await;
    let bearer = format!("Bearer {}", key.sign(&claims()));
    let signed_in = [("authorization", bearer.as_str())];
    let cache = |res: &reqwest::Response| one(res, header::CACHE_CONTROL);
    const PRIVATE: Option<&str> = Some("private, no-store");

    // Signed out: nothing is added; the routes' own policies stand.
    assert_eq!(cache(&fetch(&base, "/", &[]).await), None);
    assert_eq!(
        cache(&fetch(&base, "/cached-page", &[]).await).as_deref(),
        Some(PUBLIC_CACHE)
    );

    // Signed in: documents and /api answers are private, even over a route's public policy.
    for path in ["/", "/api/me", "/cached-page"] {
        let res = fetch(&base, path, &signed_in).await;
        assert_eq!(res.status(), 200, "{path}");
        assert_eq!(cache(&res).as_deref(), PRIVATE, "{path}");
    }
    // A route that chose a private policy keeps it; static assets keep their caching.
    assert_eq!(
        cache(&fetch(&base, "/api/browser-cached", &signed_in).await).as_deref(),
        Some("private, max-age=30")
    );
    assert_eq!(
        cache(&fetch(&base, "/assets/app.css", &signed_in).await).as_deref(),
        Some(PUBLIC_CACHE)
    );

    // An answer that sets an auth cookie is private whatever the route said: here the layer's
    // renewal cookie on a publicly cacheable, non-document route.
    let res = fetch(&base, "/feed", &[("cookie", "__refresh=good")]).await;
    assert_eq!(set_cookies(&res).len(), 1);
    assert_eq!(cache(&res).as_deref(), PRIVATE);
    // So is the removal of revoked cookies.
    let res = fetch(&base, "/feed", &[("cookie", "__refresh=revoked")]).await;
    assert_eq!(set_cookies(&res).len(), 2);
    assert_eq!(cache(&res).as_deref(), PRIVATE);
}

#[tokio::test]
async fn https_apps_use_host_prefixed_cookies_and_still_read_the_old_ones() {
    let key = TestKey::es256_a();
    let base = app("https://app.example.test", &key, None).await;
    let me = |res: reqwest::Response| async move {
        let body: Value = res.json().await.unwrap();
        body["user_id"].as_str().unwrap_or_default().to_owned()
    };

    // An upgrade signs no one out: a session under the old name is still read, nothing is set.
    let old = key.sign(&claims_with(json!({"sub": "user_old"})));
    let res = fetch(&base, "/api/me", &[("cookie", &format!("__session={old}"))]).await;
    assert!(set_cookies(&res).is_empty());
    assert_eq!(me(res).await, "user_old");

    // Both names: the prefixed one wins (a sibling subdomain can only have set the other).
    let new = key.sign(&claims_with(json!({"sub": "user_new"})));
    for cookie in [
        format!("__session={old}; __Host-session={new}"),
        format!("__Host-session={new}; __session={old}"),
    ] {
        let res = fetch(&base, "/api/me", &[("cookie", &cookie)]).await;
        assert_eq!(me(res).await, "user_new", "{cookie}");
    }

    // A renewal from the old refresh cookie writes the prefixed session cookie (Secure, Path=/,
    // no Domain) and removes the old session cookie the browser still sent.
    let expired = key.sign(&claims_with(json!({"exp": now() - 60})));
    let res = fetch(
        &base,
        "/api/me",
        &[("cookie", &format!("__session={expired}; __refresh=good"))],
    )
    .await;
    let set = set_cookies(&res);
    let names: Vec<&str> = set.iter().map(|c| cookie_name(c)).collect();
    assert_eq!(names, ["__Host-session", "__session"], "{set:?}");
    assert!(set[0].starts_with("__Host-session=new.session.token;"));
    assert!(set[0].contains("Secure") && set[0].contains("Path=/") && !set[0].contains("Domain"));
    assert!(
        set[1].contains("Max-Age=0") && set[1].contains("Path=/"),
        "{set:?}"
    );
    assert_eq!(me(res).await, "user_refreshed");

    // A rotation moves the refresh secret to the prefixed name and removes the old one.
    let res = fetch(&base, "/api/me", &[("cookie", "__refresh=rotate")]).await;
    let set = set_cookies(&res);
    let names: Vec<&str> = set.iter().map(|c| cookie_name(c)).collect();
    assert_eq!(
        names,
        ["__Host-session", "__Host-refresh", "__refresh"],
        "{set:?}"
    );
    assert!(set[1].starts_with("__Host-refresh=rotated;") && set[1].contains("Secure"));
    assert!(set[2].contains("Max-Age=0"));

    // Already on the new names: nothing else to remove.
    let res = fetch(&base, "/api/me", &[("cookie", "__Host-refresh=good")]).await;
    let set = set_cookies(&res);
    assert_eq!(set.len(), 1, "{set:?}");
    assert!(set[0].starts_with("__Host-session="));

    // A revoked session is cleared under both spellings.
    let res = fetch(&base, "/api/me", &[("cookie", "__Host-refresh=revoked")]).await;
    let set = set_cookies(&res);
    let names: Vec<&str> = set.iter().map(|c| cookie_name(c)).collect();
    assert_eq!(
        names,
        ["__Host-session", "__Host-refresh", "__session", "__refresh"]
    );
    assert!(set.iter().all(|c| c.contains("Max-Age=0")));

    // Plain http (loopback development): the names stay as they were, without `Secure`.
    let base = app("http://127.0.0.1:8080", &key, None).await;
    let res = fetch(&base, "/api/me", &[("cookie", "__refresh=good")]).await;
    let set = set_cookies(&res);
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with("__session=new.session.token;") && !set[0].contains("Secure"));
}
