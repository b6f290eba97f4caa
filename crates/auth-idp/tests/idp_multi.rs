//! Several instances on one database, restarts, key rotation, sign-up atomicity — each on SQLite
//! and on PostgreSQL. (Sign-in latency and throughput: `cargo bench -p auth-server --bench idp`.)

mod idp_support;

use auth_idp::Idp;
use auth_server::Renewed;
use idp_support::{Jar, Kind, Renewal, Server, TestDb, config, listener, renew, verify};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;

const PW: &str = "correct horse battery";

both_backends!(
    two_instances_share_keys_and_sessions,
    restart_keeps_keys_and_sessions,
    key_rotation_keeps_old_tokens_valid,
    sign_up_is_atomic,
);

async fn two_instances_share_keys_and_sessions(kind: Kind) {
    let db = TestDb::new(kind).await;
    let (la, base_a) = listener().await;
    let (lb, base_b) = listener().await;
    // Both instances share one issuer (one app behind a load balancer) and start concurrently on
    // an empty database: they must agree on one current key.
    let issuer = "https://app.example.test";
    let (a, b) = tokio::join!(
        Idp::connect(config(&db, &base_a).with_issuer(issuer)),
        Idp::connect(config(&db, &base_b).with_issuer(issuer)),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.jwks().keys.len(), 1);
    assert_eq!(
        serde_json::to_value(a.jwks()).unwrap(),
        serde_json::to_value(b.jwks()).unwrap()
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys").await,
        1,
        "one key in the database"
    );
    let sa = Server::serve(a, la, base_a);
    let sb = Server::serve(b, lb, base_b);

    // Sign in via A, refresh via B; tokens from one verify on the other.
    let mut jar = Jar::default();
    assert_eq!(
        sa.sign_up("ann@example.com", PW, &mut jar).await.status,
        201
    );
    let token_a = jar.cookies["__session"].clone();
    assert!(verify(&sb.idp, &token_a).await.is_some());
    let Renewal::Renewed(Renewed { token, claims, .. }) = renew(&sb.idp, &jar).await else {
        panic!("B refreshes A's session");
    };
    assert!(verify(&sa.idp, &token).await.is_some());
    assert_eq!(claims.iss, issuer);
    assert_eq!(
        sb.get("/auth/session", &mut jar.clone()).await.body["user"]["email"],
        "ann@example.com"
    );
    // Sign out on A → B refuses to refresh.
    let before = jar.clone();
    assert_eq!(
        sa.post_json("/auth/sign-out", json!({}), &mut jar)
            .await
            .status,
        200
    );
    assert!(matches!(renew(&sb.idp, &before).await, Renewal::Ended));
    assert_eq!(
        sb.get("/auth/session", &mut before.clone()).await.body["auth"]["status"],
        "signed_out"
    );
    // Users written by one are seen by the other.
    assert!(
        sb.idp
            .users()
            .get_by_email("ann@example.com")
            .await
            .unwrap()
            .is_some()
    );
}

async fn restart_keeps_keys_and_sessions(kind: Kind) {
    let db = TestDb::new(kind).await;
    let (l1, base) = listener().await;
    let first = Idp::connect(config(&db, &base)).await.unwrap();
    let jwks = serde_json::to_value(first.jwks()).unwrap();
    let s1 = Server::serve(first, l1, base.clone());
    let mut jar = Jar::default();
    assert_eq!(
        s1.sign_up("ben@example.com", PW, &mut jar).await.status,
        201
    );
    let token = jar.cookies["__session"].clone();
    s1.idp.close().await;
    drop(s1);

    let second = Idp::connect(config(&db, &base)).await.unwrap();
    assert_eq!(
        serde_json::to_value(second.jwks()).unwrap(),
        jwks,
        "same keys"
    );
    assert!(
        verify(&second, &token).await.is_some(),
        "old token verifies"
    );
    assert!(matches!(renew(&second, &jar).await, Renewal::Renewed(_)));
    let (l2, base2) = listener().await;
    let s2 = Server::serve(second, l2, base2);
    assert_eq!(
        s2.sign_in("ben@example.com", PW, &mut Jar::default())
            .await
            .status,
        200
    );
}

