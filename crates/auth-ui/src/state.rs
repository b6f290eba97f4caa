//! The state the provider holds and SSR serialises into the page.

use auth_types::{AuthState, User};
use serde::{Deserialize, Serialize};

/// What the client knows about the session: the verified [`AuthState`] and, when signed in, the
/// public [`User`]. This is exactly what the server serialises into the page for hydration
/// (and what `GET /auth/session` answers).
///
/// ```
/// let snapshot = auth_ui::AuthSnapshot::signed_out();
/// assert!(!snapshot.auth.is_signed_in());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSnapshot {
    /// The verified session state.
    pub auth: AuthState,
    /// The public user, when signed in.
    #[serde(default)]
    pub user: Option<User>,
}

impl AuthSnapshot {
    /// Signed out, no user.
    pub fn signed_out() -> Self {
        Self {
            auth: AuthState::SignedOut,
            user: None,
        }
    }

    /// A state and its user (`None` when signed out, or when the app runs against an external
    /// issuer without a local user store).
    pub fn new(auth: AuthState, user: Option<User>) -> Self {
        let user = if auth.is_signed_in() { user } else { None };
        Self { auth, user }
    }
}

impl Default for AuthSnapshot {
    fn default() -> Self {
        Self::signed_out()
    }
}
