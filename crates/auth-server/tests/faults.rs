//! Fault injection against the real parts over real HTTP: a JWKS endpoint that is down, hangs,
//! answers garbage or 10 MB. What must hold: known keys keep verifying and the server keeps
//! answering. (Database faults are tested with the identity provider, in `auth-idp`.)

mod common {
    pub mod keys;
    pub mod server;
}

use auth_server::{
    AuthConfig, AuthLayer, CacheConfig, KeyError, KeySource, KeyStore, RequireAuth, Verifier,
};
use axum::Router;
use axum::routing::get;
use common::keys::{ISSUER, TestKey, claims_with, jwks};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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
        .with_authorized_parties(["https://app.example"])
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
