//! Loopback servers for the tests: a JWKS/discovery server that counts its requests and can be
//! told to fail, and a helper to serve any router.
#![allow(dead_code)]

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

/// Serves a router on 127.0.0.1:0 and returns its base URL.
pub async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

#[derive(Clone, Debug)]
pub enum Mode {
    /// Answer at once.
    Ok,
    /// Answer after a delay.
    Delay(Duration),
    /// 500.
    Down,
    /// This many bytes of JSON (with a content-length).
    Huge(usize),
}

#[derive(Default)]
pub struct Counters {
    pub well_known_jwks: AtomicUsize,
    pub keys: AtomicUsize,
    pub discovery: AtomicUsize,
}

impl Counters {
    pub fn jwks(&self) -> usize {
        self.well_known_jwks.load(Ordering::SeqCst) + self.keys.load(Ordering::SeqCst)
    }
}

pub struct JwksServer {
    pub base: String,
    pub counters: Arc<Counters>,
    jwks: Arc<Mutex<Value>>,
    mode: Arc<Mutex<Mode>>,
    discovery: Arc<Mutex<Option<Value>>>,
}

#[derive(Clone)]
struct AppState {
    counters: Arc<Counters>,
    jwks: Arc<Mutex<Value>>,
    mode: Arc<Mutex<Mode>>,
    discovery: Arc<Mutex<Option<Value>>>,
}

impl JwksServer {
    pub async fn start(jwks: &jsonwebtoken::jwk::JwkSet) -> Self {
        let state = AppState {
            counters: Arc::default(),
            jwks: Arc::new(Mutex::new(serde_json::to_value(jwks).unwrap())),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            discovery: Arc::default(),
        };
        let app = Router::new()
            .route("/.well-known/jwks.json", get(well_known))
            .route("/keys", get(keys))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(state.clone());
        let base = serve(app).await;
        Self {
            base,
            counters: state.counters,
            jwks: state.jwks,
            mode: state.mode,
            discovery: state.discovery,
        }
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base)
    }

    pub fn set_jwks(&self, jwks: &jsonwebtoken::jwk::JwkSet) {
        *self.jwks.lock().unwrap() = serde_json::to_value(jwks).unwrap();
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Serves a discovery document whose `jwks_uri` is `{base}/keys`.
    pub fn enable_discovery(&self) {
        *self.discovery.lock().unwrap() = Some(serde_json::json!({
            "issuer": self.base,
            "jwks_uri": format!("{}/keys", self.base),
            "authorization_endpoint": format!("{}/authorize", self.base),
        }));
    }
}

async fn respond(state: &AppState) -> Response {
    let mode = state.mode.lock().unwrap().clone();
    match mode {
        Mode::Ok => {}
        Mode::Delay(d) => tokio::time::sleep(d).await,
        Mode::Down => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Mode::Huge(n) => {
            let mut body = String::from(r#"{"keys":[],"pad":""#);
            body.push_str(&"x".repeat(n));
            body.push_str("\"}");
            return body.into_response();
        }
    }
    let jwks = state.jwks.lock().unwrap().clone();
    axum::Json(jwks).into_response()
}

async fn well_known(State(state): State<AppState>) -> Response {
    state
        .counters
        .well_known_jwks
        .fetch_add(1, Ordering::SeqCst);
    respond(&state).await
}

async fn keys(State(state): State<AppState>) -> Response {
    state.counters.keys.fetch_add(1, Ordering::SeqCst);
    respond(&state).await
}

async fn discovery(State(state): State<AppState>) -> Response {
    state.counters.discovery.fetch_add(1, Ordering::SeqCst);
    match state.discovery.lock().unwrap().clone() {
        Some(doc) => axum::Json(doc).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A raw HTTP server that streams a chunked body (no content-length) of up to `max` bytes, and
/// counts how many bytes it managed to write before the client hung up.
pub async fn endless_chunked_server(max: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024));
                let mut sent = 0;
                while sent < max {
                    if socket.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    sent += 16 * 1024;
                    counter.store(sent, Ordering::SeqCst);
                }
                let _ = socket.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    (format!("http://{addr}/jwks"), written)
}
