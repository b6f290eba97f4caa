//! `use_auth`, `use_user`, `use_session`: the Rust twins of Clerk's `useAuth`, `useUser`,
//! `useSession`.

use crate::client;
use crate::provider::AuthHandle;
use crate::state::AuthSnapshot;
use auth_types::contract::paths;
use auth_types::{AuthState, Check, SessionId, User, UserId};
use dioxus::prelude::*;

/// The provider's context, or a panic that says how to fix it.
pub(crate) fn handle(hook: &str) -> AuthHandle {
    try_consume_context::<AuthHandle>().unwrap_or_else(|| {
        panic!(
            "auth_ui::{hook}() was called outside an AuthProvider: wrap your app's root in \
             `auth_ui::AuthProvider {{ ... }}` (see the auth-ui docs)"
        )
    })
}

/// An error from a client-side auth action (network, server answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUiError(pub String);

impl std::fmt::Display for AuthUiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthUiError {}

/// Navigates in-app when a router is present, else loads the page.
pub(crate) fn go(url: &str) {
    match dioxus::router::try_router() {
        Some(router) => {
            router.push(url.to_owned());
        }
        None => client::assign_location(url),
    }
}

/// The handle returned by [`use_auth`]. Cheap to copy into event handlers and async blocks.
/// Reading it during render subscribes the component, so it re-renders when the session changes.
#[derive(Clone, Copy, Debug)]
pub struct Auth {
    handle: AuthHandle,
}

impl Auth {
    /// Whether the state is known. Always `true` under an [`AuthProvider`](crate::AuthProvider):
    /// the server seeds it before the first render.
    pub fn is_loaded(&self) -> bool {
        true
    }

    /// Whether there is a signed-in session.
    pub fn is_signed_in(&self) -> bool {
        self.handle.snapshot.read().auth.is_signed_in()
    }

    /// The whole verified state.
    pub fn state(&self) -> AuthState {
        self.handle.snapshot.read().auth.clone()
    }

    /// The signed-in user's id.
    pub fn user_id(&self) -> Option<UserId> {
        self.handle.snapshot.read().auth.user_id().cloned()
    }

    /// The session's id.
    pub fn session_id(&self) -> Option<SessionId> {
        self.handle.snapshot.read().auth.session_id().cloned()
    }

    /// The session's roles (empty when signed out).
    pub fn roles(&self) -> Vec<String> {
        self.handle
            .snapshot
            .read()
            .auth
            .signed_in()
            .map(|s| s.roles.clone())
            .unwrap_or_default()
    }

    /// The session's permissions (empty when signed out).
    pub fn permissions(&self) -> Vec<String> {
        self.handle
            .snapshot
            .read()
            .auth
            .signed_in()
            .map(|s| s.permissions.clone())
            .unwrap_or_default()
    }

    /// Whether the session passes `check` (fails closed when signed out). UX only: enforce the
    /// same check on the server.
    pub fn has(&self, check: &Check) -> bool {
        self.handle.snapshot.read().auth.has(check)
    }

    /// A fresh session JWT (`GET /auth/token`) for calling other services with
    /// `Authorization: Bearer`; `Ok(None)` when signed out. Always `Ok(None)` outside a browser.
    pub async fn get_token(&self) -> Result<Option<String>, AuthUiError> {
        client::fetch_token().await.map_err(AuthUiError)
    }

    /// Signs out of this session (`POST /auth/sign-out`); every hook and component updates
    /// without a reload, and the other tabs follow.
    pub async fn sign_out(&self) -> Result<(), AuthUiError> {
        self.sign_out_at(paths::SIGN_OUT).await
    }

    /// [`sign_out`](Self::sign_out), then navigates to `redirect_url`.
    pub async fn sign_out_and_redirect(&self, redirect_url: &str) -> Result<(), AuthUiError> {
        self.sign_out().await?;
        go(redirect_url);
        Ok(())
    }

