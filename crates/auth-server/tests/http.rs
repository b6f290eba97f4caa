//! The guards over real HTTP on loopback: 401/403 JSON, Bearer and cookie, `Auth` in both
//! states, the session backend (one refresh at most, Bearer never falls back), and a missing
//! layer.

mod common {
    pub mod keys;
    pub mod server;
}

use auth_server::{
    Auth, AuthConfig, AuthLayer, AuthRejection, BackendError, BoxFuture, KeyStore, Policy, Renewed,
    Require, RequireAuth, SessionBackend, SessionCookies, Verifier, get_auth,
};
use auth_types::{AuthState, Check, SessionClaims, User, UserId};
use axum::extract::Request;
use axum::routing::get;
use axum::{Json, Router};
use common::keys::*;
use common::server::serve;
use http::HeaderValue;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Admin;

impl Policy for Admin {
    fn check() -> Check {
        Check::role("admin")
    }
}

async fn me(auth: RequireAuth) -> Json<Value> {
    Json(json!({ "user_id": auth.user_id(), "session_id": auth.session_id() }))
}

async fn publish(auth: RequireAuth) -> Result<&'static str, AuthRejection> {
    auth.require(&Check::permission("posts:publish"))?;
    Ok("published")
}

async fn admin(auth: Require<Admin>) -> String {
    format!("admin {}", auth.user_id())
}

async fn whoami(auth: Auth) -> Json<AuthState> {
    Json((*auth).clone())
}

/// `getAuth(req)` in a plain handler that takes the request.
async fn raw(req: Request) -> String {
    let auth = get_auth(&req);
    auth.claims().map(|c| c.sub.clone()).unwrap_or_default()
}

fn routes() -> Router {
    Router::new()
        .route("/api/me", get(me))
        .route("/api/publish", get(publish))
        .route("/api/admin", get(admin))
        .route("/whoami", get(whoami))
        .route("/raw", get(raw))
}

fn verifier(key: &TestKey) -> Verifier {
    let config = AuthConfig::embedded().with_issuer(ISSUER);
    Verifier::new(&config, KeyStore::static_set(jwks(&[key]))).unwrap()
}

