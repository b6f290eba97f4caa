//! The demo's plain axum JSON API (server only): the Rust twins of Clerk's `auth()` route
//! handler and `clerkClient.users.getUser(userId)`.

use auth_server::{CurrentUser, RequireAuth};
use axum::{Json, Router, response::IntoResponse, routing::get};
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

/// The full public user object: `currentUser()`. 401 signed out, 503 without a user store.
async fn user(CurrentUser(user): CurrentUser) -> impl IntoResponse {
    Json(user)
}
