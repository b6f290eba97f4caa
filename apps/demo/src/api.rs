//! The app's plain axum routes (server only): health and readiness for the operator, the JSON
//! API — the Rust twins of Clerk's `auth()` route handler and `clerkClient.users.getUser(userId)`
//! — and `/source/…`, the files the pages link to.

use auth_server::{CurrentUser, KeyStore, RequireAuth};
use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;
use std::time::Duration;

/// The files a page's "Source:" line may link to, relative to this crate's `src/`, compiled into
/// the server. Nothing else is served from the source tree.
const SOURCES: &[(&str, &str)] = &[
    ("main.rs", include_str!("main.rs")),
    ("api.rs", include_str!("api.rs")),
    ("brand.rs", include_str!("brand.rs")),
    ("pages/admin.rs", include_str!("pages/admin.rs")),
    ("pages/api_calls.rs", include_str!("pages/api_calls.rs")),
    ("pages/auth.rs", include_str!("pages/auth.rs")),
    ("pages/dashboard.rs", include_str!("pages/dashboard.rs")),
    ("pages/home.rs", include_str!("pages/home.rs")),
    ("pages/shell.rs", include_str!("pages/shell.rs")),
    ("pages/source.rs", include_str!("pages/source.rs")),
];

/// `/api/health`, `/api/ready`, `/api/me`, `/api/user`, `/source/{*path}`.
pub fn routes(readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/api/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/api/ready", get(ready).with_state(readiness))
        .route("/api/me", get(me))
        .route("/api/user", get(user))
        .route("/source/{*path}", get(source))
}

/// How long `/api/ready` waits for the database or the issuer's keys before it answers 503: less
/// than a load balancer's usual probe timeout (5 s), so a slow database reads as "not ready"
/// rather than as a probe that timed out.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// What `/api/ready` checks. `/api/health` (liveness) checks nothing: the process answers.
#[derive(Debug, Clone)]
pub struct Readiness {
    /// The embedded identity provider: its database and signing keys.
    idp: Option<auth_idp::Idp>,
    /// The verifier's keys (with an external issuer, the only dependency).
    keys: KeyStore,
}

impl Readiness {
    /// Checks `idp` when the app runs the embedded provider, else the verifier's `keys`.
    pub fn new(idp: Option<auth_idp::Idp>, keys: KeyStore) -> Self {
        Self { idp, keys }
    }

    /// `Err(reason)` when the app cannot serve: `"database"` or `"keys"`. The error behind it is
    /// logged, never sent.
    async fn check(&self) -> Result<(), &'static str> {
        let Some(idp) = &self.idp else {
            // An external issuer: ready when the verifier has keys, or can fetch them now.
            if !self.keys.is_empty() {
                return Ok(());
            }
            return match tokio::time::timeout(READY_TIMEOUT, self.keys.refresh()).await {
                Ok(Ok(())) if !self.keys.is_empty() => Ok(()),
                Ok(Ok(())) => Err("keys"),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "not ready: the issuer's keys cannot be fetched");
                    Err("keys")
                }
                Err(_) => {
                    tracing::warn!("not ready: fetching the issuer's keys timed out");
                    Err("keys")
                }
            };
        };
        match tokio::time::timeout(READY_TIMEOUT, idp.ready()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e @ auth_idp::IdpError::Key(_))) => {
                tracing::warn!(error = %e, "not ready: no signing key");
                Err("keys")
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "not ready: the database does not answer");
                Err("database")
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = READY_TIMEOUT.as_millis() as u64,
                    "not ready: the database did not answer in time"
                );
                Err("database")
            }
        }
    }
}

/// Readiness: `200 {"status":"ready"}` when the database answers and keys are loaded, else
/// `503 {"status":"unavailable","reason":"database"}` (or `"keys"`). Never cached.
async fn ready(State(readiness): State<Readiness>) -> Response {
    let mut response = match readiness.check().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "reason": reason })),
        )
            .into_response(),
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Signed out → `401 {"error":"Unauthorized"}` (from the extractor); signed in → the ids.
async fn me(auth: RequireAuth) -> impl IntoResponse {
    Json(json!({ "user_id": auth.user_id(), "session_id": auth.session_id() }))
}

/// The full public user object: `currentUser()`. 401 signed out, 503 without a user store.
async fn user(CurrentUser(user): CurrentUser) -> impl IntoResponse {
    Json(user)
}

/// `GET /source/<workspace-relative path>`: one of [`SOURCES`] as plain text; 404 otherwise.
async fn source(Path(path): Path<String>) -> impl IntoResponse {
    // `file!()` paths are relative to the workspace root, e.g. `apps/<app>/src/pages/home.rs`.
    let src_dir = std::path::Path::new(file!())
        .parent()
        .and_then(|dir| dir.to_str())
        .unwrap_or("");
    let file = path
        .strip_prefix(src_dir)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| SOURCES.iter().find(|(name, _)| *name == rest));
    match file {
        Some((_, text)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            *text,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": "Not found" }))).into_response(),
    }
}
