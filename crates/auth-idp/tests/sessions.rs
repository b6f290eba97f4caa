//! Session lifecycle over real HTTP and the real store (SQLite and PostgreSQL): refresh-secret
//! rotation with a grace and reuse detection, idle timeout and absolute lifetime, at most one
//! `last_active_at` write a minute, no refresh for static files, sign-up replacing the browser's
//! session, sign-out without a database, and no internal error text in any answer.

mod idp_support;

use auth_server::{AuthConfig, CurrentUser, RequireAuth, SessionBackend};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use idp_support::proxy::Proxy;
use idp_support::{Jar, Kind, Renewal, Resp, Server, TestDb, listener, renew};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const PW: &str = "correct horse battery";

both_backends!(
    refresh_rotates_the_secret,
    rotated_out_secret_works_in_grace_and_revokes_after,
    concurrent_refreshes_rotate_once,
    idle_timeout_and_max_age_end_sessions,
    last_active_is_written_at_most_once_a_minute,
    static_files_never_refresh,
    sign_up_revokes_the_previous_session,
);

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// What the store keeps of a refresh secret.
fn hash(secret: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// `Max-Age` of the `__refresh` cookie a response sets, if it sets one.
fn refresh_max_age(r: &Resp) -> Option<i64> {
    r.set_cookies().iter().find_map(|c| {
        let c = cookie::Cookie::parse(c.clone()).ok()?;
        (c.name() == "__refresh" && !c.value().is_empty())
            .then(|| c.max_age().map_or(-1, |a| a.whole_seconds()))
    })
}

fn sets_refresh(r: &Resp) -> bool {
    r.set_cookies().iter().any(|c| c.starts_with("__refresh="))
}

/// Sign up with a one-second token, wait for it to expire: the next request must refresh.
async fn expired_session(kind: Kind, email: &str) -> (TestDb, Server, Jar) {
    expired_session_with(kind, email, |c| c).await
}

async fn expired_session_with(
    kind: Kind,
    email: &str,
    make: impl FnOnce(auth_idp::IdpConfig) -> auth_idp::IdpConfig,
) -> (TestDb, Server, Jar) {
    let db = TestDb::new(kind).await;
    let s = Server::start_with(&db, |c| {
        make(c.with_session_token_ttl(Duration::from_secs(1)))
    })
    .await;
    let mut jar = Jar::default();
    let r = s.sign_up(email, PW, &mut jar).await;
    assert_eq!(r.status, 201, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    (db, s, jar)
}

/// Sessions that were rotated at least once.
async fn rotated_sessions(db: &TestDb) -> i64 {
    db.scalar("SELECT COUNT(*) FROM sessions WHERE rotated_at IS NOT NULL")
        .await
}

async fn count_hash(db: &TestDb, secret: &str) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM sessions WHERE refresh_secret_hash = '{}'",
        hash(secret)
    ))
    .await
}

// ---- rotation ---------------------------------------------------------------------------------

/// Each refresh hands out a new refresh secret (the layer sets it), the store keeps only its
/// hash, and the cookie never outlives the session.
async fn refresh_rotates_the_secret(kind: Kind) {
    let (db, s, mut jar) = expired_session(kind, "rot@example.com").await;
    let first = jar.cookies["__refresh"].clone();
    assert_eq!(count_hash(&db, &first).await, 1);

    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_in", "{}", r.text);
    let second = jar.cookies["__refresh"].clone();
    assert_ne!(second, first, "the refresh rotated the secret");
    assert_eq!(
        count_hash(&db, &second).await,
        1,
        "the new secret is current"
    );
    assert_eq!(count_hash(&db, &first).await, 0, "the old one is not");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE previous_secret_hash = '{}'",
            hash(&first)
        ))
        .await,
        1,
        "the old one is kept as the previous secret"
    );
    // Same family tag, new random part.
    assert_eq!(
        first.split_once('.').unwrap().0,
        second.split_once('.').unwrap().0
    );
    let max_age = refresh_max_age(&r).expect("a __refresh cookie");
    assert!(
        max_age > 0 && max_age <= 7 * 86400,
        "Max-Age {max_age}: at most the idle timeout"
    );

    // The new secret refreshes again (and rotates again).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_in", "{}", r.text);
    assert_ne!(jar.cookies["__refresh"], second);
    assert_eq!(rotated_sessions(&db).await, 1);

    // The cookie never outlives the session's absolute end.
    db.exec(&format!("UPDATE sessions SET expires_at = {}", now() + 100))
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_in", "{}", r.text);
    let max_age = refresh_max_age(&r).expect("a __refresh cookie");
    assert!(
        (90..=100).contains(&max_age),
        "Max-Age {max_age} past the end"
    );
}

