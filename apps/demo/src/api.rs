//! The demo's plain axum JSON API (server only): the Rust twins of Clerk's `auth()` route
//! handler and `clerkClient.users.getUser(userId)`.

use auth_server::{RequireAuth, UsersApi};
use axum::{Json, Router, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::json;

/// `/api/health`, `/api/me`, `/api/user`.
pub fn routes() -> Router {
    Router::new()
        .route(
            "/api/health",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route("/api/me", get(me))
        .route("/api/user", get(user))
}

/// Signed out → `401 {"error":"Unauthorized"}` (from the extractor); signed in → the ids.
async fn me(auth: RequireAuth) -> impl IntoResponse {
    Json(json!({ "user_id": auth.user_id(), "session_id": auth.session_id() }))
}

/// The full user object from the users API.
async fn user(auth: RequireAuth, UsersApi(users): UsersApi) -> impl IntoResponse {
    match users.get(auth.user_id()).await {
        Ok(Some(user)) => Json(user).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, Json(json!({ "error": "Not found" }))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "Service unavailable" })),
        )
            .into_response(),
    }
}
