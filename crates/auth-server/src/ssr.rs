//! Server-side rendering with Dioxus (feature `dioxus`): read the request's auth state from the
//! current `FullstackContext`, as verified by the [`AuthLayer`](crate::AuthLayer). No second
//! verification happens here.

use crate::extract::{AuthContext, missing_layer};
use auth_types::AuthState;
use dioxus::fullstack::FullstackContext;

/// The current request's [`AuthState`], for `use_server_cached` during SSR and for server
/// functions. Signed out outside a request (on the client, in tests) and, with an error logged
/// once, when the [`AuthLayer`](crate::AuthLayer) is missing.
///
/// ```no_run
/// use dioxus::prelude::*;
///
/// // In a component: runs on the server during SSR, and the value is serialised into the page
/// // so hydration on the client sees the same state.
/// fn use_auth_state() -> auth_types::AuthState {
///     use_server_cached(auth_server::current_auth_state)
/// }
/// ```
pub fn current_auth_state() -> AuthState {
    current_auth().state().clone()
}

/// The current request's whole [`AuthContext`] (state and claims); see [`current_auth_state`].
///
/// ```no_run
/// let claims = auth_server::current_auth().claims().cloned();
/// ```
pub fn current_auth() -> AuthContext {
    let Some(ctx) = FullstackContext::current() else {
        return AuthContext::signed_out();
    };
    match ctx.extension::<AuthContext>() {
        Some(auth) => auth,
        None => {
            missing_layer();
            AuthContext::signed_out()
        }
    }
}

/// The current request's signed-in user (public profile), for SSR and server functions: the
/// request's verified [`AuthState`] plus one lookup through the layer's
/// [`SessionBackend`](crate::SessionBackend). `None` when signed out, outside a request, without a
/// backend (an external issuer), or when the user no longer exists (a store failure is logged and
/// also gives `None`, so a page still renders).
///
/// ```no_run
/// use dioxus::prelude::*;
///
/// #[component]
/// fn Greeting() -> Element {
///     // Server: looked up during SSR; client: read back from the hydration data.
///     let user = use_server_future(auth_server::current_user)?;
///     let name = user().flatten().map(|u| u.name).unwrap_or_default();
///     rsx! { p { "Hello {name}" } }
/// }
/// ```
pub async fn current_user() -> Option<auth_types::User> {
    let ctx = FullstackContext::current()?;
    let auth = current_auth();
    let user_id = auth.state().user_id()?.clone();
    let crate::backend::SharedBackend(backend) =
        ctx.extension::<crate::backend::SharedBackend>()?;
    crate::stack::lookup(backend.as_ref(), &user_id).await.ok()
}

/// The current request's [`SessionBackend`](crate::SessionBackend) (for SSR and server functions),
/// `None` outside a request or without a backend.
///
/// ```no_run
/// let backend = auth_server::current_backend();
/// # let _ = backend;
/// ```
pub fn current_backend() -> Option<std::sync::Arc<dyn crate::SessionBackend>> {
    let ctx = FullstackContext::current()?;
    ctx.extension::<crate::backend::SharedBackend>()
        .map(|crate::backend::SharedBackend(backend)| backend)
}