/// A rotated-out secret still works for the grace (another tab), without a refresh cookie so
/// the jar keeps the live one; after the grace it is a reuse: the whole session is revoked —
/// the live secret too — and the event is logged without any secret.
async fn rotated_out_secret_works_in_grace_and_revokes_after(kind: Kind) {
    let events = capture_events();
    let (db, s, mut jar) = expired_session_with(kind, "reuse@example.com", |c| {
        c.with_refresh_grace(Duration::from_secs(3))
    })
    .await;
    let stolen = jar.clone();
    let old = stolen.cookies["__refresh"].clone();
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_in");
    let live = jar.cookies["__refresh"].clone();
    assert_ne!(live, old);
    let sid = r.body["auth"]["session_id"]
        .as_str()
        .expect("a session id")
        .to_owned();

    // In the grace: a token, no refresh cookie, nothing written.
    let rotations = rotated_sessions(&db).await;
    let mut other_tab = stolen.clone();
    let r = s.get("/auth/session", &mut other_tab).await;
    assert_eq!(r.body["auth"]["status"], "signed_in", "{}", r.text);
    assert_eq!(r.set_cookies().len(), 1, "{:?}", r.set_cookies());
    assert!(
        !sets_refresh(&r),
        "a grace answer must not overwrite the live secret"
    );
    assert_eq!(
        count_hash(&db, &live).await,
        1,
        "the live secret is unchanged"
    );
    assert_eq!(rotated_sessions(&db).await, rotations);
    let Renewal::Renewed(renewed) = renew(&s.idp, &stolen).await else {
        panic!("the previous secret works in its grace");
    };
    assert!(renewed.refresh_secret.is_none());

    // After the grace: reuse. Signed out, cookies cleared, the session revoked.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let mut thief = stolen.clone();
    let r = s.get("/auth/session", &mut thief).await;
    assert_eq!(r.body["auth"]["status"], "signed_out", "{}", r.text);
    assert!(
        thief.cookies.is_empty(),
        "cookies cleared: {:?}",
        r.set_cookies()
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL")
            .await,
        1,
        "reuse revokes the session"
    );
    // ... so the legitimate holder of the live secret is signed out too.
    assert!(matches!(renew(&s.idp, &jar).await, Renewal::Ended));
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_out");

    let logged = events.lock().unwrap().clone();
    let reuse: Vec<&String> = logged
        .iter()
        .filter(|e| e.contains("event=refresh_reuse"))
        .filter(|e| e.contains(sid.as_str()))
        .collect();
    assert!(!reuse.is_empty(), "no refresh_reuse event in {logged:#?}");
    for line in &reuse {
        assert!(
            line.contains("session_id=sess_") && line.contains("user_id=user_"),
            "{line}"
        );
        assert!(
            !line.contains(&old) && !line.contains(&live),
            "a secret in the log: {line}"
        );
        let (family, _) = old.split_once('.').unwrap();
        assert!(!line.contains(family), "a family tag in the log: {line}");
    }
}

/// Concurrent refreshes of one secret, on two instances sharing the database: exactly one
/// rotates, every one of them gets a token, and the session ends with one live secret — the one
/// handed out.
async fn concurrent_refreshes_rotate_once(kind: Kind) {
    let (db, s, jar) = expired_session(kind, "race@example.com").await;
    let second = auth_idp::Idp::connect(
        idp_support::config(&db, &s.base).with_session_token_ttl(Duration::from_secs(1)),
    )
    .await
    .unwrap();
    let secret = jar.cookies["__refresh"].clone();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let idp = if i % 2 == 0 {
            s.idp.clone()
        } else {
            second.clone()
        };
        let secret = secret.clone();
        tasks.push(tokio::spawn(async move { idp.refresh(&secret).await }));
    }
    let mut rotated = Vec::new();
    for task in tasks {
        let renewed = task
            .await
            .unwrap()
            .expect("the store answers")
            .expect("every concurrent refresh gets a token");
        if let Some(new) = renewed.refresh_secret {
            rotated.push(new);
        }
    }
    assert_eq!(
        rotated.len(),
        1,
        "exactly one request rotates: {}",
        rotated.len()
    );
    assert_eq!(
        count_hash(&db, &rotated[0]).await,
        1,
        "its secret is the live one"
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE previous_secret_hash = '{}'",
            hash(&secret)
        ))
        .await,
        1
    );
    let mut next = Jar::default();
    next.cookies.insert("__refresh".into(), rotated[0].clone());
    assert!(matches!(renew(&s.idp, &next).await, Renewal::Renewed(_)));
}

