//! Fault injection against the real parts over real HTTP: PostgreSQL cut off behind a TCP proxy;
//! a SQLite file made read-only (immutable, which binds root too) or locked by another process.
//!
//! What must hold: a database outage is a quick `503 {"error":"Service unavailable"}` (never a
//! 500, never a panic), and the server recovers by itself when the database is back.

mod idp_support;

use auth_idp::Idp;
use auth_server::{AuthConfig, CurrentUser, RequireAuth};
use axum::routing::get;
use axum::{Json, Router};
use idp_support::proxy::Proxy;
use idp_support::{FAST_HASH, Jar, Kind, Resp, Server, TestDb, listener};
use serde_json::json;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";

// ---- database faults -----------------------------------------------------------------------

/// The app as `AuthStack::apply` wires it, with a stateless route (`/api/me`, JWT only), one
/// that reads the user from the database (`/api/user`) and a health route.
async fn start_app(database_url: &str) -> Server {
    let (listener, base) = listener().await;
    let config = auth_idp::IdpConfig::new(database_url, &base)
        .unwrap()
        .with_password_params(FAST_HASH);
    let idp = Idp::connect(config).await.unwrap();
    let stack = idp.stack(AuthConfig::embedded()).unwrap();
    let app: Router = stack.apply(
        Router::new()
            .route(
                "/api/me",
                get(|a: RequireAuth| async move { a.user_id().to_string() }),
            )
            .route(
                "/api/user",
                get(|CurrentUser(u): CurrentUser| async move { Json(u) }),
            )
            .route("/api/health", get(|| async { "ok" })),
    );
    Server::serve_app(idp, listener, base, app)
}

fn assert_unavailable(what: &str, r: &Resp) {
    assert_eq!(r.status, 503, "{what}: {} {}", r.status, r.text);
    assert_eq!(r.body, json!({ "error": "Service unavailable" }), "{what}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{what}: content-type {:?}",
        r.header("content-type")
    );
}

/// Times a request: a database outage must be answered, not hang.
async fn timed<F: std::future::Future<Output = Resp>>(what: &str, f: F) -> Resp {
    let t = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(15), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 15 s"));
    eprintln!("{what}: {} in {:?}", r.status, t.elapsed());
    r
}

