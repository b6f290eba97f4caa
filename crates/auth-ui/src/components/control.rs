//! Control components: render children by auth state.

use crate::hooks::{Auth, go, use_auth};
use auth_types::Check;
use dioxus::prelude::*;

/// Renders its children only when signed in (Clerk's `<SignedIn>`). UX only: the server must
/// still check.
///
/// ```no_run
/// use auth_ui::{SignedIn, UserButton};
/// use dioxus::prelude::*;
/// fn Header() -> Element {
///     rsx! { SignedIn { UserButton {} } }
/// }
/// ```
#[component]
pub fn SignedIn(children: Element) -> Element {
    let auth = use_auth();
    if auth.is_signed_in() {
        rsx! {
            {children}
        }
    } else {
        rsx! {}
    }
}

/// Renders its children only when signed out (Clerk's `<SignedOut>`).
///
/// ```no_run
/// use auth_ui::SignedOut;
/// use dioxus::prelude::*;
/// fn Header() -> Element {
///     rsx! { SignedOut { a { href: "/sign-in", "Sign in" } } }
/// }
/// ```
#[component]
pub fn SignedOut(children: Element) -> Element {
    let auth = use_auth();
    if auth.is_signed_in() {
        rsx! {}
    } else {
        rsx! {
            {children}
        }
    }
}

/// Renders its children only when the session passes every given condition (Clerk's
/// `<Protect>`): a `role`, a `permission`, a [`Check`], and/or a `condition` callback. With none
/// given, being signed in is enough. Otherwise renders `fallback` (nothing by default).
///
/// ```no_run
/// use auth_ui::Protect;
/// use dioxus::prelude::*;
/// fn Billing() -> Element {
///     rsx! {
///         Protect { role: "admin", fallback: rsx! { p { "Admins only." } },
///             h2 { "Billing" }
///         }
///     }
/// }
/// ```
#[component]
pub fn Protect(
    children: Element,
    #[props(default, into)] role: Option<String>,
    #[props(default, into)] permission: Option<String>,
    #[props(default)] check: Option<Check>,
    #[props(default)] condition: Option<Callback<Auth, bool>>,
    #[props(default)] fallback: Option<Element>,
) -> Element {
    let auth = use_auth();
    let mut allowed = auth.is_signed_in();
    if let Some(role) = role {
        allowed &= auth.has(&Check::role(role));
    }
    if let Some(permission) = permission {
        allowed &= auth.has(&Check::permission(permission));
    }
    if let Some(check) = &check {
        allowed &= auth.has(check);
    }
    if let Some(condition) = condition {
        allowed &= condition.call(auth);
    }
    if allowed {
        rsx! {
            {children}
        }
    } else {
        fallback.unwrap_or_else(|| rsx! {})
    }
}

/// Renders its children while the auth state is loading. The provider seeds the state on the
/// server, so under [`AuthProvider`](crate::AuthProvider) this never renders (kept for parity
/// with Clerk's `<ClerkLoading>`).
///
/// ```no_run
/// use auth_ui::AuthLoading;
/// use dioxus::prelude::*;
/// fn Spinner() -> Element {
///     rsx! { AuthLoading { "Loading…" } }
/// }
/// ```
#[component]
pub fn AuthLoading(children: Element) -> Element {
    let auth = use_auth();
    if auth.is_loaded() {
        rsx! {}
    } else {
        rsx! {
            {children}
        }
    }
}

/// Renders its children once the auth state is known (Clerk's `<ClerkLoaded>`).
///
/// ```no_run
/// use auth_ui::AuthLoaded;
/// use dioxus::prelude::*;
/// fn Body() -> Element {
///     rsx! { AuthLoaded { "Ready." } }
/// }
/// ```
#[component]
pub fn AuthLoaded(children: Element) -> Element {
    let auth = use_auth();
    if auth.is_loaded() {
        rsx! {
            {children}
        }
    } else {
        rsx! {}
    }
}

/// `sign_in_path?redirect_url=<return_to>` with the value percent-encoded.
///
/// ```
/// assert_eq!(
///     auth_ui::sign_in_url("/sign-in", "/dashboard?tab=a b"),
///     "/sign-in?redirect_url=%2Fdashboard%3Ftab%3Da%20b"
/// );
/// ```
pub fn sign_in_url(sign_in_path: &str, return_to: &str) -> String {
    let mut encoded = String::with_capacity(return_to.len());
    for byte in return_to.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    format!("{sign_in_path}?redirect_url={encoded}")
}

/// Sends a signed-out visitor to the sign-in page, keeping the current path in `redirect_url`
/// (Clerk's `<RedirectToSignIn>`). In the browser it navigates after mount; in server-rendered
/// HTML it is a plain link. Client-side only — for the HTTP-level redirect on document requests
/// use `auth_server::PageGuard`, which is the security boundary.
///
/// ```no_run
/// use auth_ui::{RedirectToSignIn, SignedIn, SignedOut};
/// use dioxus::prelude::*;
/// fn Dashboard() -> Element {
///     rsx! {
///         SignedIn { "Your data" }
///         SignedOut { RedirectToSignIn {} }
///     }
/// }
/// ```
#[component]
pub fn RedirectToSignIn(
    #[props(default = "/sign-in".to_string(), into)] sign_in_path: String,
) -> Element {
    let current = dioxus::router::try_router()
        .map(|router| router.full_route_string())
        .unwrap_or_else(|| "/".to_owned());
    let target = sign_in_url(&sign_in_path, &current);
    let to = target.clone();
    use_effect(move || go(&to));
    rsx! {
        p { class: "auth-muted",
            a { href: "{target}", "Sign in to continue." }
        }
    }
}