// ---- lifetimes --------------------------------------------------------------------------------

/// Idle longer than the timeout, or past the absolute end (the stored one, or the configured
/// max age if it was lowered since): the refresh fails and the browser is signed out.
async fn idle_timeout_and_max_age_end_sessions(kind: Kind) {
    let (db, s, jar) = expired_session(kind, "life@example.com").await;
    let idle = 7 * 86400;
    let max_age = 30 * 86400;
    let cases = [
        (
            "idle past the timeout",
            format!("last_active_at = {}", now() - idle - 1),
            false,
        ),
        (
            "idle within the timeout",
            format!("last_active_at = {}", now() - idle + 120),
            true,
        ),
        (
            "past its expiry",
            format!("expires_at = {}", now() - 1),
            false,
        ),
        (
            "older than the max age (lowered since)",
            format!(
                "created_at = {}, expires_at = {}",
                now() - max_age - 1,
                now() + 86400
            ),
            false,
        ),
    ];
    for (what, set, alive) in cases {
        // A fresh session for each case, on the same account.
        let mut j = Jar::default();
        assert_eq!(s.sign_in("life@example.com", PW, &mut j).await.status, 200);
        db.exec(&format!(
            "UPDATE sessions SET {set} WHERE refresh_secret_hash = '{}'",
            hash(&j.cookies["__refresh"])
        ))
        .await;
        let live = matches!(renew(&s.idp, &j).await, Renewal::Renewed(_));
        assert_eq!(live, alive, "{what}");
        if !alive {
            let mut expired = j.clone();
            expired.cookies.remove("__session");
            let r = s.get("/auth/session", &mut expired).await;
            assert_eq!(r.body["auth"]["status"], "signed_out", "{what}");
            assert!(expired.cookies.is_empty(), "{what}: cookies cleared");
        }
    }
    drop(jar);
}

/// A refresh records activity only when the recorded one is a minute old or more; rotation
/// itself is the only write.
async fn last_active_is_written_at_most_once_a_minute(kind: Kind) {
    let (db, s, mut jar) = expired_session(kind, "active@example.com").await;
    let recent = now() - 30;
    db.exec(&format!("UPDATE sessions SET last_active_at = {recent}"))
        .await;
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_in");
    assert_eq!(
        db.scalar("SELECT last_active_at FROM sessions").await,
        recent,
        "activity 30 s old is not rewritten"
    );
    let old = now() - 61;
    db.exec(&format!("UPDATE sessions SET last_active_at = {old}"))
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["auth"]["status"], "signed_in");
    let written = db.scalar("SELECT last_active_at FROM sessions").await;
    assert!(
        written >= now() - 5,
        "activity 61 s old is rewritten: {written}"
    );
    // Requests with a valid token write nothing at all.
    let rotated = db.scalar("SELECT rotated_at FROM sessions").await;
    for _ in 0..5 {
        let r = s.get("/auth/session", &mut jar).await;
        assert_eq!(r.body["auth"]["status"], "signed_in");
        assert!(r.set_cookies().is_empty());
    }
    assert_eq!(db.scalar("SELECT rotated_at FROM sessions").await, rotated);
    assert_eq!(
        db.scalar("SELECT last_active_at FROM sessions").await,
        written
    );
}

