//! Token verification per algorithm, first sight (signature check) and hot path (verified-token
//! cache hit), a whole request through the `AuthLayer` and an axum router with and without a
//! token, plus extraction and the hydration payload. Keys cached; no network.
//!
//! `cargo bench -p auth-server --bench verify -- --warm-up-time 1 --measurement-time 3`

#[path = "../tests/common/keys.rs"]
mod keys;

use auth_server::{AuthConfig, AuthLayer, KeyStore, RequireAuth, Verifier, token_from_headers};
use axum::routing::get;
use axum::{Json, Router};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use keys::{ISSUER, TestKey, claims, jwks};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let keys = [TestKey::es256_a(), TestKey::ed25519(), TestKey::rsa()];
    let config = AuthConfig::embedded().with_issuer(ISSUER);
    let store = KeyStore::static_set(jwks(&keys.iter().collect::<Vec<_>>()));
    let verifier = Verifier::new(&config, store.clone()).unwrap();
    // First sight of a token (empty verified-token cache): the signature check itself.
    let mut group = c.benchmark_group("verify first sight");
    for key in &keys {
        let token = key.sign(&claims());
        group.bench_function(format!("{:?}", key.alg), |b| {
            b.iter_batched(
                || Verifier::new(&config, store.clone()).unwrap(),
                |fresh| black_box(fresh.verify_cached(&token).unwrap()),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();

    // The hot path of every request after the first: extraction + a verified-token cache hit.
    let mut group = c.benchmark_group("extract+verify");
    for key in &keys {
        let mut headers = HeaderMap::new();
        let value = format!("Bearer {}", key.sign(&claims()));
        headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
        headers.insert("cookie", HeaderValue::from_static("theme=dark; lang=en"));
        group.bench_function(format!("{:?}", key.alg), |b| {
            b.iter(|| {
                let (token, _) = token_from_headers(black_box(&headers)).unwrap();
                black_box(verifier.verify_cached(token).unwrap())
            })
        });
    }
    group.finish();

    // One request through the layer and a router, as the app's `/api/health` (no token) and
    // `/api/me` (Bearer, `RequireAuth`) serve it, minus the network: what authentication adds per
    // request on top of routing and JSON.
    let mut group = c.benchmark_group("request");
    let router = Router::new()
        .route("/api/health", get(|| async { Json(serde_json::json!({ "status": "ok" })) }))
        .route(
            "/api/me",
            get(|auth: RequireAuth| async move {
                Json(serde_json::json!({ "user_id": auth.user_id(), "session_id": auth.session_id() }))
            }),
        )
        .layer(AuthLayer::new(verifier.clone()));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let bearer = format!("Bearer {}", keys[0].sign(&claims()));
    for (name, path, authorization) in [
        ("health, no token", "/api/health", None),
        ("me, Bearer ES256", "/api/me", Some(bearer.as_str())),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut request = http::Request::get(path);
                if let Some(value) = authorization {
                    request = request.header("authorization", value);
                }
                let request = request.body(axum::body::Body::empty()).unwrap();
                let mut router = router.clone();
                let response = runtime.block_on(tower::Service::call(&mut router, request));
                assert_eq!(response.unwrap().status(), 200);
            })
        });
    }
    group.finish();

    // Extraction alone, from a cookie header among others.
    let mut headers = HeaderMap::new();
    let cookie = format!("theme=dark; __session={}; lang=en", keys[0].sign(&claims()));
    headers.insert("cookie", HeaderValue::from_str(&cookie).unwrap());
    c.bench_function("extract/cookie", |b| {
        b.iter(|| black_box(token_from_headers(black_box(&headers)).unwrap().0.len()))
    });

    // What SSR serialises into the page for hydration: the auth state and the public user.
    let claims: auth_types::SessionClaims = serde_json::from_value(serde_json::json!({
        "sub": "user_1", "sid": "sess_1", "iss": ISSUER, "exp": 2_000_000_000,
        "roles": ["member", "admin"], "permissions": ["posts:read", "posts:write"],
    }))
    .unwrap();
    let state = auth_types::AuthState::SignedIn(auth_types::SignedIn::from(&claims));
    let user: auth_types::User = serde_json::from_value(serde_json::json!({
        "id": "user_1", "email": "ada@example.com", "name": "Ada Lovelace", "created_at": 0,
    }))
    .unwrap();
    c.bench_function("hydration/serialise state+user", |b| {
        b.iter(|| black_box(serde_json::to_string(&(black_box(&state), black_box(&user))).unwrap()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
