//! The "Continue with …" links of `SignIn` and `SignUp`: one per sign-in provider the backend
//! offers, above the email form. Plain links to `GET /auth/oauth/{provider}`, so they work before
//! the wasm loads; the list is server-rendered and hydrated from the same value (no flash).

use crate::seed::use_seed;
use crate::server::load_providers;
use auth_types::contract::{SocialProvider, paths};
use dioxus::prelude::*;

/// The provider links for a form that lands on `redirect_url`, then an "or" divider; nothing
/// when the backend offers no provider.
#[component]
pub(crate) fn SocialSignIn(prefix: String, redirect_url: String) -> Element {
    let seeded = use_seed::<Vec<SocialProvider>>(|request| Box::pin(load_providers(request)))?;
    rsx! {
        SocialLinks { prefix, redirect_url, seeded }
    }
}

#[component]
fn SocialLinks(
    prefix: String,
    redirect_url: String,
    seeded: Option<Vec<SocialProvider>>,
) -> Element {
    let server_rendered = seeded.is_some();
    let mut providers = use_signal(move || seeded.unwrap_or_default());
    // Not rendered on the server (an in-app navigation): ask it.
    use_effect(move || {
        if server_rendered {
            return;
        }
        spawn(async move {
            if let Some(list) = fetch_providers().await {
                providers.set(list);
            }
        });
    });

    let list = providers();
    if list.is_empty() {
        return rsx! {};
    }
    rsx! {
        div { id: "{prefix}-social", class: "auth-social-list",
            for provider in list {
                a {
                    key: "{provider.id}",
                    class: "auth-button auth-social",
                    "data-provider": "{provider.id}",
                    href: paths::oauth_start(&provider.id, &redirect_url),
                    "Continue with {provider.name}"
                }
            }
        }
        p { class: "auth-divider", span { "or" } }
    }
}

/// The providers from the server function; `None` when it cannot be reached (no links then).
#[cfg(target_arch = "wasm32")]
async fn fetch_providers() -> Option<Vec<SocialProvider>> {
    crate::server::social_providers().await.ok()
}

/// Stub: outside a browser there is nothing to ask (SSR never calls itself over HTTP).
#[cfg(not(target_arch = "wasm32"))]
async fn fetch_providers() -> Option<Vec<SocialProvider>> {
    None
}