/// Requests for static files verify but never refresh: an expired page load with 20 asset
/// requests rotates the session once, for the document.
async fn static_files_never_refresh(kind: Kind) {
    let (db, first, mut jar) = expired_session(kind, "assets@example.com").await;
    // No session token at all (an expired one is still accepted within the verifier's leeway):
    // only the refresh cookie can sign these requests in.
    jar.cookies.remove("__session");
    // An app that answers every path (its pages and its files) inside the auth stack.
    let (listener, base) = listener().await;
    let idp = first.idp.clone();
    let app: Router = idp
        .stack(AuthConfig::embedded())
        .unwrap()
        .apply(
            Router::new().fallback(|auth: auth_server::Auth| async move {
                if auth.is_signed_in() {
                    "signed in"
                } else {
                    "signed out"
                }
            }),
        );
    let s = Server::serve_app(idp, listener, base, app);
    let secret = jar.cookies["__refresh"].clone();
    for path in [
        "/assets/main-dxh1.css",
        "/assets/favicon-dxh2.svg",
        "/wasm/app_bg-dxh3.wasm",
        "/wasm/app-dxh4.js",
        "/favicon.ico",
    ]
    .iter()
    .cycle()
    .take(20)
    {
        let r = s.get(path, &mut jar.clone()).await;
        assert_eq!((r.status, r.text.as_str()), (200, "signed out"), "{path}");
        assert!(r.set_cookies().is_empty(), "{path}: {:?}", r.set_cookies());
    }
    assert_eq!(
        count_hash(&db, &secret).await,
        1,
        "no asset rotated the secret"
    );
    assert_eq!(rotated_sessions(&db).await, 0);
    // The document does.
    let r = s.get("/dashboard", &mut jar.clone()).await;
    assert_eq!(r.text, "signed in");
    assert!(sets_refresh(&r), "{:?}", r.set_cookies());
    assert_eq!(rotated_sessions(&db).await, 1);
}

// ---- sign-up, sign-out ------------------------------------------------------------------------

/// Signing up from a browser that is signed in replaces its session: the old one is revoked,
/// as on sign-in (no orphaned, still-refreshable session in the jar's past).
async fn sign_up_revokes_the_previous_session(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    assert_eq!(
        s.sign_up("first@example.com", PW, &mut jar).await.status,
        201
    );
    let before = jar.clone();
    assert_eq!(
        s.sign_up("second@example.com", PW, &mut jar).await.status,
        201
    );
    assert_ne!(jar.cookies["__refresh"], before.cookies["__refresh"]);
    assert!(matches!(renew(&s.idp, &before).await, Renewal::Ended));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL")
            .await,
        1
    );
    let r = s.get("/auth/session", &mut jar).await;
    assert_eq!(r.body["user"]["email"], "second@example.com");
}

/// PostgreSQL behind the proxy, with the routes an app adds (`/api/me` from the token alone,
/// `/api/user` from the store).
async fn app_behind_proxy(db: &TestDb) -> (Proxy, Server) {
    let rest = db.url.split_once("://").unwrap().1;
    let (auth, after) = rest.split_once('@').unwrap();
    let (hostport, path) = after.split_once('/').unwrap();
    let proxy = Proxy::start(hostport.to_owned()).await;
    let url = format!("postgres://{auth}@{}/{path}", proxy.addr);
    let (listener, base) = listener().await;
    let config = idp_support::config(db, &base);
    let config = auth_idp::IdpConfig {
        database_url: url,
        ..config
    };
    let idp = auth_idp::Idp::connect(config).await.unwrap();
    let app: Router = idp.stack(AuthConfig::embedded()).unwrap().apply(
        Router::new()
            .route(
                "/api/me",
                get(|a: RequireAuth| async move { a.user_id().to_string() }),
            )
            .route(
                "/api/user",
                get(|CurrentUser(u): CurrentUser| async move { Json(u) }),
            ),
    );
    (proxy, Server::serve_app(idp, listener, base, app))
}

/// Nothing of the database, the driver or the file system in an answer.
fn assert_no_internals(what: &str, r: &Resp) {
    let lower = r.text.to_lowercase();
    for needle in [
        "sqlx",
        "sql",
        "select",
        "update ",
        "insert",
        "relation",
        "database",
        "pool",
        "postgres",
        "sqlite",
        "connection",
        "refused",
        "/tmp",
        ".rs",
        "error returned",
        "panicked",
    ] {
        assert!(
            !lower.contains(needle),
            "{what}: the answer leaks {needle:?}: {} {}",
            r.status,
            r.text
        );
    }
}

