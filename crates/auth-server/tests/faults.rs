//! Fault injection against the real parts over real HTTP: a JWKS endpoint that is down, hangs,
//! answers garbage or 10 MB; PostgreSQL cut off behind a TCP proxy; a SQLite file made
//! read-only (immutable, which binds root too) or locked by another process.
//!
//! What must hold: known keys keep verifying and the server keeps answering; a database outage
//! is a quick `503 {"error":"Service unavailable"}` (never a 500, never a panic), and the server
//! recovers by itself when the database is back.

mod idp_support;
mod common {
    pub mod keys;
    pub mod server;
}

use auth_server::idp::Idp;
use auth_server::{
    AuthConfig, AuthLayer, AuthStack, CacheConfig, CurrentUser, KeyError, KeySource, KeyStore,
    RequireAuth, Verifier,
};
use axum::routing::get;
use axum::{Json, Router};
use common::keys::{ISSUER, TestKey, claims_with, jwks};
use idp_support::{FAST_HASH, Jar, Kind, Resp, Server, TestDb, listener};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const PASSWORD: &str = "correct horse battery";

// ---- JWKS endpoint faults ------------------------------------------------------------------

/// How the fault-injecting JWKS server answers.
#[derive(Debug, Clone)]
enum Jwks {
    /// 200 with this JSON.
    Ok(String),
    /// This status, empty body.
    Status(u16),
    /// Accepts the connection, then closes it without a word.
    Reset,
    /// Accepts and reads the request, then never answers.
    Hang,
    /// 200 `application/json` whose body is not JSON.
    Garbage,
    /// 200 with a `content-length` of this many bytes, and the bytes.
    Huge(usize),
    /// 200 chunked (no length) streaming up to this many bytes.
    Chunked(usize),
}

/// A raw HTTP/1.1 JWKS server whose behaviour can be switched while it runs. Counts requests and
/// the body bytes it managed to write.
struct FaultyJwks {
    url: String,
    mode: Arc<Mutex<Jwks>>,
    requests: Arc<AtomicUsize>,
    written: Arc<AtomicUsize>,
}

impl FaultyJwks {
    async fn start(ok: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let this = Self {
            url,
            mode: Arc::new(Mutex::new(Jwks::Ok(ok))),
            requests: Arc::default(),
            written: Arc::default(),
        };
        let (mode, requests, written) = (
            this.mode.clone(),
            this.requests.clone(),
            this.written.clone(),
        );
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let mode = mode.lock().unwrap().clone();
                requests.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(answer(socket, mode, written.clone()));
            }
        });
        this
    }

    fn set(&self, mode: Jwks) {
        *self.mode.lock().unwrap() = mode;
    }
}

async fn answer(mut socket: TcpStream, mode: Jwks, written: Arc<AtomicUsize>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let ok = |len: usize| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
        )
    };
    let _ = match mode {
        Jwks::Ok(body) => {
            socket
                .write_all(format!("{}{body}", ok(body.len())).as_bytes())
                .await
        }
        Jwks::Status(code) => {
            socket
                .write_all(
                    format!(
                        "HTTP/1.1 {code} Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await
        }
        Jwks::Reset => return,
        Jwks::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        }
        Jwks::Garbage => {
            let body = "<html><body>502 Bad Gateway</body></html>\u{0}\u{1}{\"keys\":[";
            socket
                .write_all(format!("{}{body}", ok(body.len())).as_bytes())
                .await
        }
        Jwks::Huge(n) => {
            if socket.write_all(ok(n).as_bytes()).await.is_err() {
                return;
            }
            stream_body(&mut socket, n, false, &written).await
        }
        Jwks::Chunked(n) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            stream_body(&mut socket, n, true, &written).await
        }
    };
}

