//! The layout: a header that changes with the auth state, then the page.

use crate::{APP_NAME, Route};
use auth_ui::{SignedIn, SignedOut, UserButton};
use dioxus::prelude::*;

#[component]
pub fn Shell() -> Element {
    // Effects only run in the browser: the marker tells tests the wasm has hydrated the page.
    let mut hydrated = use_signal(|| false);
    use_effect(move || hydrated.set(true));
    rsx! {
        header { class: "site-header", "data-hydrated": "{hydrated}",
            Link { class: "brand", to: Route::Home {}, "{APP_NAME}" }
            nav { class: "site-nav",
                Link { id: "api-calls-link", to: Route::ApiCalls {}, "API calls" }
                SignedOut {
                    Link {
                        id: "sign-in-link",
                        to: Route::SignInPage { redirect_url: String::new(), error: String::new(), email: String::new(), code_sent: String::new() },
                        "Sign in"
                    }
                    Link {
                        id: "sign-up-link",
                        to: Route::SignUpPage { redirect_url: String::new(), error: String::new(), email: String::new() },
                        "Sign up"
                    }
                }
                SignedIn {
                    Link { id: "dashboard-link", to: Route::Dashboard {}, "Dashboard" }
                    Link { id: "admin-link", to: Route::AdminPage {}, "Admin" }
                    UserButton { manage_account_url: "/profile" }
                }
            }
        }
        Outlet::<Route> {}
    }
}
