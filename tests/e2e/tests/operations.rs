//! What an operator relies on, over real HTTP against the release server: a graceful shutdown on
//! `SIGTERM` (the request in flight completes, new connections are refused, exit 0 within
//! `SHUTDOWN_TIMEOUT_SECS`), bad settings stopping the start, `/api/health` and `/api/ready`
//! (503 with a reason when PostgreSQL is cut off behind a proxy, or an external issuer's keys
//! cannot be had), request ids and JSON logs, and TCP_NODELAY (ten pages over one kept-alive
//! connection without Nagle's ~40 ms each).
//!
//! Needs the release bundle: `APP_BUNDLE_DIR=<dir> cargo test -p e2e --test operations`. The
//! readiness test also needs PostgreSQL at `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`, as the identity provider's tests) and `psql`.

use e2e::process::{DataDir, ServerProcess, free_port, run_until_exit};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const PASSWORD: &str = "correct horse battery";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

// ---- raw HTTP/1.1 over one connection -------------------------------------------------------

/// One HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (`Content-Length`, chunked, or up to the end of the connection); `None`
/// when the connection ends before a status line.
async fn read_response(conn: &mut BufReader<TcpStream>) -> Option<RawResponse> {
    let mut line = String::new();
    if conn.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await.ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut response = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            line.clear();
            conn.read_line(&mut line).await.ok()?;
            let size_text = line.trim_end().split(';').next()?.trim();
            let size = usize::from_str_radix(size_text, 16).ok()?;
            if size == 0 {
                // Trailers, then the empty line.
                loop {
                    line.clear();
                    conn.read_line(&mut line).await.ok()?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size + 2];
            conn.read_exact(&mut chunk).await.ok()?;
            chunk.truncate(size);
            response.body.extend_from_slice(&chunk);
        }
    } else if let Some(length) = response.header("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        conn.read_exact(&mut body).await.ok()?;
        response.body = body;
    } else {
        conn.read_to_end(&mut response.body).await.ok()?;
    }
    Some(response)
}

async fn connect(port: u16) -> BufReader<TcpStream> {
    BufReader::new(TcpStream::connect(("127.0.0.1", port)).await.unwrap())
}