async fn key_rotation_keeps_old_tokens_valid(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let other = Idp::connect(config(&db, &s.base)).await.unwrap();
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("cat@example.com", PW, &mut jar).await.status, 201);
    let old_token = jar.cookies["__session"].clone();
    let old_kid = jsonwebtoken::decode_header(&old_token)
        .unwrap()
        .kid
        .unwrap();

    // An immediate rotation (`rotate-keys --now`, after a leak); the staged one: tests/keys.rs.
    let new_kid = s.idp.rotate_keys_now().await.unwrap();
    assert_ne!(new_kid, old_kid);
    let jwks = s.idp.jwks();
    assert_eq!(jwks.keys.len(), 2, "retired key still published");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1")
            .await,
        1
    );
    // New tokens use the new key; the old token still verifies (here and on the other instance).
    let Renewal::Renewed(Renewed { token, .. }) = renew(&s.idp, &jar).await else {
        panic!()
    };
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.unwrap(),
        new_kid
    );
    assert!(verify(&s.idp, &old_token).await.is_some());
    // Another instance publishes (and its verifier knows) the new key once it re-reads the
    // keys, as its stack's background task does every `key_reload_interval` (10 s).
    assert_eq!(other.reload_keys().await.unwrap().keys.len(), 2);
    assert!(
        verify(&other, &token).await.is_some(),
        "new key after a reload"
    );
    // The HTTP JWKS lists both, and every published key verifies its tokens.
    let published: jsonwebtoken::jwk::JwkSet = s
        .http
        .get(s.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for t in [&old_token, &token] {
        let kid = jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
        let key = DecodingKey::from_jwk(published.find(&kid).unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::ES256);
        v.set_issuer(&[s.base.as_str()]);
        jsonwebtoken::decode::<serde_json::Value>(t, &key, &v).unwrap();
    }
    // Once the retirement window is over the old key is no longer published.
    db.exec("UPDATE signing_keys SET retired_at = 1 WHERE current_marker IS NULL")
        .await;
    assert_eq!(s.idp.reload_keys().await.unwrap().keys.len(), 1);
    assert!(verify(&s.idp, &old_token).await.is_none());
}

async fn sign_up_is_atomic(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    // Make the session insert (the last write of sign-up) fail — on PostgreSQL with a unique
    // violation, which must not be mistaken for "email taken".
    match kind {
        Kind::Sqlite => {
            db.exec(
                "CREATE TRIGGER fail_sessions BEFORE INSERT ON sessions \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .await
        }
        Kind::Postgres => {
            db.exec(
                "CREATE FUNCTION fail_sessions() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'injected failure' USING ERRCODE = 'unique_violation'; END; $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER fail_sessions BEFORE INSERT ON sessions \
                 FOR EACH ROW EXECUTE FUNCTION fail_sessions();",
            )
            .await
        }
    }
    let r = s.sign_up("dan@example.com", PW, &mut Jar::default()).await;
    assert_eq!(r.status, 500);
    assert_eq!(r.error(), "Internal server error");
    assert!(r.set_cookies().is_empty());
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM users").await,
        0,
        "rolled back"
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM credentials").await, 0);

    match kind {
        Kind::Sqlite => db.exec("DROP TRIGGER fail_sessions").await,
        Kind::Postgres => db.exec("DROP TRIGGER fail_sessions ON sessions").await,
    }
    assert_eq!(
        s.sign_up("dan@example.com", PW, &mut Jar::default())
            .await
            .status,
        201
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 1);
}

/// On PostgreSQL the rate-limit counters live in the shared database: two instances enforce one
/// budget between them, not one each, even under a concurrent burst split between them. (On
/// SQLite, one instance, they are in memory: `rate_limit.rs`'s unit tests.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_share_one_rate_limit_budget() {
    use auth_idp::RateLimitConfig;
    let db = TestDb::new(Kind::Postgres).await;
    let limits = RateLimitConfig {
        sign_up_per_address: 4,
        ..RateLimitConfig::default()
    };
    let start = |db| Server::start_with(db, |c| c.with_rate_limit(limits));
    let (a, b) = (start(&db).await, start(&db).await);
    assert_eq!(
        a.sign_up("dee@example.com", PW, &mut Jar::default())
            .await
            .status,
        201
    );

    // Failed sign-ins for one (account, address) pair, alternating between the instances: the
    // pair's budget (10 per window) is spent once, then both refuse.
    let budget = RateLimitConfig::default().max_failures;
    let mut statuses = Vec::new();
    for n in 0..budget + 4 {
        let server = if n % 2 == 0 { &a } else { &b };
        let answer = server
            .sign_in("dee@example.com", "wrong password!", &mut Jar::default())
            .await;
        statuses.push(answer.status);
    }
    let failed = statuses.iter().filter(|&&s| s == 401).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(
        (failed, limited),
        (budget as usize, 4),
        "one budget for the pair across both instances: {statuses:?}"
    );
    // The owner's right password from this address is refused too (the pair is spent), on
    // either instance.
    assert_eq!(
        b.sign_in("dee@example.com", PW, &mut Jar::default())
            .await
            .status,
        429
    );

    // A burst of sign-ups from one address, half on each instance, all at once: exactly the
    // per-address budget gets through (the first sign-up above used one).
    let burst = (0..12).map(|n| {
        let server = if n % 2 == 0 { &a } else { &b };
        async move {
            server
                .sign_up(&format!("burst{n}@example.com"), PW, &mut Jar::default())
                .await
                .status
        }
    });
    let statuses = futures::future::join_all(burst).await;
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 429).count(),
        9,
        "{statuses:?}"
    );
    assert!(db.scalar("SELECT COUNT(*) FROM rate_limits").await >= 4);
}