/// Retries `f` until it returns `want` (the database came back; nothing was restarted).
async fn until_status<F, Fut>(what: &str, want: u16, mut f: F) -> Resp
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Resp>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = f().await;
        if r.status == want {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {} {} 30 s after the database came back",
            r.status,
            r.text
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What every outage must look like, then the recovery: writes and database reads answer 503
/// JSON, stateless token checks keep working, and once the database is back the same server
/// signs in and up again.
async fn outage_and_recovery(
    s: &Server,
    signed_in: &mut Jar,
    email: &str,
    reads_fail: bool,
    cut: impl FnOnce(),
    restore: impl FnOnce(),
) {
    cut();
    let mut fresh = Jar::default();
    let r = timed(
        "sign-up during the outage",
        s.sign_up("new@example.com", PASSWORD, &mut fresh),
    )
    .await;
    assert_unavailable("sign-up", &r);
    let r = timed(
        "sign-in during the outage",
        s.sign_in(email, PASSWORD, &mut fresh),
    )
    .await;
    assert_unavailable("sign-in", &r);
    if reads_fail {
        let r = timed("current user", s.get("/api/user", signed_in)).await;
        assert_unavailable("current user", &r);
        let r = timed("/auth/session", s.get("/auth/session", signed_in)).await;
        assert_unavailable("/auth/session", &r);
    }
    // Verification needs no database: an issued session token still works.
    let r = timed("stateless route", s.get("/api/me", signed_in)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(s.get("/api/health", &mut fresh).await.status, 200);

    restore();
    until_status("sign-in after recovery", 200, || {
        let mut jar = Jar::default();
        async move { s.sign_in(email, PASSWORD, &mut jar).await }
    })
    .await;
    // A connection that failed may fail once more before it resets: retry, as a client would.
    let mut n = 0;
    until_status("sign-up after recovery", 201, || {
        n += 1;
        let email = format!("after-{n}@example.com");
        async move { s.sign_up(&email, PASSWORD, &mut Jar::default()).await }
    })
    .await;
    let r = s.get("/api/user", signed_in).await;
    assert_eq!(r.status, 200, "current user after recovery: {}", r.text);
    assert_eq!(r.body["email"], email);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers() {
    let db = TestDb::new(Kind::Postgres).await;
    let mut url = url::Url::parse(&db.url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.addr.port())).unwrap();
    let s = start_app(url.as_str()).await;

    let mut jar = Jar::default();
    let up = s.sign_up("pg@example.com", PASSWORD, &mut jar).await;
    assert_eq!(up.status, 201, "{}", up.text);
    outage_and_recovery(
        &s,
        &mut jar,
        "pg@example.com",
        true,
        || proxy.cut(),
        || proxy.restore(),
    )
    .await;
}

/// `chattr +i`: an immutable file cannot be written even by root (tests run as root, where a
/// plain `chmod` blocks nothing). Undone on drop, so a failing test leaves no stuck file.
struct Immutable(Vec<std::path::PathBuf>);

impl Immutable {
    /// `None` when the file system does not support the flag (then the test says so and skips).
    fn set(paths: &[std::path::PathBuf]) -> Option<Self> {
        let this = Self(paths.to_vec());
        for p in paths {
            let ok = std::process::Command::new("chattr")
                .arg("+i")
                .arg(p)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
        }
        Some(this)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(p)
                .status();
        }
    }
}

fn sqlite_file(db: &TestDb) -> std::path::PathBuf {
    let path = db.url.strip_prefix("sqlite://").unwrap();
    std::path::PathBuf::from(path.split('?').next().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_only_file_answers_503_and_recovers() {
    // Setting the immutable flag needs root (CAP_LINUX_IMMUTABLE); CI runs as root.
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        eprintln!("skipped: making the database immutable (chattr +i) needs root");
        return;
    }
    let db = TestDb::new(Kind::Sqlite).await;
    let s = start_app(&db.url).await;
    let mut jar = Jar::default();
    let up = s.sign_up("lite@example.com", PASSWORD, &mut jar).await;
    assert_eq!(up.status, 201, "{}", up.text);

    let file = sqlite_file(&db);
    let mut wal = file.clone().into_os_string();
    wal.push("-wal");
    let files = [file.clone(), wal.into()];
    let guard = Mutex::new(None);
    let cut = || {
        let set = Immutable::set(&files);
        assert!(
            set.is_some(),
            "chattr +i failed on {}: the read-only scenario needs a file system with the \
             immutable flag (ext4, xfs, btrfs) and root",
            file.display()
        );
        *guard.lock().unwrap() = set;
    };
    let restore = || drop(guard.lock().unwrap().take());
    // Reads of a read-only database keep working: only writes fail.
    outage_and_recovery(&s, &mut jar, "lite@example.com", false, cut, restore).await;
    let r = s.get("/api/user", &mut jar).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_answers_503_and_recovers() {
    use sqlx::Connection;
    let db = TestDb::new(Kind::Sqlite).await;
    let s = start_app(&db.url).await;
    let mut jar = Jar::default();
    let up = s.sign_up("locked@example.com", PASSWORD, &mut jar).await;
    assert_eq!(up.status, 201, "{}", up.text);

    // Another process (a backup, the sqlite3 shell) holds the write lock: a thread of its own
    // with its own connection, `BEGIN EXCLUSIVE` until told to commit.
    let url = db.url.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut other = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql("BEGIN EXCLUSIVE")
                .execute(&mut other)
                .await
                .unwrap();
            locked_tx.send(()).unwrap();
            let _ = release_rx.recv();
            sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
            other.close().await.unwrap();
        });
    });
    let cut = || locked_rx.recv().expect("the lock holder started");
    let restore = || release_tx.send(()).unwrap();
    outage_and_recovery(&s, &mut jar, "locked@example.com", false, cut, restore).await;
    holder.join().unwrap();
}
