//! Server half: what SSR seeds the page with (the snapshot, the profile's session list and
//! connected accounts, the sign-in providers; each a [`Seed`], see `seed.rs`) and the server
//! functions.

use crate::seed::Seed;
#[cfg(feature = "server")]
use crate::{seed::encode, state::AuthSnapshot};
use auth_types::User;
use auth_types::contract::SocialProvider;
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
/// user from the embedded provider's store: an [`AuthSnapshot`].
#[cfg(feature = "server")]
pub(crate) async fn load_snapshot(request: RequestHandle) -> Seed {
    let Some(ctx) = request.0 else {
        return encode(Some(AuthSnapshot::signed_out()));
    };
    let (auth, user) = ctx
        .scope(async {
            let auth = auth_server::current_auth_state();
            (auth, auth_server::current_user().await)
        })
        .await;
    encode(Some(AuthSnapshot::new(auth, user)))
}

/// In the browser the value comes from the page; this only runs if it is missing: the answer of
/// `GET /auth/session` (`None`, read as signed out, when there is none).
#[cfg(not(feature = "server"))]
pub(crate) async fn load_snapshot(_request: RequestHandle) -> Seed {
    crate::client::fetch_session_json().await
}

/// The signed-in user's active sessions, for the profile's server-rendered list (its revoke
/// forms then work before the wasm loads). `None` when signed out, without a backend, or when
/// the store cannot answer: the browser loads the list itself then. A `Vec<SessionInfo>`.
#[cfg(feature = "server")]
pub(crate) async fn load_sessions(request: RequestHandle) -> Seed {
    let ctx = request.0?;
    let sessions = ctx.scope(async {
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
    .await;
    encode(sessions)
}

/// In the browser the value comes from the page (or the list is fetched).
#[cfg(not(feature = "server"))]
pub(crate) async fn load_sessions(_request: RequestHandle) -> Seed {
    None
}

/// The sign-in providers the backend offers, for the server-rendered "Continue with …" links of
/// `SignIn` and `SignUp` (they then work before the wasm loads). `None` outside a request: the
/// browser asks [`social_providers`] then (an in-app navigation to the sign-in page). A
/// `Vec<SocialProvider>`.
#[cfg(feature = "server")]
pub(crate) async fn load_providers(request: RequestHandle) -> Seed {
    let ctx = request.0?;
    encode(Some(ctx.scope(backend_providers()).await))
}

/// In the browser the value comes from the page (or is fetched).
#[cfg(not(feature = "server"))]
pub(crate) async fn load_providers(_request: RequestHandle) -> Seed {
    None
}

/// The request's backend's providers (none without a backend: an external issuer).
#[cfg(feature = "server")]
async fn backend_providers() -> Vec<SocialProvider> {
    auth_server::current_backend()
        .map(|backend| backend.social_providers())
        .unwrap_or_default()
}

/// The signed-in user's connected accounts, the enabled providers and whether the account has a
/// password, for the profile's server-rendered "Connected accounts" and password sections.
/// `None` when signed out, without a backend, or when the store cannot answer: the browser loads
/// them itself then (`GET /auth/identities`). A `ConnectionsResponse`.
#[cfg(feature = "server")]
pub(crate) async fn load_connections(request: RequestHandle) -> Seed {
    let ctx = request.0?;
    let connections = ctx.scope(async {
        let user_id = auth_server::current_auth_state().user_id()?.clone();
        let backend = auth_server::current_backend()?;
        match backend.connections(&user_id).await {
            Ok(connections) => Some(connections),
            Err(e) => {
                dioxus::logger::tracing::warn!(error = %e, "the connected accounts could not be loaded for the page");
                None
            }
        }
    })
    .await;
    encode(connections)
}

/// In the browser the value comes from the page (or is fetched).
#[cfg(not(feature = "server"))]
pub(crate) async fn load_connections(_request: RequestHandle) -> Seed {
    None
}

/// Server function behind the "Continue with …" links of [`SignIn`](crate::SignIn) and
/// [`SignUp`](crate::SignUp) when the page was not server-rendered (an in-app navigation): the
/// sign-in providers the backend offers, none without a backend. Public data (ids and labels).
///
/// ```no_run
/// # async fn example() {
/// let providers = auth_ui::social_providers().await.unwrap_or_default();
/// # }
/// ```
#[get("/auth/ui/providers")]
pub async fn social_providers() -> Result<Vec<SocialProvider>, ServerFnError> {
    Ok(backend_providers().await)
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
