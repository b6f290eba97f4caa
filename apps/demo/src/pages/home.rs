//! `/`: the public home page. `SignedIn` / `SignedOut` pick what to show from the server's auth
//! state (no flash after hydration), a tour links every page, and a small panel proves the
//! full-stack pipeline: a value read from the request during SSR, hydration, and a server function
//! that takes an axum extractor.

use super::Source;
use crate::{APP_NAME, Route};
use auth_ui::{SignedIn, SignedOut, use_user};
use dioxus::prelude::*;

#[component]
pub fn Home() -> Element {
    // Runs on the server during SSR; the client reads the serialised value back during hydration,
    // so both renders agree.
    let has_session_cookie = use_server_cached(session_cookie_present);
    let mut greeting = use_action(server_greeting);
    let mut hydrated = use_signal(|| false);
    // Effects run only in the browser, after hydration.
    use_effect(move || hydrated.set(true));

    let info = use_user();
    let name = info.user.as_ref().map(display_name).unwrap_or_default();

    rsx! {
        main { class: "page",
            h1 { "{APP_NAME}" }
            p {
                "A Dioxus full-stack app with authentication built in. Every page below shows one "
                "capability and links to the file that implements it."
            }
            SignedOut {
                p { id: "home-signed-out",
                    "You are signed out. "
                    Link { to: Route::SignUpPage { redirect_url: "/dashboard".into(), error: String::new(), email: String::new() }, "Create an account" }
                    " (it stays on this machine) or "
                    Link { to: Route::SignInPage { redirect_url: "/dashboard".into(), error: String::new(), email: String::new(), code_sent: String::new() }, "sign in" }
                    "."
                }
            }
            SignedIn {
                p { id: "home-signed-in", "Welcome back, {name}. You are signed in." }
            }
            h2 { "Tour" }
            ul { class: "tour",
                li { Link { to: Route::SignInPage { redirect_url: String::new(), error: String::new(), email: String::new(), code_sent: String::new() }, "/sign-in" } ", " Link { to: Route::SignUpPage { redirect_url: String::new(), error: String::new(), email: String::new() }, "/sign-up" } ": the prebuilt forms; they work before the wasm loads, too." }
                li { a { href: "/forgot-password", "/forgot-password" } ", " a { href: "/verify-email", "/verify-email" } ": a password reset and an email verification by a mailed link or 8-digit code." }
                li { Link { to: Route::Dashboard {}, "/dashboard" } ": a protected page (redirected on the server when signed out) showing " code { "use_auth()" } "." }
                li { Link { to: Route::Profile { error: String::new() }, "/profile" } ": " code { "use_user()" } " and " code { "UserProfile" } ", with the user loaded on the server before rendering." }
                li { Link { to: Route::ApiCalls {}, "/api-calls" } ": an axum route, the users API and a server function, called from the browser." }
                li { Link { to: Route::AdminPage {}, "/admin" } ": a page for the " code { "admin" } " role, guarded on the server by " code { "Require<Admin>" } "." }
            }
            h2 { "Under the hood" }
            p {
                "This page was rendered on the server, which saw "
                strong { id: "session-cookie",
                    if has_session_cookie { "a __session cookie" } else { "no __session cookie" }
                }
                " on your request."
            }
            p { id: "hydration", "data-hydrated": "{hydrated}",
                if hydrated() { "Hydrated: the page is interactive." } else { "Not hydrated yet." }
            }
            button { id: "greet", onclick: move |_| greeting.call(), "Ask the server" }
            p { id: "greeting",
                match greeting.value() {
                    Some(Ok(text)) => rsx! { "{text}" },
                    Some(Err(err)) => rsx! { "Error: {err}" },
                    None => rsx! { "No answer yet." },
                }
            }
            Source { path: file!() }
        }
    }
}

/// The name to greet a user by: the display name, else the email.
pub fn display_name(user: &auth_types::User) -> String {
    if user.name.is_empty() {
        user.email.clone()
    } else {
        user.name.clone()
    }
}

/// Whether the current request carried a `__session` cookie (server side; `false` elsewhere).
fn session_cookie_present() -> bool {
    #[cfg(feature = "server")]
    if let Some(ctx) = dioxus::fullstack::FullstackContext::current() {
        let headers = ctx.parts_mut().headers.clone();
        return auth_server::token_from_headers(&headers).is_some();
    }
    false
}

/// A server function that takes an extractor (`HeaderMap`) from the request.
#[get("/api/greeting", headers: dioxus::fullstack::HeaderMap)]
async fn server_greeting() -> Result<String> {
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("an unknown client");
    let kind = if agent.contains("Chrome") {
        "a Chromium browser"
    } else {
        "a client"
    };
    Ok(format!("Hello from the server, {kind}!"))
}
