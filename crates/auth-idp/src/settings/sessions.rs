//! The signed-in user's sessions: `GET /auth/sessions` lists the active ones (device, created,
//! last active, the current one marked; newest activity first), `DELETE /auth/sessions/{id}` and
//! its form twin `POST /auth/sessions/{id}/revoke` end one, `POST /auth/sessions/revoke-others`
//! ends all but the caller's.
//!
//! A revoked session's refresh is refused at once, and the provider's own endpoints (these,
//! `/auth/session`, `/auth/token`) check the store on every request; a session token already
//! handed out stays valid for the rest of its short life (`AUTH_SESSION_TOKEN_TTL_SECS`) at
//! routes that only verify it, and the next renewal signs that browser out.

use super::{answer, failure};
use crate::accounts::EVENTS;
use crate::error::{ApiError, IdpError};
use crate::routes::{AppState, no_store, read_post};
use crate::store::{SESSION_COLUMNS, SessionRow, Store, now, session_from_row};
use auth_server::Auth;
use auth_types::contract::{FormError, SessionInfo, SessionsResponse, SignOutRequest};
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use sqlx::Row;

/// 404 for a session id that is unknown, not the caller's, or no longer active: the three are
/// one answer, so ids of other accounts cannot be probed.
const NOT_FOUND: ApiError = ApiError::new(
    StatusCode::NOT_FOUND,
    FormError::NotFound,
    "No such session",
);

impl crate::Inner {
    /// The user's active sessions (not revoked, expired or idle), newest activity first, with
    /// `current` marked: `GET /auth/sessions` and the server-rendered list of `UserProfile`.
    pub(crate) async fn active_sessions(
        &self,
        user_id: &str,
        current: Option<&str>,
    ) -> Result<Vec<SessionInfo>, IdpError> {
        let mut sessions: Vec<SessionInfo> = self
            .store
            .sessions_of(user_id)
            .await?
            .into_iter()
            .filter(|(row, _)| row.is_active(&self.config))
            .map(|(row, user_agent)| SessionInfo {
                current: Some(row.id.as_str()) == current,
                device: super::device::describe(user_agent.as_deref()),
                id: row.id,
                created_at: row.created_at,
                last_active_at: row.last_active_at,
            })
            .collect();
        sessions.sort_by(|a, b| {
            (b.last_active_at, b.created_at, b.current).cmp(&(
                a.last_active_at,
                a.created_at,
                a.current,
            ))
        });
        Ok(sessions)
    }
}

/// `GET /auth/sessions`.
pub(super) async fn list(State(inner): State<AppState>, Auth(auth): Auth) -> Response {
    let listed = async {
        let me = inner.me(&auth).await?;
        let sessions = inner
            .active_sessions(me.user.id.as_str(), Some(&me.session.id))
            .await?;
        Ok::<_, ApiError>(SessionsResponse { sessions })
    }
    .await;
    match listed {
        Ok(body) => {
            let mut response = Json(body).into_response();
            no_store(&mut response);
            response
        }
        Err(e) => failure(&inner, &auth, crate::body::Format::Json, "/", &e),
    }
}

/// `DELETE /auth/sessions/{id}` and `POST /auth/sessions/{id}/revoke`: ends one of the caller's
/// sessions; ending the current one signs this browser out (its cookies are cleared).
pub(super) async fn revoke(
    State(inner): State<AppState>,
    Auth(auth): Auth,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    let post = match read_post::<SignOutRequest>(&inner, req, true).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let outcome = async {
        let me = inner.me(&auth).await?;
        let current = id == me.session.id;
        let target = if current {
            me.session
        } else {
            match inner.store.session_by_id(&id).await? {
                Some(s) if s.user_id == me.user.id.as_str() && s.is_active(&inner.config) => s,
                _ => return Err(NOT_FOUND),
            }
        };
        inner.store.revoke_session(&target.id).await?;
        tracing::info!(
            target: EVENTS,
            event = "revoke_session",
            user_id = %target.user_id,
            session_id = %target.id,
            current,
            "session revoked"
        );
        Ok(current)
    }
    .await;
    match outcome {
        Ok(current) => answer(
            &inner,
            &auth,
            &post,
            Ok(()),
            if current {
                "This session was signed out"
            } else {
                "The session was signed out"
            },
            current,
        ),
        Err(e) => answer(&inner, &auth, &post, Err(e), "", false),
    }
}

/// `POST /auth/sessions/revoke-others`: ends every session of the caller but this one.
pub(super) async fn revoke_others(
    State(inner): State<AppState>,
    Auth(auth): Auth,
    req: Request,
) -> Response {
    let post = match read_post::<SignOutRequest>(&inner, req, true).await {
        Ok(post) => post,
        Err(refused) => return refused,
    };
    let outcome = async {
        let me = inner.me(&auth).await?;
        let ended = inner
            .store
            .revoke_other_sessions(me.user.id.as_str(), &me.session.id)
            .await?;
        tracing::info!(
            target: EVENTS,
            event = "revoke_other_sessions",
            user_id = %me.user.id,
            session_id = %me.session.id,
            sessions = ended,
            "other sessions revoked"
        );
        Ok(())
    }
    .await;
    answer(
        &inner,
        &auth,
        &post,
        outcome,
        "Every other session was signed out",
        false,
    )
}

// ---- storage --------------------------------------------------------------------------------

impl Store {
    /// The user's sessions that are neither revoked nor past their stored expiry, with their
    /// user agents (the caller applies [`SessionRow::is_active`], the rule every check uses).
    pub(crate) async fn sessions_of(
        &self,
        user_id: &str,
    ) -> Result<Vec<(SessionRow, Option<String>)>, IdpError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, s.user_agent FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2"
        ))
        .bind(user_id)
        .bind(now())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((session_from_row(r)?, r.try_get(11)?)))
            .collect()
    }

    /// Revokes every live session of the user except `keep`; how many it ended.
    pub(crate) async fn revoke_other_sessions(
        &self,
        user_id: &str,
        keep: &str,
    ) -> Result<u64, IdpError> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $1 \
             WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(user_id)
        .bind(keep)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