/// The head of a JSON sign-up whose body (returned) is sent separately.
fn sign_up_request(port: u16, email: &str) -> (String, String) {
    let body = json!({ "email": email, "password": PASSWORD, "name": "Ops Test" }).to_string();
    let head = format!(
        "POST /auth/sign-up HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    (head, body)
}

/// Waits until connecting to `port` is refused (the listener is closed).
async fn until_refused(port: u16, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return start.elapsed(),
            // A connection that reached the backlog just as the listener closed is reset by the
            // kernel, not refused; the next attempt meets the closed port.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => panic!("connecting failed otherwise than refused: {e}"),
            Ok(_) => {
                assert!(
                    start.elapsed() < within,
                    "new connections still accepted {within:?} after SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

// ---- graceful shutdown ----------------------------------------------------------------------

/// A sign-up whose body is still on its way when SIGTERM arrives: the listener closes (new
/// connections are refused) but the request completes with 201, then the process exits 0, well
/// within the shutdown timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_request_in_flight_refuses_new_connections_and_exits_0() {
    let data = DataDir::new("ops-shutdown");
    let port = free_port();
    let (mut server, output) = ServerProcess::start_captured(
        &data.0,
        port,
        &[("SHUTDOWN_TIMEOUT_SECS", "8"), ("RUST_LOG", "info")],
    )
    .await;

    // An idle kept-alive connection (one request done) must not hold the shutdown up.
    let mut idle = connect(port).await;
    idle.get_mut()
        .write_all(format!("GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert_eq!(read_response(&mut idle).await.unwrap().status, 200);

    // The request in flight: its head is read, its handler waits for the body.
    let (head, body) = sign_up_request(port, "in-flight@ops.test");
    let mut in_flight = connect(port).await;
    in_flight
        .get_mut()
        .write_all(head.as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.terminate();
    let signalled = Instant::now();
    let refused_after = until_refused(port, Duration::from_secs(3)).await;
    // The idle connection is closed rather than kept.
    let closed = tokio::time::timeout(Duration::from_secs(3), read_response(&mut idle)).await;
    assert!(
        matches!(closed, Ok(None)),
        "the idle kept-alive connection was not closed: {closed:?}"
    );
    assert!(
        server.is_running(),
        "the server exited with a request in flight"
    );

    // The rest of the request arrives after the signal; it still completes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    in_flight
        .get_mut()
        .write_all(body.as_bytes())
        .await
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), read_response(&mut in_flight))
        .await
        .expect("the request in flight was answered")
        .expect("the request in flight was answered, not cut off");
    assert_eq!(
        response.status,
        201,
        "{}",
        String::from_utf8_lossy(&response.body)
    );

    let status = server
        .wait_exit(Duration::from_secs(8))
        .await
        .expect("the server exits within SHUTDOWN_TIMEOUT_SECS");
    let took = signalled.elapsed();
    eprintln!(
        "listener closed {refused_after:?} after SIGTERM; the request answered, then the \
         server exited ({status}) {took:?} after SIGTERM"
    );
    assert!(
        status.success(),
        "exit status {status}; output: {:#?}",
        output.stdout.lines()
    );
    assert!(
        took < Duration::from_secs(4),
        "the drained server took {took:?} to exit: it waited for the timeout"
    );
    let logs = output.stdout.lines().join("\n");
    assert!(
        logs.contains("shutting down") && logs.contains("database pool closed"),
        "the shutdown is not logged: {logs}"
    );
}

/// A request that never completes does not hold the shutdown up beyond SHUTDOWN_TIMEOUT_SECS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_bounds_a_request_that_never_finishes() {
    let data = DataDir::new("ops-timeout");
    let port = free_port();
    let (mut server, output) = ServerProcess::start_captured(
        &data.0,
        port,
        &[("SHUTDOWN_TIMEOUT_SECS", "1"), ("RUST_LOG", "info")],
    )
    .await;
    let (head, _body) = sign_up_request(port, "never@ops.test");
    let mut stuck = connect(port).await;
    stuck.get_mut().write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    server.terminate();
    let signalled = Instant::now();
    let status = server
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("the server exits after SHUTDOWN_TIMEOUT_SECS");
    let took = signalled.elapsed();
    eprintln!("exited ({status}) {took:?} after SIGTERM, a request stuck");
    assert!(status.success(), "exit status {status}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "SHUTDOWN_TIMEOUT_SECS=1, exit after {took:?}"
    );
    assert!(
        output
            .stdout
            .lines()
            .iter()
            .any(|l| l.contains("requests still in flight")),
        "the cut-off is not logged"
    );
}

/// A bad operations setting stops the start with exit code 1 and a message naming it.
#[test]
fn bad_operations_settings_stop_the_start() {
    let data = DataDir::new("ops-settings");
    for (var, value) in [
        ("SHUTDOWN_TIMEOUT_SECS", "soon"),
        ("SHUTDOWN_TIMEOUT_SECS", "-1"),
        ("SHUTDOWN_TIMEOUT_SECS", "999999"),
        ("LOG_FORMAT", "xml"),
        ("RUST_LOG", "info,auth::events=loud"),
    ] {
        let (status, stderr) = run_until_exit(
            &data.0,
            free_port(),
            &[(var, value)],
            Duration::from_secs(30),
        );
        assert_eq!(status.code(), Some(1), "{var}={value}: {status}; {stderr}");
        assert!(
            stderr.contains(var),
            "{var}={value}: the message does not name it: {stderr}"
        );
    }
}

/// The server reads `.env` from its working directory before any setting: a malformed file stops
/// the start naming the file and line (not its content), a value from it applies, and the
/// environment wins over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_reads_dotenv_from_its_working_directory() {
    let data = DataDir::new("ops-dotenv");
    let dotenv = data.0.join(".env");
    std::fs::write(
        &dotenv,
        "# settings\nSHUTDOWN_TIMEOUT_SECS=3\nthe secret is hunter2\n",
    )
    .unwrap();
    let (status, stderr) = run_until_exit(&data.0, free_port(), &[], Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(".env line 3"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the content is shown: {stderr}"
    );

    std::fs::write(&dotenv, "LOG_FORMAT=xml\n").unwrap();
    let (status, stderr) = run_until_exit(&data.0, free_port(), &[], Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("LOG_FORMAT"), "{stderr}");

    // The environment wins over the file.
    let (server, _) =
        ServerProcess::start_captured(&data.0, free_port(), &[("LOG_FORMAT", "text")]).await;
    drop(server);

    std::fs::write(&dotenv, "LOG_FORMAT=json\n").unwrap();
    let (server, output) =
        ServerProcess::start_captured(&data.0, free_port(), &[("RUST_LOG", "info")]).await;
    let lines = output.stdout.lines();
    assert!(!lines.is_empty(), "no log output");
    for line in &lines {
        serde_json::from_str::<Value>(line)
            .unwrap_or_else(|e| panic!("LOG_FORMAT=json from .env, yet ({e}): {line}"));
    }
    drop(server);
}

// ---- health and readiness -------------------------------------------------------------------

async fn get_json(http: &reqwest::Client, url: String) -> (u16, Value, Option<String>) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.json().await.unwrap_or(Value::Null), cache)
}

/// A TCP proxy to PostgreSQL that can cut the database off: while cut, live connections are
/// dropped and new ones closed on accept, as when the database server goes away.
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

/// A fresh PostgreSQL database (made with `psql`, as an operator would), dropped on drop.
struct PgDatabase {
    admin: String,
    name: String,
    url: url::Url,
}

impl PgDatabase {
    fn new() -> Self {
        let admin = std::env::var("TEST_DATABASE_URL")
            .or_else(|_| std::env::var("IDP_TEST_POSTGRES_URL"))
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!("ops_{}_{nanos}", std::process::id());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&format!("/{name}"));
        Self { admin, name, url }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([
                self.admin.as_str(),
                "-qc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .output();
    }
}

fn psql(url: &str, sql: &str) {
    let output = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("`psql` runs (the readiness test needs PostgreSQL at TEST_DATABASE_URL and psql)");
    assert!(
        output.status.success(),
        "psql {sql:?} failed (is PostgreSQL reachable at TEST_DATABASE_URL?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Polls `/api/ready` until it answers `want` (at most `within`); its last answer.
async fn ready_until(
    http: &reqwest::Client,
    server: &ServerProcess,
    want: u16,
    within: Duration,
) -> (u16, Value, Duration) {
    let start = Instant::now();
    loop {
        let asked = Instant::now();
        let (status, body, _) = get_json(http, server.url("/api/ready")).await;
        if status == want {
            return (status, body, asked.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "/api/ready still answers {status} {body} after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `/api/health` is liveness (no database); `/api/ready` says whether the database answers:
/// 200 on SQLite and on PostgreSQL, 503 `{"reason":"database"}` (nothing else) within a few
/// seconds once PostgreSQL is cut off — health still 200 — and 200 again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_follows_the_database_and_health_does_not() {
    let http = client();
    let data = DataDir::new("ops-ready-sqlite");
    let sqlite = ServerProcess::start(&data.0, free_port()).await;
    let (status, body, cache) = get_json(&http, sqlite.url("/api/ready")).await;
    assert_eq!((status, &body), (200, &json!({ "status": "ready" })));
    assert_eq!(cache.as_deref(), Some("no-store"));
    let (status, body, _) = get_json(&http, sqlite.url("/api/health")).await;
    assert_eq!((status, &body), (200, &json!({ "status": "ok" })));
    drop(sqlite);

    let db = PgDatabase::new();
    let target = format!(
        "{}:{}",
        db.url.host_str().unwrap(),
        db.url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(target).await;
    let mut via_proxy = db.url.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let pg_data = DataDir::new("ops-ready-pg");
    let (server, _output) = ServerProcess::start_captured(
        &pg_data.0,
        free_port(),
        &[("DATABASE_URL", via_proxy.as_str())],
    )
    .await;
    let (status, body, _) = get_json(&http, server.url("/api/ready")).await;
    assert_eq!(
        (status, &body),
        (200, &json!({ "status": "ready" })),
        "PostgreSQL up"
    );

    proxy.cut();
    let (_, body, took) = ready_until(&http, &server, 503, Duration::from_secs(15)).await;
    eprintln!("/api/ready with PostgreSQL cut off: 503 {body} in {took:?}");
    assert_eq!(
        body,
        json!({ "status": "unavailable", "reason": "database" }),
        "the reason, and nothing more (no error text)"
    );
    assert!(
        took < Duration::from_secs(4),
        "/api/ready took {took:?}: a probe must not hang"
    );
    let (status, _, _) = get_json(&http, server.url("/api/health")).await;
    assert_eq!(status, 200, "liveness does not depend on the database");

    proxy.restore();
    ready_until(&http, &server, 200, Duration::from_secs(30)).await;
}

/// With an external issuer there is no database: ready when the verifier has the issuer's keys
/// or can fetch them; 503 `{"reason":"keys"}` when they cannot be had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_with_an_external_issuer_needs_its_keys() {
    let http = client();
    let issuer_data = DataDir::new("ops-issuer");
    let issuer = ServerProcess::start(&issuer_data.0, free_port()).await;
    let jwks = issuer.url("/.well-known/jwks.json");
    let data = DataDir::new("ops-jwks");
    let (app, _output) = ServerProcess::start_captured(
        &data.0,
        free_port(),
        &[
            ("AUTH_PROVIDER", "jwks"),
            ("AUTH_ISSUER", issuer.base_url.as_str()),
            ("AUTH_JWKS_URL", jwks.as_str()),
            ("AUTH_AUDIENCE", "api://ops"),
        ],
    )
    .await;
    let (status, body, _) = get_json(&http, app.url("/api/ready")).await;
    assert_eq!((status, &body), (200, &json!({ "status": "ready" })));

    let dead = format!("http://127.0.0.1:{}/.well-known/jwks.json", free_port());
    let (app, _output) = ServerProcess::start_captured(
        &data.0,
        free_port(),
        &[
            ("AUTH_PROVIDER", "jwks"),
            ("AUTH_ISSUER", issuer.base_url.as_str()),
            ("AUTH_JWKS_URL", dead.as_str()),
            ("AUTH_AUDIENCE", "api://ops"),
        ],
    )
    .await;
    let (status, body, _) = get_json(&http, app.url("/api/ready")).await;
    assert_eq!(
        (status, &body),
        (503, &json!({ "status": "unavailable", "reason": "keys" }))
    );
    let (status, _, _) = get_json(&http, app.url("/api/health")).await;
    assert_eq!(status, 200);
}

// ---- request ids and logs -------------------------------------------------------------------

fn request_id(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an x-request-id header on every response")
        .to_owned()
}

/// Whether a JSON log line was written inside the request `id`'s span.
fn in_request(line: &Value, id: &str) -> bool {
    line["spans"]
        .as_array()
        .is_some_and(|spans| spans.iter().any(|s| s["request_id"] == id))
}

/// Every response carries an `x-request-id` (a fresh UUID, or the caller's when it looks like
/// an id); with `LOG_FORMAT=json` every line of the server's output is a JSON object, the request
/// log lines and the auth events carry the request id, and no email or password is logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_and_json_logs() {
    let data = DataDir::new("ops-logs");
    let (mut server, output) = ServerProcess::start_captured(
        &data.0,
        free_port(),
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    )
    .await;
    let http = client();

    let page = http.get(server.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page_id = request_id(&page);
    let health = http.get(server.url("/api/health")).send().await.unwrap();
    let health_id = request_id(&health);
    for id in [&page_id, &health_id] {
        assert_eq!(id.len(), 36, "a UUID: {id}");
    }
    assert_ne!(page_id, health_id);
    // A proxy's id is kept; something that is not an id is replaced.
    let r = http
        .get(server.url("/api/health"))
        .header("x-request-id", "proxy-4f2a.9")
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&r), "proxy-4f2a.9");
    let forged = "x\" level=ERROR msg=\"forged";
    let r = http
        .get(server.url("/api/health"))
        .header("x-request-id", forged)
        .send()
        .await
        .unwrap();
    let replaced = request_id(&r);
    assert!(replaced != forged && replaced.len() == 36, "{replaced}");
    // A 404 is traced too.
    let r = http
        .get(server.url("/api/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    request_id(&r);

    // Auth events: a sign-up, a failed and a successful sign-in, a sign-out.
    let email = "logged@ops.test";
    let r = http
        .post(server.url("/auth/sign-up"))
        .json(&json!({ "email": email, "password": PASSWORD, "name": "Logged" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let wrong_password = "not the password 123";
    let r = http
        .post(server.url("/auth/sign-in"))
        .json(&json!({ "email": email, "password": wrong_password }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let failed_id = request_id(&r);
    let r = http
        .post(server.url("/auth/sign-in"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let signed_in_id = request_id(&r);
    let session_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let r = http
        .post(server.url("/auth/sign-out"))
        .header("cookie", &session_cookie)
        .header("origin", &server.base_url)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "sign-out: {}", r.status());
    let signed_out_id = request_id(&r);

    // Stop it, so every line is written.
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(15)).await;
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;

    let lines = output.stdout.lines();
    assert!(!lines.is_empty(), "no log output");
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    for line in &parsed {
        assert!(
            line.is_object() && line["level"].is_string() && line["timestamp"].is_string(),
            "{line}"
        );
    }
    let answered = |id: &str| {
        parsed.iter().any(|l| {
            in_request(l, id)
                && l["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("tower_http::trace"))
                && l["fields"]["status"].is_number()
        })
    };
    for id in [&page_id, &health_id, &replaced, &failed_id] {
        assert!(answered(id), "no request log line with request id {id}");
    }
    let event = |id: &str, event: &str, outcome: Option<&str>| {
        parsed
            .iter()
            .find(|l| {
                l["target"] == "auth::events"
                    && in_request(l, id)
                    && l["fields"]["event"] == event
                    && outcome.is_none_or(|o| l["fields"]["outcome"] == o)
            })
            .cloned()
            .unwrap_or_else(|| panic!("no auth event {event} {outcome:?} in request {id}"))
    };
    let failed = event(&failed_id, "sign_in", Some("invalid_credentials"));
    assert_eq!(failed["level"], "WARN");
    assert_eq!(failed["fields"]["account"].as_str().map(str::len), Some(16));
    let success = event(&signed_in_id, "sign_in", Some("success"));
    assert!(
        success["fields"]["user_id"]
            .as_str()
            .is_some_and(|u| u.starts_with("user_"))
    );
    assert!(
        success["fields"]["session_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("sess_"))
    );
    event(&signed_out_id, "sign_out", None);
    let all = lines.join("\n");
    for secret in [email, PASSWORD, wrong_password, session_cookie.as_str()] {
        assert!(!all.contains(secret), "the logs contain {secret:?}");
    }
}

// ---- TCP_NODELAY ----------------------------------------------------------------------------

/// `GET /` on a kept-alive connection; how long until the whole page was read.
async fn page(conn: &mut BufReader<TcpStream>, request: &str) -> Duration {
    let start = Instant::now();
    conn.get_mut().write_all(request.as_bytes()).await.unwrap();
    let response = read_response(conn)
        .await
        .expect("a page on the same connection");
    let took = start.elapsed();
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("connection")
            .is_none_or(|v| !v.eq_ignore_ascii_case("close")),
        "the server closes the kept-alive connection"
    );
    assert!(String::from_utf8_lossy(&response.body).contains("</html>"));
    took
}

/// Server-rendered pages, one after the other over ONE kept-alive connection. A streamed page
/// goes out in several small writes: without TCP_NODELAY, Nagle's algorithm holds the last one
/// until the client's delayed ACK, ~40 ms for most pages (measured: 20 pages in 480–690 ms; with
/// it, 7–15 ms). A regression guard, not a benchmark: the bound allows 10 ms a page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_over_one_kept_alive_connection_are_not_delayed_by_nagle() {
    const PAGES: usize = 20;
    let data = DataDir::new("ops-nodelay");
    let server = ServerProcess::start(&data.0, free_port()).await;
    let mut conn = connect(server.port).await;
    let request = format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\r\n", server.port);
    // Warm-up: the first render fills caches.
    page(&mut conn, &request).await;
    let mut times = Vec::new();
    for _ in 0..PAGES {
        times.push(page(&mut conn, &request).await);
    }
    let total: Duration = times.iter().sum();
    eprintln!("{PAGES} pages over one connection: {total:?} ({times:?})");
    assert!(
        total < Duration::from_millis(200),
        "{PAGES} pages took {total:?} over one kept-alive connection ({times:?}): is \
         TCP_NODELAY still set on accepted sockets?"
    );
}