/// With PostgreSQL cut off: sign-out and sign-out-all still clear the browser's cookies (with a
/// 503 saying the session could not be ended), and no endpoint's answer carries database text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_out_clears_cookies_and_errors_stay_generic_when_the_database_is_down() {
    let db = TestDb::new(Kind::Postgres).await;
    let (proxy, s) = app_behind_proxy(&db).await;
    let mut jar = Jar::default();
    assert_eq!(
        s.sign_up("down@example.com", PW, &mut jar).await.status,
        201
    );
    proxy.cut();

    for path in ["/auth/sign-out", "/auth/sign-out-all"] {
        let mut j = jar.clone();
        let r = s.post_json(path, json!({}), &mut j).await;
        assert_eq!(r.status, 503, "{path}: {}", r.text);
        assert_eq!(r.body, json!({"error": "Service unavailable"}), "{path}");
        let cleared = r.set_cookies();
        assert_eq!(cleared.len(), 2, "{path}: {cleared:?}");
        assert!(cleared.iter().all(|c| c.contains("Max-Age=0")), "{path}");
        assert!(j.cookies.is_empty(), "{path}: the browser is signed out");
        assert_no_internals(path, &r);
    }
    // A form sign-out too.
    let mut j = jar.clone();
    let r = s.post_form("/auth/sign-out", &[], &mut j).await;
    assert!(
        j.cookies.is_empty(),
        "form sign-out: {} {:?}",
        r.status,
        r.set_cookies()
    );

    let mut answers = vec![
        (
            "sign-up",
            s.sign_up("new@example.com", PW, &mut Jar::default()).await,
        ),
        (
            "sign-in",
            s.sign_in("down@example.com", PW, &mut Jar::default()).await,
        ),
        ("session", s.get("/auth/session", &mut jar.clone()).await),
        ("token", s.get("/auth/token", &mut jar.clone()).await),
        ("user", s.get("/api/user", &mut jar.clone()).await),
    ];
    let mut expired = jar.clone();
    expired.cookies.remove("__session");
    answers.push(("refresh", s.get("/api/me", &mut expired).await));
    for (what, r) in &answers {
        assert_no_internals(what, r);
        assert!(
            r.status < 500 || r.status == 503,
            "{what}: {} {}",
            r.status,
            r.text
        );
    }
    assert_eq!(answers[0].1.status, 503);
    assert_eq!(answers[1].1.status, 503);
}

/// A broken schema (an internal error, not an outage): fixed `500 {"error":"Internal server
/// error"}` answers, still nothing of the database in them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_stay_generic() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    assert_eq!(
        s.sign_up("broken@example.com", PW, &mut jar).await.status,
        201
    );
    db.exec("ALTER TABLE sessions RENAME TO sessions_gone")
        .await;
    let answers = [
        (
            "sign-up",
            s.sign_up("other@example.com", PW, &mut Jar::default())
                .await,
        ),
        (
            "sign-in",
            s.sign_in("broken@example.com", PW, &mut Jar::default())
                .await,
        ),
        ("session", s.get("/auth/session", &mut jar.clone()).await),
        ("token", s.get("/auth/token", &mut jar.clone()).await),
        (
            "sign-out",
            s.post_json("/auth/sign-out", json!({}), &mut jar.clone())
                .await,
        ),
    ];
    for (what, r) in &answers {
        assert_no_internals(what, r);
    }
    let (_, up) = &answers[0];
    assert_eq!(up.status, 500, "{}", up.text);
    assert_eq!(up.body, json!({"error": "Internal server error"}));
}

// ---- the security event log -------------------------------------------------------------------

/// Every `auth::events` event of this test binary, as `field=value` lines.
fn capture_events() -> Arc<Mutex<Vec<String>>> {
    static EVENTS: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    EVENTS
        .get_or_init(|| {
            let events = Arc::new(Mutex::new(Vec::new()));
            tracing::subscriber::set_global_default(Capture(events.clone()))
                .expect("no other subscriber in this test binary");
            events
        })
        .clone()
}

struct Capture(Arc<Mutex<Vec<String>>>);

struct Line(String);

impl tracing::field::Visit for Line {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "auth::events"
    }

    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }

    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}

    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = Line(String::new());
        event.record(&mut line);
        self.0.lock().unwrap().push(line.0);
    }

    fn enter(&self, _: &tracing::span::Id) {}

    fn exit(&self, _: &tracing::span::Id) {}
}
