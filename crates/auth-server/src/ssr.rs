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
