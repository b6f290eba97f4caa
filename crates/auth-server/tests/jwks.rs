//! The remote key store against a real JWKS server on loopback that counts its requests.

mod common {
    pub mod keys;
    pub mod server;
}

use auth_server::{
    AuthConfig, AuthLayer, CacheConfig, KeyError, KeySource, KeyStore, RequireAuth, Verifier,
    VerifyError,
};
use axum::Router;
use axum::routing::get;
use common::keys::*;
use common::server::*;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The app the tokens are for (an external issuer needs `aud` or `azp` configured; these tokens
/// carry no `azp`, which passes).
const APP: &str = "https://app.example";

fn cache(cooldown_ms: u64) -> CacheConfig {
    CacheConfig {
        cooldown: Duration::from_millis(cooldown_ms),
        fetch_timeout: Duration::from_secs(2),
        ..CacheConfig::default()
    }
}

fn verifier(url: &str, cache: CacheConfig) -> Verifier {
    let config = AuthConfig::jwks(ISSUER)
        .with_authorized_parties([APP])
        .with_key_source(KeySource::JwksUrl(url.to_owned()))
        .with_cache(cache);
    Verifier::from_config(&config).unwrap()
}

fn random_kid(i: usize) -> String {
    format!("kid-{i}-{}", Instant::now().elapsed().as_nanos())
}

#[tokio::test]
async fn key_rotation_through_the_guarded_router() {
    let a = TestKey::es256_a();
    let b = TestKey::es256_b();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    let v = verifier(&jwks_server.jwks_url(), cache(300));
    let app = Router::new()
        .route(
            "/api/me",
            get(|auth: RequireAuth| async move { auth.user_id().to_string() }),
        )
        .layer(AuthLayer::new(v));
    let base = serve(app).await;
    let client = reqwest::Client::new();
    let get_me = |token: String| {
        let client = client.clone();
        let url = format!("{base}/api/me");
        async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    assert_eq!(get_me(a.sign(&claims())).await, 200);
    assert_eq!(jwks_server.counters.jwks(), 1);
    assert_eq!(get_me(a.sign(&claims())).await, 200);
    assert_eq!(jwks_server.counters.jwks(), 1, "known key: no fetch");

    // Rotation: B appears, A is removed.
    jwks_server.set_jwks(&jwks(&[&b]));
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        get_me(b.sign(&claims())).await,
        200,
        "new kid triggers a refetch"
    );
    assert_eq!(jwks_server.counters.jwks(), 2);
    assert_eq!(get_me(a.sign(&claims())).await, 401, "old key is gone");
    assert_eq!(
        jwks_server.counters.jwks(),
        2,
        "within the cool-down: no fetch"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get_me(a.sign(&claims())).await, 401);
    assert_eq!(jwks_server.counters.jwks(), 3, "one refetch per cool-down");
}

#[tokio::test]
async fn unknown_kid_flood_is_not_a_fetch_flood() {
    let a = TestKey::es256_a();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    // Cold store, default 30 s cool-down.
    let v = verifier(&jwks_server.jwks_url(), cache(30_000));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let v = v.clone();
            let token = a.sign_with(&claims(), |h| h.kid = Some(random_kid(i)));
            tokio::spawn(async move { v.verify(&token).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err(), VerifyError::UnknownKey);
    }
    for i in 100..200 {
        let token = a.sign_with(&claims(), |h| h.kid = Some(random_kid(i)));
        assert_eq!(v.verify(&token).await.unwrap_err(), VerifyError::UnknownKey);
    }
    let fetches = jwks_server.counters.jwks();
    assert!(
        (1..=2).contains(&fetches),
        "{fetches} fetches for 200 random kids"
    );
    // The real key still verifies without a fetch.
    assert!(v.verify(&a.sign(&claims())).await.is_ok());
    assert_eq!(jwks_server.counters.jwks(), fetches);
}

#[tokio::test]
async fn concurrent_refetches_coalesce() {
    let a = TestKey::es256_a();
    let b = TestKey::es256_b();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    jwks_server.set_mode(Mode::Delay(Duration::from_millis(300)));
    let v = verifier(&jwks_server.jwks_url(), cache(1_000));

    // Cold store: 50 concurrent requests, one fetch, all verified.
    let run = |key: TestKey| {
        let v = v.clone();
        async move {
            let tasks: Vec<_> = (0..50)
                .map(|_| {
                    let v = v.clone();
                    let token = key.sign(&claims());
                    tokio::spawn(async move { v.verify(&token).await })
                })
                .collect();
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        }
    };
    run(a.clone()).await;
    assert_eq!(jwks_server.counters.jwks(), 1);

    // Warm store, new kid: 50 concurrent requests, one more fetch, all verified.
    jwks_server.set_jwks(&jwks(&[&a, &b]));
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    run(b).await;
    assert_eq!(jwks_server.counters.jwks(), 2);
}

#[tokio::test]
async fn known_keys_keep_working_while_the_endpoint_is_down() {
    let a = TestKey::es256_a();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    let config = CacheConfig {
        ttl: Duration::ZERO, // always due for a background refresh
        ..cache(100)
    };
    let v = verifier(&jwks_server.jwks_url(), config);
    assert!(v.verify(&a.sign(&claims())).await.is_ok());
    jwks_server.set_mode(Mode::Down);
    let start = Instant::now();
    for _ in 0..20 {
        let t = Instant::now();
        assert!(v.verify(&a.sign(&claims())).await.is_ok());
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "hot path never waits"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Background refreshes were tried, at most one per cool-down.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let fetches = jwks_server.counters.jwks();
    let bound = 2 + (start.elapsed().as_millis() / 100) as usize;
    assert!(
        fetches >= 2 && fetches <= bound,
        "{fetches} fetches, bound {bound}"
    );
    // An unknown kid is refused quickly.
    let token = a.sign_with(&claims(), |h| h.kid = Some("other".into()));
    assert_eq!(v.verify(&token).await.unwrap_err(), VerifyError::UnknownKey);
}

#[tokio::test]
async fn stale_if_error_is_bounded() {
    let a = TestKey::es256_a();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    let config = CacheConfig {
        ttl: Duration::from_millis(50),
        max_stale: Duration::from_millis(200),
        ..cache(50)
    };
    let v = verifier(&jwks_server.jwks_url(), config);
    assert!(v.verify(&a.sign(&claims())).await.is_ok());
    jwks_server.set_mode(Mode::Down);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        v.verify(&a.sign(&claims())).await.unwrap_err(),
        VerifyError::KeysUnavailable,
        "keys older than max_stale are not trusted"
    );
    jwks_server.set_mode(Mode::Ok);
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(v.verify(&a.sign(&claims())).await.is_ok(), "recovers");
}

#[tokio::test]
async fn slow_endpoint_times_out() {
    let a = TestKey::es256_a();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    jwks_server.set_mode(Mode::Delay(Duration::from_secs(10)));
    let config = CacheConfig {
        fetch_timeout: Duration::from_millis(300),
        ..cache(30_000)
    };
    let v = verifier(&jwks_server.jwks_url(), config);
    let start = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(3), v.verify(&a.sign(&claims())))
        .await
        .expect("no hang");
    assert_eq!(r.unwrap_err(), VerifyError::KeysUnavailable);
    assert!(start.elapsed() < Duration::from_secs(2));
    // Within the cool-down the next request does not wait at all.
    let t = Instant::now();
    assert!(v.verify(&a.sign(&claims())).await.is_err());
    assert!(t.elapsed() < Duration::from_millis(100));
    assert_eq!(jwks_server.counters.jwks(), 1);
}

