//! Server half: the snapshot SSR seeds the page with, and the profile server function.

use crate::state::AuthSnapshot;
use auth_types::User;
use dioxus::prelude::*;

/// The current request, captured while rendering so the server future can read it.
#[derive(Clone, Debug)]
pub(crate) struct RequestHandle(
    #[cfg(feature = "server")] Option<dioxus::fullstack::FullstackContext>,
);

impl RequestHandle {
    pub(crate) fn current() -> Self {
        Self(
            #[cfg(feature = "server")]
            dioxus::fullstack::FullstackContext::current(),
        )
    }
}

/// The request's state as verified by the auth layer (no second verification) and the public
/// user from the embedded provider's store.
#[cfg(feature = "server")]
pub(crate) async fn load_snapshot(request: RequestHandle) -> AuthSnapshot {
    let Some(ctx) = request.0 else {
        return AuthSnapshot::signed_out();
    };
    let (auth, user) = ctx
        .scope(async {
            let auth = auth_server::current_auth_state();
            (auth, auth_server::current_user().await)
        })
        .await;
    AuthSnapshot::new(auth, user)
}

/// In the browser the value comes from the page; this only runs if it is missing.
#[cfg(not(feature = "server"))]
pub(crate) async fn load_snapshot(_request: RequestHandle) -> AuthSnapshot {
    crate::client::fetch_session()
        .await
        .unwrap_or_else(AuthSnapshot::signed_out)
}

/// The signed-in user's active sessions, for the profile's server-rendered list (its revoke
/// forms then work before the wasm loads). `None` when signed out, without a backend, or when
/// the store cannot answer: the browser loads the list itself then.
#[cfg(feature = "server")]
pub(crate) async fn load_sessions(
    request: RequestHandle,
) -> Option<Vec<auth_types::contract::SessionInfo>> {
    let ctx = request.0?;
    ctx.scope(async {
        let auth = auth_server::current_auth_state();
        let user_id = auth.user_id()?.clone();
        let current = auth.session_id().map(|s| s.as_str().to_owned());
        let backend = auth_server::current_backend()?;
        match backend.sessions(&user_id, current.as_deref()).await {
            Ok(sessions) => Some(sessions),
            Err(e) => {
                dioxus::logger::tracing::warn!(error = %e, "the session list could not be loaded for the page");
                None
            }
        }
    })
    .await
}

/// In the browser the value comes from the page (or the list is fetched).
#[cfg(not(feature = "server"))]
pub(crate) async fn load_sessions(
    _request: RequestHandle,
) -> Option<Vec<auth_types::contract::SessionInfo>> {
    None
}

/// Server function behind [`UserProfile`](crate::UserProfile): changes the signed-in user's
/// display name and returns the updated public user. 401 when signed out, 422 for an empty or
/// too long name, 503 when the user store cannot answer (its error is logged, never returned).
///
/// ```no_run
/// # async fn example() {
/// let user = auth_ui::update_name("Ada Lovelace".into()).await;
/// # }
/// ```
#[post("/auth/ui/profile/name")]
pub async fn update_name(name: String) -> Result<User, ServerFnError> {
    use auth_types::contract::MAX_NAME_CHARS;
    let refuse = |code: u16, message: &str| ServerFnError::ServerError {
        message: message.into(),
        code,
        details: None,
    };
    let auth = auth_server::current_auth();
    let Some(user_id) = auth.state().user_id().cloned() else {
        return Err(refuse(401, "Unauthorized"));
    };
    let Some(backend) = auth_server::current_backend() else {
        return Err(refuse(503, "Service unavailable"));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(refuse(422, "Name must not be empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(refuse(
            422,
            auth_types::contract::FormError::InvalidName.message(),
        ));
    }
    match backend.set_name(&user_id, name).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(refuse(404, "Not found")),
        Err(e) => {
            dioxus::logger::tracing::error!(error = %e, "updating the display name failed");
            Err(refuse(503, "Service unavailable"))
        }
    }
}
