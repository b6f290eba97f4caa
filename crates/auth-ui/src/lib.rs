//! Dioxus hooks and components for the auth template: the client half of Clerk's Next.js SDK.
//!
//! * [`AuthProvider`]: wrap the app once. During server-side rendering it reads the request's
//!   [`AuthState`](auth_types::AuthState) (verified once by the server's auth layer) and the public
//!   [`User`](auth_types::User), serialises both into the page, and the wasm client hydrates from
//!   exactly that state — a signed-in page never flashes signed-out.
//! * Hooks: [`use_auth`], [`use_user`], [`use_session`].
//! * Control components: [`SignedIn`], [`SignedOut`], [`Protect`], [`AuthLoading`],
//!   [`AuthLoaded`], [`RedirectToSignIn`].
//! * Prebuilt UI: [`SignIn`], [`SignUp`] (with "Continue with …" per sign-in provider the
//!   backend offers), [`UserButton`], [`UserProfile`] (name, email verification, password — or
//!   "Set a password" for an account created by a provider —, connected accounts, email, active
//!   sessions, account deletion), and the mailed-secret flows [`ForgotPassword`],
//!   [`ResetPassword`], [`VerifyEmail`]; styled by [`AUTH_UI_CSS`] (CSS custom properties, no
//!   external requests). Every form posts as plain HTML, and every provider button is a plain
//!   link, before the wasm loads.
//!
//! ```no_run
//! use auth_ui::{AuthProvider, SignedIn, SignedOut, UserButton, AUTH_UI_CSS};
//! use dioxus::prelude::*;
//!
//! fn App() -> Element {
//!     rsx! {
//!         document::Stylesheet { href: AUTH_UI_CSS }
//!         AuthProvider {
//!             header {
//!                 SignedOut { a { href: "/sign-in", "Sign in" } }
//!                 SignedIn { UserButton {} }
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! The client-side checks are UX only: protect pages and data on the server (see
//! `auth_server::PageGuard` and the extractors).

mod client;
mod components;
mod hooks;
mod provider;
mod seed;
mod server;
mod state;

pub use components::control::{
    AuthLoaded, AuthLoading, Protect, RedirectToSignIn, SignedIn, SignedOut, sign_in_url,
};
pub use components::forms::{SignIn, SignUp, error_message};
pub use components::profile::UserProfile;
pub use components::recovery::{ForgotPassword, ResetPassword};
pub use components::user_button::UserButton;
pub use components::verify::VerifyEmail;
pub use hooks::{Auth, AuthUiError, SessionInfo, UserInfo, use_auth, use_session, use_user};
pub use provider::AuthProvider;
pub use server::{social_providers, update_name};
pub use state::AuthSnapshot;

use dioxus::prelude::*;

/// The stylesheet of the prebuilt components. Re-theme by overriding its custom properties
/// (`--auth-accent`, `--auth-radius`, …) in your own CSS.
///
/// ```no_run
/// use dioxus::prelude::*;
/// fn Head() -> Element {
///     rsx! { document::Stylesheet { href: auth_ui::AUTH_UI_CSS } }
/// }
/// ```
pub const AUTH_UI_CSS: Asset = asset!("/assets/auth-ui.css");
