//! `/sign-in` and `/sign-up`: the prebuilt forms. Their query (`redirect_url`, `error`) comes
//! from the identity provider when a plain form post (before the wasm loaded) failed.

use super::Source;
use crate::Route;
use auth_ui::{SignIn, SignUp, SignedIn, SignedOut};
use dioxus::prelude::*;

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

#[component]
pub fn SignInPage(redirect_url: String, error: String) -> Element {
    let sign_up = format!("/sign-up?redirect_url={}", encode(&redirect_url));
    rsx! {
        main { class: "page page-narrow",
            SignedOut {
                SignIn {
                    redirect_url: non_empty(redirect_url),
                    error: non_empty(error),
                    sign_up_url: sign_up,
                }
            }
            SignedIn { AlreadySignedIn {} }
            Source { path: file!() }
        }
    }
}

#[component]
pub fn SignUpPage(redirect_url: String, error: String) -> Element {
    let sign_in = format!("/sign-in?redirect_url={}", encode(&redirect_url));
    rsx! {
        main { class: "page page-narrow",
            SignedOut {
                SignUp {
                    redirect_url: non_empty(redirect_url),
                    error: non_empty(error),
                    sign_in_url: sign_in,
                }
            }
            SignedIn { AlreadySignedIn {} }
            Source { path: file!() }
        }
    }
}

#[component]
fn AlreadySignedIn() -> Element {
    rsx! {
        p { id: "already-signed-in",
            "You are signed in. "
            Link { to: Route::Dashboard {}, "Go to the dashboard" }
        }
    }
}

/// The `redirect_url` query value (a path) for the link to the other form.
fn encode(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    auth_ui::sign_in_url("", path)
        .trim_start_matches("?redirect_url=")
        .to_owned()
}
