//! `ForgotPassword` and `ResetPassword`: the password-reset flow's two forms, plain HTML posts
//! before the wasm loads, `fetch` with inline errors and a pending state after.

use super::fields::{EmailField, ErrorLine, NewPasswordField, SubmitButton, use_submission};
use super::forms::error_message;
use super::request::{self, Reply, field};
use crate::hooks::{go, use_auth};
use auth_types::contract::{EmailRequest, PasswordResetConfirmRequest, paths};
use dioxus::prelude::*;

/// What the forgot-password form says once sent, whether or not the address has an account.
const NEUTRAL: &str = "If an account exists for that address, we sent it a link to reset the \
                       password. The link is valid for 1 hour.";

/// The "Forgot password?" form (the first half of Clerk's reset flow): an email address, posted
/// to `/auth/password-reset`. The answer is the same whether or not the address has an account,
/// so the form then shows one neutral message. Before the wasm loads the provider redirects the
/// post to `sent_url` (this page with `?sent=1`), which renders that message (`sent: true`).
///
/// ```no_run
/// use dioxus::prelude::*;
/// #[component]
/// fn ForgotPage(sent: bool, error: String) -> Element {
///     rsx! { auth_ui::ForgotPassword { sent, error: (!error.is_empty()).then_some(error) } }
/// }
/// ```
#[component]
pub fn ForgotPassword(
    #[props(default)] sent: bool,
    #[props(default, into)] error: Option<String>,
    #[props(default = format!("{}?sent=1", paths::FORGOT_PASSWORD_PAGE), into)] sent_url: String,
    #[props(default = paths::SIGN_IN_PAGE.to_string(), into)] sign_in_url: String,
) -> Element {
    let p = "forgot-password";
    let form = use_submission(p, || error.as_deref().map(|c| error_message(c).to_owned()));
    let mut done = use_signal(|| sent.then(|| NEUTRAL.to_owned()));
    let pending = form.pending();

    let redirect = sent_url.clone();
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        let body = serde_json::to_value(EmailRequest {
            email: field(&evt, "email"),
            redirect_url: Some(redirect.clone()),
        })
        .unwrap_or_default();
        spawn(async move {
            match form.finish(request::post(paths::PASSWORD_RESET, &body).await) {
                Some(Reply::Accepted(text, _)) if !text.is_empty() => done.set(Some(text)),
                Some(_) => done.set(Some(NEUTRAL.to_owned())),
                None => {}
            }
        });
    };

    if let Some(text) = done() {
        return rsx! {
            section { id: "forgot-password-sent", class: "auth-card", "aria-labelledby": "forgot-password-title",
                h2 { id: "forgot-password-title", class: "auth-title", "Check your email" }
                p { id: "forgot-password-status", role: "status", "aria-live": "polite", "{text}" }
                p { class: "auth-muted", a { href: "{sign_in_url}", "Back to sign in" } }
            }
        };
    }

    rsx! {
        form {
            id: "forgot-password-form",
            class: "auth-card auth-form",
            method: "post",
            action: paths::PASSWORD_RESET,
            "aria-labelledby": "forgot-password-title",
            "aria-busy": "{pending}",
            onsubmit,
            h2 { id: "forgot-password-title", class: "auth-title", "Reset your password" }
            p { class: "auth-muted", "Enter your account's email address and we will mail you a link to set a new password." }
            ErrorLine { prefix: p, message: form.error() }
            EmailField { id: "forgot-password-email", label: "Email" }
            input { r#type: "hidden", name: "redirect_url", value: "{sent_url}" }
            SubmitButton {
                id: "forgot-password-submit",
                pending,
                idle: "Send reset link",
                busy: "Sending…",
            }
            p { class: "auth-muted", a { href: "{sign_in_url}", "Back to sign in" } }
        }
    }
}

/// The page the reset mail links to (`RESET_PASSWORD_PAGE?token=…`): a new password (same
/// policy as sign-up), posted with the token to `/auth/password-reset/confirm`. The provider
/// revokes every session of the account and signs this browser in fresh; the form then goes to
/// `redirect_url`. The page asks browsers not to send it as a referrer (the token is in its URL).
///
/// ```no_run
/// use dioxus::prelude::*;
/// #[component]
/// fn ResetPage(token: String) -> Element {
///     rsx! { auth_ui::ResetPassword { token, redirect_url: "/dashboard" } }
/// }
/// ```
#[component]
pub fn ResetPassword(
    #[props(default, into)] token: String,
    #[props(default, into)] error: Option<String>,
    #[props(default = "/".to_string(), into)] redirect_url: String,
    #[props(default = paths::FORGOT_PASSWORD_PAGE.to_string(), into)] forgot_password_url: String,
) -> Element {
    let auth = use_auth();
    let p = "reset-password";
    let form = use_submission(p, || error.as_deref().map(|c| error_message(c).to_owned()));
    let pending = form.pending();

    if token.is_empty() {
        let text = form.error().unwrap_or_else(|| {
            "This page needs the link from the reset mail; request a new one.".to_owned()
        });
        return rsx! {
            document::Meta { name: "referrer", content: "no-referrer" }
            section { id: "reset-password-missing", class: "auth-card", "aria-labelledby": "reset-password-title",
                h2 { id: "reset-password-title", class: "auth-title", "Set a new password" }
                p { id: "reset-password-error", class: "auth-error", role: "alert", "{text}" }
                p { class: "auth-muted", a { href: "{forgot_password_url}", "Request a new link" } }
            }
        };
    }

    let (token_for_submit, redirect) = (token.clone(), redirect_url.clone());
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        let body = serde_json::to_value(PasswordResetConfirmRequest {
            token: token_for_submit.clone(),
            new_password: field(&evt, "new_password"),
            redirect_url: Some(redirect.clone()),
        })
        .unwrap_or_default();
        let fallback = redirect.clone();
        spawn(async move {
            let reply = request::post(paths::PASSWORD_RESET_CONFIRM, &body).await;
            form.settle();
            match reply {
                Reply::Session(snapshot, to) => {
                    auth.replace(*snapshot);
                    go(&to);
                }
                Reply::Accepted(_, to) => go(&to.unwrap_or(fallback)),
                Reply::VerificationRequired(_) => go(paths::SIGN_IN_PAGE),
                Reply::Failed(text) => form.fail(text),
            }
        });
    };

    rsx! {
        document::Meta { name: "referrer", content: "no-referrer" }
        form {
            id: "reset-password-form",
            class: "auth-card auth-form",
            method: "post",
            action: paths::PASSWORD_RESET_CONFIRM,
            "aria-labelledby": "reset-password-title",
            "aria-busy": "{pending}",
            onsubmit,
            h2 { id: "reset-password-title", class: "auth-title", "Set a new password" }
            p { class: "auth-muted", "Every device signed in to your account will be signed out." }
            ErrorLine { prefix: p, message: form.error() }
            input { r#type: "hidden", name: "token", value: "{token}" }
            NewPasswordField { prefix: p, hint: "8 to 128 characters; common passwords are refused." }
            input { r#type: "hidden", name: "redirect_url", value: "{redirect_url}" }
            SubmitButton {
                id: "reset-password-submit",
                pending,
                idle: "Set new password",
                busy: "Saving…",
            }
            p { class: "auth-muted", a { href: "{forgot_password_url}", "Request a new link" } }
        }
    }
}