#[tokio::test]
async fn oversize_responses_are_refused() {
    let a = TestKey::es256_a();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    jwks_server.set_mode(Mode::Huge(2 * 1024 * 1024));
    let store = KeyStore::jwks_url(jwks_server.jwks_url(), cache(0));
    assert!(matches!(
        store.refresh().await,
        Err(KeyError::TooLarge {
            limit: 1_048_576,
            ..
        })
    ));
    assert!(store.is_empty());

    // No content-length, an endless chunked body: the limit is enforced while streaming.
    let (url, written) = endless_chunked_server(64 * 1024 * 1024).await;
    let store = KeyStore::jwks_url(url, cache(0));
    let start = Instant::now();
    assert!(matches!(
        store.refresh().await,
        Err(KeyError::TooLarge { .. })
    ));
    assert!(start.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = written.load(Ordering::SeqCst);
    assert!(
        sent < 16 * 1024 * 1024,
        "client stopped reading early ({sent} bytes sent)"
    );
}

#[tokio::test]
async fn bad_documents_are_refused_and_do_not_replace_good_keys() {
    let a = TestKey::es256_a();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    let store = KeyStore::jwks_url(jwks_server.jwks_url(), cache(0));
    store.refresh().await.unwrap();
    assert_eq!(store.len(), 1);
    // A set with only unusable keys (a symmetric key) is an error; the old keys stay.
    let hmac: jsonwebtoken::jwk::JwkSet =
        serde_json::from_str(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]}"#).unwrap();
    jwks_server.set_jwks(&hmac);
    assert!(matches!(
        store.refresh().await,
        Err(KeyError::Invalid { .. })
    ));
    assert_eq!(store.len(), 1);
    jwks_server.set_mode(Mode::Down);
    assert!(matches!(store.refresh().await, Err(KeyError::Fetch { .. })));
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn discovery_finds_the_jwks_uri() {
    let a = TestKey::rsa();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    jwks_server.enable_discovery();
    // The issuer is the server itself; AuthConfig::jwks means discovery.
    let config = AuthConfig::jwks(jwks_server.base.clone())
        .with_authorized_parties([APP])
        .with_cache(cache(30_000));
    let v = Verifier::from_config(&config).unwrap();
    let token = a.sign(&claims_with(serde_json::json!({"iss": jwks_server.base})));
    assert!(v.verify(&token).await.is_ok());
    assert!(v.verify(&token).await.is_ok());
    assert_eq!(jwks_server.counters.discovery.load(Ordering::SeqCst), 1);
    assert_eq!(jwks_server.counters.keys.load(Ordering::SeqCst), 1);
    assert_eq!(
        jwks_server.counters.well_known_jwks.load(Ordering::SeqCst),
        0
    );
}

#[tokio::test]
async fn discovery_falls_back_to_well_known_jwks() {
    let a = TestKey::ed25519();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await; // no discovery document: 404
    let config = AuthConfig::from_lookup(|k| match k {
        "AUTH_PROVIDER" => Some("jwks".to_owned()),
        "AUTH_ISSUER" => Some(format!("{}/", jwks_server.base)),
        "AUTH_AUTHORIZED_PARTIES" => Some(APP.to_owned()),
        _ => None,
    })
    .unwrap();
    let v = Verifier::from_config(&config).unwrap();
    let token = a.sign(&claims_with(serde_json::json!({"iss": jwks_server.base})));
    assert!(v.verify(&token).await.is_ok());
    assert_eq!(jwks_server.counters.discovery.load(Ordering::SeqCst), 1);
    assert_eq!(
        jwks_server.counters.well_known_jwks.load(Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn known_key_never_waits_on_a_slow_refresh() {
    let a = TestKey::es256_a();
    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    let config = CacheConfig {
        ttl: Duration::ZERO,
        ..cache(0)
    };
    let v = verifier(&jwks_server.jwks_url(), config);
    assert!(v.verify(&a.sign(&claims())).await.is_ok());
    jwks_server.set_mode(Mode::Delay(Duration::from_secs(1)));
    for _ in 0..10 {
        let t = Instant::now();
        assert!(v.verify(&a.sign(&claims())).await.is_ok());
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // One background refresh at a time, even with no cool-down.
    assert_eq!(jwks_server.counters.jwks(), 2);
}

/// The machine's outbound, non-loopback IPv4 address (no packet is sent), when it has one.
fn lan_address() -> Option<std::net::IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// The JWKS client follows a redirect only to a URL it would accept itself (https, or loopback):
/// a redirect to plain http on another host is refused and the token is not verified, although
/// that URL serves the right keys.
#[tokio::test]
async fn redirects_may_not_leave_https() {
    let a = TestKey::es256_a();
    let token = a.sign(&claims());
    let keys = serde_json::to_value(jwks(&[&a])).unwrap();
    let Some(lan) = lan_address() else {
        eprintln!("skipped: this machine has no non-loopback address to redirect to");
        return;
    };
    // The keys over plain http on the machine's LAN address: reachable, but not https.
    let listener = tokio::net::TcpListener::bind((lan, 0)).await.unwrap();
    let plain = format!("http://{}/keys", listener.local_addr().unwrap());
    let served = keys.clone();
    tokio::spawn(async move {
        let app = Router::new().route("/keys", get(move || async move { axum::Json(served) }));
        axum::serve(listener, app).await.unwrap();
    });
    let direct = reqwest::get(&plain).await.unwrap();
    assert_eq!(direct.status(), 200, "the plain-http keys are reachable");

    let jwks_server = JwksServer::start(&jwks(&[&a])).await;
    let loopback = format!("{}/keys", jwks_server.base);
    let redirecting = serve(
        Router::new()
            .route(
                "/to-loopback",
                get(move || async move { axum::response::Redirect::temporary(&loopback) }),
            )
            .route(
                "/to-plain-http",
                get(move || async move { axum::response::Redirect::temporary(&plain) }),
            ),
    )
    .await;
    let followed = verifier(&format!("{redirecting}/to-loopback"), cache(30_000));
    assert!(
        followed.verify(&token).await.is_ok(),
        "loopback redirect followed"
    );
    let refused = verifier(&format!("{redirecting}/to-plain-http"), cache(30_000));
    assert!(
        refused.verify(&token).await.is_err(),
        "http redirect refused"
    );
}
