//! The app's plain axum routes (server only): the JSON API — the Rust twins of Clerk's `auth()`
//! route handler and `clerkClient.users.getUser(userId)` — and `/source/…`, the files the pages
//! link to.

use auth_server::{CurrentUser, RequireAuth};
use axum::{
    Json, Router,
    extract::Path,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use serde_json::json;

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

/// `/api/health`, `/api/me`, `/api/user`, `/source/{*path}`.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/api/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/api/me", get(me))
        .route("/api/user", get(user))
        .route("/source/{*path}", get(source))
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
