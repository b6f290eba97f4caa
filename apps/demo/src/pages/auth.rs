//! `/sign-in`, `/sign-up`, `/forgot-password`, `/reset-password` and `/verify-email`: the
//! prebuilt forms. Their query (`redirect_url`, `error`, `email`) comes from the identity
//! provider when a plain form post (before the wasm loaded) failed or needs the mailed code;
//! `token` from the link in a mail.

use super::Source;
use crate::Route;
use auth_ui::{ForgotPassword, ResetPassword, SignIn, SignUp, SignedIn, SignedOut, VerifyEmail};
use dioxus::prelude::*;

fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// Whether the provider offers "Email me a code" (`AUTH_EMAIL_CODE_SIGN_IN=on`): read from its
/// settings during SSR; the client reads the serialised value back during hydration.
fn email_code_sign_in() -> bool {
    #[cfg(feature = "server")]
    if let Some(backend) = auth_server::current_backend() {
        let any: &dyn std::any::Any = backend.as_ref();
        return any
            .downcast_ref::<auth_idp::Idp>()
            .is_some_and(|idp| idp.config().email_code_sign_in);
    }
    false
}

#[component]
pub fn SignInPage(
    redirect_url: String,
    error: String,
    email: String,
    code_sent: String,
) -> Element {
    let sign_up = format!("/sign-up?redirect_url={}", encode(&redirect_url));
    let email_code = use_server_cached(email_code_sign_in);
    rsx! {
        main { class: "page page-narrow",
            SignedOut {
                SignIn {
                    redirect_url: non_empty(redirect_url),
                    error: non_empty(error),
                    email: non_empty(email),
                    sign_up_url: sign_up,
                    email_code,
                    code_sent: code_sent == "1",
                }
            }
            SignedIn { AlreadySignedIn {} }
            Source { path: file!() }
        }
    }
}

#[component]
pub fn SignUpPage(redirect_url: String, error: String, email: String) -> Element {
    let sign_in = format!("/sign-in?redirect_url={}", encode(&redirect_url));
    rsx! {
        main { class: "page page-narrow",
            SignedOut {
                SignUp {
                    redirect_url: non_empty(redirect_url),
                    error: non_empty(error),
                    email: non_empty(email),
                    sign_in_url: sign_in,
                }
            }
            SignedIn { AlreadySignedIn {} }
            Source { path: file!() }
        }
    }
}

/// `/forgot-password`: the address to mail a reset link to. `sent` is set when a plain form
/// post (before the wasm loaded) came back; the page then shows the same neutral message.
#[component]
pub fn ForgotPasswordPage(sent: String, error: String) -> Element {
    rsx! {
        main { class: "page page-narrow",
            ForgotPassword { sent: !sent.is_empty(), error: non_empty(error) }
            Source { path: file!() }
        }
    }
}

/// `/reset-password?token=…`: the reset mail's link. Setting the password signs out every
/// device and signs this browser in.
#[component]
pub fn ResetPasswordPage(token: String, error: String, redirect_url: String) -> Element {
    rsx! {
        main { class: "page page-narrow",
            ResetPassword {
                token,
                error: non_empty(error),
                redirect_url: non_empty(redirect_url).unwrap_or_else(|| "/dashboard".to_owned()),
            }
            Source { path: file!() }
        }
    }
}

/// `/verify-email`: the verification mail's link (`?token=`), or the code (with `?email=`).
#[component]
pub fn VerifyEmailPage(
    token: String,
    email: String,
    error: String,
    redirect_url: String,
) -> Element {
    rsx! {
        main { class: "page page-narrow",
            VerifyEmail {
                token,
                email,
                error: non_empty(error),
                redirect_url: non_empty(redirect_url).unwrap_or_else(|| "/dashboard".to_owned()),
            }
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