async fn app(layer: AuthLayer) -> String {
    serve(routes().layer(layer)).await
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn assert_json_error(res: reqwest::Response, status: u16, message: &str) {
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(
        res.headers()
            .get_all("content-type")
            .iter()
            .collect::<Vec<_>>(),
        ["application/json"]
    );
    assert_eq!(
        res.text().await.unwrap(),
        format!(r#"{{"error":"{message}"}}"#)
    );
}

#[tokio::test]
async fn signed_out_is_401_json() {
    let key = TestKey::es256_a();
    let base = app(AuthLayer::new(verifier(&key))).await;
    for request in [
        client().get(format!("{base}/api/me")),
        client()
            .get(format!("{base}/api/me"))
            .bearer_auth("garbage"),
        client()
            .get(format!("{base}/api/me"))
            .header("authorization", "Bearer"),
        client()
            .get(format!("{base}/api/me"))
            .header("cookie", "__session="),
        client().get(format!("{base}/api/me")).header(
            "cookie",
            format!(
                "__session={}",
                key.sign(&claims_with(json!({"exp": now() - 60})))
            ),
        ),
        client().get(format!("{base}/api/me")).header(
            "cookie",
            format!("__session={0}; __session={0}", key.sign(&claims())),
        ),
        client().get(format!("{base}/api/me")).header(
            "cookie",
            HeaderValue::from_bytes(b"__session=\xff\xfe").unwrap(),
        ),
        client().get(format!("{base}/api/admin")),
    ] {
        assert_json_error(request.send().await.unwrap(), 401, "Unauthorized").await;
    }
}

#[tokio::test]
async fn signed_in_via_bearer_and_cookie() {
    let key = TestKey::es256_a();
    let base = app(AuthLayer::new(verifier(&key))).await;
    let token = key.sign(&claims());
    for request in [
        client().get(format!("{base}/api/me")).bearer_auth(&token),
        client()
            .get(format!("{base}/api/me"))
            .header("authorization", format!("bearer   {token} ")),
        client()
            .get(format!("{base}/api/me"))
            .header("cookie", format!("theme=dark; __session={token}")),
        // Bearer wins over a bad cookie.
        client()
            .get(format!("{base}/api/me"))
            .bearer_auth(&token)
            .header("cookie", "__session=bad"),
    ] {
        let res = request.send().await.unwrap();
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body, json!({"user_id": "user_1", "session_id": "sess_1"}));
    }
    // A bad Bearer is not rescued by a good cookie.
    let res = client()
        .get(format!("{base}/api/me"))
        .bearer_auth("bad")
        .header("cookie", format!("__session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let res = client()
        .get(format!("{base}/raw"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "user_1");
}

/// ASVS 3.1.1: a session token is never taken from the URL (where logs, history and `Referer`
/// would keep it), whatever the parameter is called.
#[tokio::test]
async fn a_token_in_the_url_is_ignored() {
    let key = TestKey::es256_a();
    let base = app(AuthLayer::new(verifier(&key))).await;
    let token = key.sign(&claims());
    for name in [
        "token",
        "__session",
        "session",
        "access_token",
        "id_token",
        "jwt",
    ] {
        let res = client()
            .get(format!("{base}/api/me?{name}={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "?{name}=");
    }
    // Control: the same token in the header signs in.
    let res = client()
        .get(format!("{base}/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn missing_permission_is_403_json() {
    let key = TestKey::es256_a();
    let base = app(AuthLayer::new(verifier(&key))).await;
    let plain = key.sign(&claims());
    for path in ["/api/publish", "/api/admin"] {
        let res = client()
            .get(format!("{base}{path}"))
            .bearer_auth(&plain)
            .send()
            .await
            .unwrap();
        assert_json_error(res, 403, "Forbidden").await;
    }
    let admin = key.sign(&claims_with(json!({
        "roles": ["admin"], "permissions": "posts:publish"
    })));
    let res = client()
        .get(format!("{base}/api/publish"))
        .bearer_auth(&admin)
        .send()
        .await;
    assert_eq!(res.unwrap().text().await.unwrap(), "published");
    let res = client()
        .get(format!("{base}/api/admin"))
        .bearer_auth(&admin)
        .send()
        .await;
    assert_eq!(res.unwrap().text().await.unwrap(), "admin user_1");
}

#[tokio::test]
async fn auth_extractor_shows_both_states() {
    let key = TestKey::es256_a();
    let base = app(AuthLayer::new(verifier(&key))).await;
    let res = client().get(format!("{base}/whoami")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"status": "signed_out"})
    );
    let token = key.sign(&claims_with(json!({"roles": "editor"})));
    let res = client()
        .get(format!("{base}/whoami"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let state: AuthState = res.json().await.unwrap();
    let signed_in = state.signed_in().unwrap();
    assert_eq!(signed_in.user_id.as_str(), "user_1");
    assert_eq!(signed_in.roles, ["editor"]);
}

/// A fake user store: refresh secret `good` renews to `new.session.token`, `revoked` is ended,
/// `down` fails (the store is unreachable); every call is counted.
struct FakeBackend {
    calls: Arc<AtomicUsize>,
}

impl SessionBackend for FakeBackend {
    fn refresh<'a>(
        &'a self,
        secret: &'a str,
    ) -> BoxFuture<'a, Result<Option<Renewed>, BackendError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match secret {
                "good" => {
                    let claims: SessionClaims =
                        serde_json::from_value(claims_with(json!({"sub": "user_refreshed"})))
                            .unwrap();
                    Ok(Some(Renewed::new("new.session.token", claims)))
                }
                "down" => Err(BackendError::new(std::io::Error::other(
                    "connection refused",
                ))),
                _ => Ok(None),
            }
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

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn with_backend(key: &TestKey, calls: &Arc<AtomicUsize>) -> AuthLayer {
    AuthLayer::new(verifier(key)).with_backend(
        Arc::new(FakeBackend {
            calls: calls.clone(),
        }),
        SessionCookies::new(false),
    )
}

#[tokio::test]
async fn backend_renews_sessions_once_and_the_layer_sets_the_cookie() {
    let key = TestKey::es256_a();
    let calls = Arc::new(AtomicUsize::new(0));
    let base = app(with_backend(&key, &calls)).await;
    let expired = key.sign(&claims_with(json!({"exp": now() - 60})));

    for cookie in [
        "__refresh=good".to_owned(),
        format!("__session={expired}; __refresh=good"),
        "__session=not.a.token; __refresh=good".to_owned(),
    ] {
        let before = calls.load(Ordering::SeqCst);
        let res = client()
            .get(format!("{base}/api/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{cookie}");
        assert_eq!(
            set_cookies(&res),
            ["__session=new.session.token; HttpOnly; SameSite=Lax; Path=/"],
            "{cookie}"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            before + 1,
            "one refresh: {cookie}"
        );
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["user_id"], "user_refreshed");
    }

    // A valid token: the backend is not called and no cookie is set.
    let calls_before = calls.load(Ordering::SeqCst);
    let res = client()
        .get(format!("{base}/api/me"))
        .header(
            "cookie",
            format!("__session={}; __refresh=good", key.sign(&claims())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(set_cookies(&res).is_empty());
    assert_eq!(calls.load(Ordering::SeqCst), calls_before);

    // Revoked: signed out, both cookies cleared, still the JSON 401.
    let res = client()
        .get(format!("{base}/api/me"))
        .header("cookie", "__refresh=revoked")
        .send()
        .await
        .unwrap();
    let cleared = set_cookies(&res);
    assert_eq!(cleared.len(), 2);
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_json_error(res, 401, "Unauthorized").await;

    // The store is down: signed out, the cookies are left alone.
    let res = client()
        .get(format!("{base}/api/me"))
        .header("cookie", "__refresh=down")
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&res).is_empty());
    assert_json_error(res, 401, "Unauthorized").await;

    // Two refresh cookies are ambiguous, like two session cookies: no refresh.
    let calls_before = calls.load(Ordering::SeqCst);
    let res = client()
        .get(format!("{base}/api/me"))
        .header("cookie", "__refresh=good; __refresh=good")
        .send()
        .await
        .unwrap();
    assert!(set_cookies(&res).is_empty());
    assert_json_error(res, 401, "Unauthorized").await;
    assert_eq!(calls.load(Ordering::SeqCst), calls_before);

    // Nothing to refresh: signed out, nothing set.
    let res = client().get(format!("{base}/whoami")).send().await.unwrap();
    assert!(set_cookies(&res).is_empty());
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"status": "signed_out"})
    );
}

/// Clerk's rule: a request with an `Authorization: Bearer` header is judged by it alone — a
/// refused or malformed one never falls back to the cookies and never refreshes.
#[tokio::test]
async fn a_refused_bearer_never_falls_back_to_cookies() {
    let key = TestKey::es256_a();
    let other = TestKey::es256_b();
    let calls = Arc::new(AtomicUsize::new(0));
    let base = app(with_backend(&key, &calls)).await;
    let good_cookie = key.sign(&claims());
    let expired = key.sign(&claims_with(json!({"exp": now() - 60})));
    for authorization in [
        format!("Bearer {}", other.sign(&claims())),
        format!("Bearer {expired}"),
        "Bearer".to_owned(),
        "Bearer a b".to_owned(),
    ] {
        for cookie in [
            format!("__session={good_cookie}; __refresh=good"),
            format!("__session={expired}; __refresh=good"),
        ] {
            let res = client()
                .get(format!("{base}/api/me"))
                .header("authorization", &authorization)
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            assert!(set_cookies(&res).is_empty(), "{authorization} / {cookie}");
            assert_json_error(res, 401, "Unauthorized").await;
        }
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "no refresh for a Bearer request"
    );
}

#[tokio::test]
async fn without_the_layer_everything_is_signed_out() {
    let key = TestKey::es256_a();
    let base = serve(routes()).await;
    let token = key.sign(&claims());
    let res = client()
        .get(format!("{base}/api/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_json_error(res, 401, "Unauthorized").await;
    let res = client()
        .get(format!("{base}/whoami"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"status": "signed_out"})
    );
}

#[tokio::test]
async fn extractors_work_with_any_router_state() {
    #[derive(Clone)]
    struct AppState(&'static str);
    async fn handler(
        axum::extract::State(state): axum::extract::State<AppState>,
        auth: RequireAuth,
    ) -> String {
        format!("{} {}", state.0, auth.user_id())
    }
    let key = TestKey::es256_a();
    let app = Router::new()
        .route("/", get(handler))
        .with_state(AppState("hello"))
        .layer(AuthLayer::new(verifier(&key)));
    let base = serve(app).await;
    let res = client()
        .get(&base)
        .bearer_auth(key.sign(&claims()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "hello user_1");
}

/// `AuthStack` runs the origin check before the auth layer: a cross-origin POST carrying a
/// refresh cookie (and a cross-origin read of `/auth/token`) is refused with 403 before the
/// backend is asked for anything — no refresh, no `Set-Cookie`.
#[tokio::test]
async fn the_origin_check_runs_before_any_refresh() {
    let key = TestKey::es256_a();
    let calls = Arc::new(AtomicUsize::new(0));
    let base_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", base_listener.local_addr().unwrap());
    let backend = Arc::new(FakeBackend {
        calls: calls.clone(),
    });
    let backend_routes = Router::new().route(
        "/auth/token",
        get(|Auth(auth): Auth| async move { auth.token().unwrap_or_default().to_owned() }),
    );
    let stack =
        auth_server::AuthStack::with_backend(verifier(&key), &base, backend, backend_routes);
    let app = stack.apply(routes().route("/api/write", axum::routing::post(me)));
    tokio::spawn(async move { axum::serve(base_listener, app).await.unwrap() });

    let expired = key.sign(&claims_with(json!({"exp": now() - 60})));
    let cookies = format!("__session={expired}; __refresh=good");
    let res = client()
        .post(format!("{base}/api/write"))
        .header("origin", "https://evil.example")
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&res).is_empty(),
        "no Set-Cookie on a refused POST"
    );
    assert_json_error(res, 403, "Forbidden").await;
    let res = client()
        .get(format!("{base}/auth/token"))
        .header("sec-fetch-site", "cross-site")
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert!(
        set_cookies(&res).is_empty(),
        "no Set-Cookie on a refused token read"
    );
    assert_json_error(res, 403, "Forbidden").await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the backend was never asked"
    );

    // The same POST from the app's own origin is refreshed once and answered.
    let res = client()
        .post(format!("{base}/api/write"))
        .header("origin", &base)
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(set_cookies(&res).len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