    /// Signs out of every session of the user, on every device (`POST /auth/sign-out-all`).
    pub async fn sign_out_all(&self) -> Result<(), AuthUiError> {
        self.sign_out_at(paths::SIGN_OUT_ALL).await
    }

    async fn sign_out_at(&self, path: &str) -> Result<(), AuthUiError> {
        client::sign_out(path).await.map_err(AuthUiError)?;
        let mut snapshot = self.handle.snapshot;
        snapshot.set(AuthSnapshot::signed_out());
        client::broadcast(client::MSG_SIGNED_OUT);
        Ok(())
    }

    /// Replaces the state after a sign-in, sign-up or profile change, and tells other tabs.
    pub(crate) fn replace(&self, next: AuthSnapshot) {
        let mut snapshot = self.handle.snapshot;
        snapshot.set(next);
        client::broadcast(client::MSG_CHANGED);
    }
}

/// The auth state of the current session, like Clerk's `useAuth()`.
///
/// Panics outside an [`AuthProvider`](crate::AuthProvider), with a message saying to add it.
///
/// ```no_run
/// use auth_types::Check;
/// use dioxus::prelude::*;
///
/// fn Nav() -> Element {
///     let auth = auth_ui::use_auth();
///     if !auth.is_signed_in() {
///         return rsx! { a { href: "/sign-in", "Sign in" } };
///     }
///     rsx! {
///         if auth.has(&Check::role("admin")) { a { href: "/admin", "Admin" } }
///         button { onclick: move |_| async move { let _ = auth.sign_out().await; }, "Sign out" }
///         button {
///             onclick: move |_| async move {
///                 // A fresh JWT for `Authorization: Bearer` calls to other services.
///                 let token = auth.get_token().await;
///             },
///             "Call an API"
///         }
///     }
/// }
/// ```
pub fn use_auth() -> Auth {
    let handle = use_hook(|| handle("use_auth"));
    Auth { handle }
}

/// What [`use_user`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct UserInfo {
    /// Always `true` under the provider (see [`Auth::is_loaded`]).
    pub is_loaded: bool,
    /// Whether there is a signed-in session.
    pub is_signed_in: bool,
    /// The public user (never server-only metadata).
    pub user: Option<User>,
}

/// The signed-in user, like Clerk's `useUser()`. The component re-renders when it changes.
///
/// ```no_run
/// use dioxus::prelude::*;
///
/// fn Greeting() -> Element {
///     let info = auth_ui::use_user();
///     match info.user {
///         Some(user) => rsx! { "Hello, {user.name}!" },
///         None => rsx! { "Hello, stranger." },
///     }
/// }
/// ```
pub fn use_user() -> UserInfo {
    let handle = use_hook(|| handle("use_user"));
    let snapshot = handle.snapshot.read();
    UserInfo {
        is_loaded: true,
        is_signed_in: snapshot.auth.is_signed_in(),
        user: snapshot.user.clone(),
    }
}

/// What [`use_session`] returns.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionInfo {
    /// Whether there is a signed-in session.
    pub is_signed_in: bool,
    /// The session's id.
    pub session_id: Option<SessionId>,
    /// When the current session token expires (Unix seconds); renewed in the background.
    pub expires_at: Option<i64>,
}

/// The current session, like Clerk's `useSession()`.
///
/// ```no_run
/// use dioxus::prelude::*;
///
/// fn SessionBadge() -> Element {
///     let session = auth_ui::use_session();
///     rsx! { if let Some(id) = session.session_id { "Session {id}" } }
/// }
/// ```
pub fn use_session() -> SessionInfo {
    let handle = use_hook(|| handle("use_session"));
    let snapshot = handle.snapshot.read();
    let signed_in = snapshot.auth.signed_in();
    SessionInfo {
        is_signed_in: signed_in.is_some(),
        session_id: signed_in.and_then(|s| s.session_id.clone()),
        expires_at: signed_in.map(|s| s.expires_at),
    }
}
