//! `/dashboard` and `/profile`: protected pages. The server redirects signed-out document
//! requests before rendering (`PageGuard` in `main.rs`); `RedirectToSignIn` covers in-app
//! navigation and signing out while on the page. `/profile`'s user object is loaded on the server
//! before rendering (the `AuthProvider` snapshot), so the form is filled in the first HTML.

use super::Source;
use auth_types::Check;
use auth_ui::{Protect, RedirectToSignIn, SignedIn, SignedOut, UserProfile, use_auth, use_user};
use dioxus::prelude::*;

#[component]
pub fn Dashboard() -> Element {
    let auth = use_auth();
    let info = use_user();
    let mut token = use_signal(|| None::<String>);
    let name = info
        .user
        .as_ref()
        .map(super::home::display_name)
        .unwrap_or_default();
    let user_id = auth.user_id().map(|id| id.to_string()).unwrap_or_default();
    let roles = auth.roles().join(", ");

    rsx! {
        main { class: "page",
            SignedOut { RedirectToSignIn {} }
            SignedIn {
                h1 { "Dashboard" }
                p {
                    "Protected: signed out, the server answers this URL with a redirect to the sign-in page before rendering anything. "
                    "Below, the fields of " code { "use_auth()" } ", read from the state the server rendered with."
                }
                p { id: "dashboard-greeting", "Welcome, {name}!" }
                p { "Your user id: " code { id: "user-id", "{user_id}" } }
                p { "Roles: " span { id: "roles", "{roles}" } }
                Protect {
                    check: Check::role("admin"),
                    fallback: rsx! { p { id: "admin-only", "Admins see an extra panel here." } },
                    p { id: "admin-only", "You are an admin." }
                }
                button {
                    id: "get-token",
                    onclick: move |_| async move {
                        let value = match auth.get_token().await {
                            Ok(Some(jwt)) => jwt,
                            Ok(None) => "signed out".to_owned(),
                            Err(e) => format!("error: {e}"),
                        };
                        token.set(Some(value));
                    },
                    "Get a session token"
                }
                if let Some(jwt) = token() {
                    pre { id: "token", class: "token", "{jwt}" }
                }
            }
            Source { path: file!() }
        }
    }
}

#[component]
pub fn Profile(error: String) -> Element {
    rsx! {
        main { class: "page page-narrow",
            SignedOut { RedirectToSignIn {} }
            SignedIn {
                h1 { "Profile" }
                p {
                    "The " code { "UserProfile" } " component, filled from " code { "use_user()" } ": the full user object was loaded on the "
                    "server before this page was rendered, and saving goes through a server function that only changes your own name. "
                    "Below it, the account settings: password, email (verified by a mailed code), your signed-in devices, and deleting the account."
                }
                UserProfile { error: (!error.is_empty()).then_some(error) }
            }
            Source { path: file!() }
        }
    }
}
