//! The shared auth vocabulary of the template: who the user is, which session they are in, what a
//! session token claims, and the resulting [`AuthState`].
//!
//! This crate has no server dependencies and compiles for `wasm32-unknown-unknown`, so the very same
//! types travel from the server's token verification, through server-side rendering, into the
//! hydrated client. Its JSON is stable and documented on each type: it is what SSR hands to hydration
//! and what native clients read.
//!
//! ```
//! use auth_types::{AuthState, Check, SignedIn, UserId};
//!
//! let state = AuthState::SignedIn(SignedIn { email_verified: false,
//!     user_id: UserId::new("user_123"),
//!     session_id: None,
//!     roles: vec!["admin".into()],
//!     permissions: vec!["posts:write".into()],
//!     expires_at: 1_900_000_000,
//! });
//! assert!(state.is_signed_in());
//! assert!(state.has(&Check::role("admin")));
//! assert!(!AuthState::SignedOut.has(&Check::role("admin")));
//! ```

mod check;
mod claims;
pub mod contract;
mod error;
mod ids;
mod serde_util;
mod state;
mod user;

pub use check::Check;
pub use claims::SessionClaims;
pub use error::{AuthError, ErrorBody};
pub use ids::{SessionId, UserId};
pub use state::{AuthState, SignedIn};
pub use user::User;