/// Writes `n` bytes of padding in 64 KiB pieces, stopping when the client hangs up.
async fn stream_body(
    socket: &mut TcpStream,
    n: usize,
    chunked: bool,
    written: &AtomicUsize,
) -> std::io::Result<()> {
    const PIECE: usize = 64 * 1024;
    let piece = " ".repeat(PIECE);
    let mut sent = 0;
    while sent < n {
        let len = PIECE.min(n - sent);
        let data = if chunked {
            format!("{len:x}\r\n{}\r\n", &piece[..len])
        } else {
            piece[..len].to_owned()
        };
        socket.write_all(data.as_bytes()).await?;
        sent += len;
        written.fetch_add(len, Ordering::SeqCst);
    }
    if chunked {
        socket.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

/// Every JWKS fault, one after the other, against a running server with a warm key cache:
/// requests signed by the known key keep answering 200 quickly (the hot path never waits on the
/// endpoint), a health route stays responsive, an unknown `kid` is refused within the fetch
/// timeout, the refresh attempts really happen (and fail), and a huge body is cut at the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_endpoint_faults_keep_known_keys_working_and_the_server_responsive() {
    let a = TestKey::es256_a();
    let good = serde_json::to_string(&jwks(&[&a])).unwrap();
    let endpoint = FaultyJwks::start(good.clone()).await;
    let cache = CacheConfig {
        ttl: Duration::ZERO, // every request finds the keys due for a background refresh
        cooldown: Duration::from_millis(100),
        fetch_timeout: Duration::from_millis(500),
        ..CacheConfig::default()
    };
    let config = AuthConfig::jwks(ISSUER)
        .with_key_source(KeySource::JwksUrl(endpoint.url.clone()))
        .with_cache(cache);
    let verifier = Verifier::from_config(&config).unwrap();
    let app = Router::new()
        .route(
            "/api/me",
            get(|auth: RequireAuth| async move { auth.user_id().to_string() }),
        )
        .route("/api/health", get(|| async { "ok" }))
        .layer(AuthLayer::new(verifier));
    let base = common::server::serve(app).await;
    let http = reqwest::Client::new();
    let me = |token: String| {
        let (http, url) = (http.clone(), format!("{base}/api/me"));
        async move {
            let t = Instant::now();
            let status = http
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status();
            (status.as_u16(), t.elapsed())
        }
    };
    let mut serial = 0u64;
    let mut fresh_token = || {
        // A distinct token each time: a full signature check, not a verified-token cache hit.
        serial += 1;
        a.sign(&claims_with(json!({ "jti": serial.to_string() })))
    };
    assert_eq!(me(fresh_token()).await.0, 200, "warm-up");

    let peak_before = peak_rss_kib();
    let faults = [
        ("HTTP 503", Jwks::Status(503)),
        ("connection closed", Jwks::Reset),
        ("hangs", Jwks::Hang),
        ("garbage body", Jwks::Garbage),
        ("10 MB body", Jwks::Huge(10 * 1024 * 1024)),
        ("64 MB chunked body", Jwks::Chunked(64 * 1024 * 1024)),
    ];
    for (name, fault) in faults {
        endpoint.set(fault);
        let before = endpoint.requests.load(Ordering::SeqCst);
        let until = Instant::now() + Duration::from_millis(1200);
        let mut slowest = Duration::ZERO;
        let mut n = 0;
        while Instant::now() < until {
            let health = http.get(format!("{base}/api/health")).send();
            let ((status, took), health) = tokio::join!(me(fresh_token()), health);
            assert_eq!(status, 200, "{name}: a known key must keep verifying");
            assert_eq!(health.unwrap().status(), 200, "{name}: health");
            slowest = slowest.max(took);
            n += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            slowest < Duration::from_millis(300),
            "{name}: a known-key request took {slowest:?}"
        );
        // An unknown kid waits at most for one (failing) fetch, then 401.
        let unknown = a.sign_with(&claims_with(json!({})), |h| {
            h.kid = Some(format!("unknown-{name}"))
        });
        tokio::time::sleep(Duration::from_millis(120)).await; // past the cool-down
        let (status, took) = me(unknown).await;
        assert_eq!(status, 401, "{name}: unknown kid");
        assert!(
            took < Duration::from_millis(1500),
            "{name}: unknown kid took {took:?}"
        );
        let tried = endpoint.requests.load(Ordering::SeqCst) - before;
        assert!(
            tried >= 2,
            "{name}: only {tried} refresh attempts in {n} requests: the fault was not exercised"
        );
        eprintln!("{name}: {n} requests, slowest {slowest:?}, {tried} failed refreshes");
    }
    // The body cap: a direct fetch of each big body fails with TooLarge, and the endless stream
    // was cut long before its end (the client stopped reading at the cap).
    for fault in [
        Jwks::Huge(10 * 1024 * 1024),
        Jwks::Chunked(64 * 1024 * 1024),
    ] {
        endpoint.set(fault);
        let store = KeyStore::jwks_url(endpoint.url.clone(), CacheConfig::default());
        assert!(matches!(
            store.refresh().await,
            Err(KeyError::TooLarge {
                limit: 1_048_576,
                ..
            })
        ));
        assert!(store.is_empty());
    }
    // Memory stayed bounded: dozens of 10 MB and 64 MB answers were fetched, yet the process's
    // peak RSS grew by far less than one of them (each fetch holds at most the 1 MiB cap).
    let written = endpoint.written.load(Ordering::SeqCst);
    let grown_mib = (peak_rss_kib() - peak_before) / 1024;
    eprintln!(
        "the JWKS server pushed {} MiB of oversize bodies; the peak RSS grew by {grown_mib} MiB",
        written / (1024 * 1024)
    );
    assert!(grown_mib < 32, "peak RSS grew by {grown_mib} MiB");

    // Back to normal: a new key is picked up again (once a fetch still in flight has failed).
    let b = TestKey::es256_b();
    endpoint.set(Jwks::Ok(serde_json::to_string(&jwks(&[&a, &b])).unwrap()));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        if me(b.sign(&claims_with(json!({})))).await.0 == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the new key was never picked up");
    }
}

/// The process's peak resident set size (`VmHWM`), in KiB.
fn peak_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ---- database faults -----------------------------------------------------------------------

/// A TCP proxy between the app and PostgreSQL that can cut the database off: while cut, every
/// live connection is dropped and new ones are closed on accept, as when the server stops.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        Self {
            addr,
            up,
            links,
            accept,
        }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// The app as `AuthStack::apply` wires it, with a stateless route (`/api/me`, JWT only), one
/// that reads the user from the database (`/api/user`) and a health route.
async fn start_app(database_url: &str) -> Server {
    let (listener, base) = listener().await;
    let config = auth_server::idp::IdpConfig::new(database_url, &base)
        .unwrap()
        .with_password_params(FAST_HASH);
    let idp = Idp::connect(config).await.unwrap();
    let stack = AuthStack::embedded(AuthConfig::embedded(), idp.clone()).unwrap();
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
