//! `UserProfile`: the account page — name, email (verified or not), and the settings sections:
//! password and connected accounts (`connections.rs`), change email, active sessions, delete
//! account (`settings.rs`).

use super::connections::{SignInMethods, is_connection_error};
use super::fields::{StatusLine, SubmitButton};
use super::forms::error_message;
use super::request::{encode, field};
use super::settings::{ActiveSessions, ChangeEmail, DeleteAccount};
use crate::hooks::{go, use_auth, use_user};
use crate::state::AuthSnapshot;
use auth_types::contract::paths;
use dioxus::prelude::*;

/// The account page (Clerk's `<UserProfile>`): the user's avatar, name and email with a
/// "Verified" badge (or a link to verify it), a form to change the name (server function
/// [`update_name`](crate::update_name)), "Sign out of all sessions" (POST `/auth/sign-out-all`),
/// and one section each to change the password ("Set a password" for an account created by a
/// sign-in provider), list the connected provider accounts ("Connected accounts": disconnect one
/// unless it is the last way to sign in, connect another enabled provider; hidden when no provider
/// is enabled and nothing is connected), change the email address (verified by the code mailed
/// to the new one), list and revoke the active sessions, and delete the account. Every form is
/// also a plain form post before the wasm loads; such a post that fails comes back to
/// `return_url` with `?error=<code>`, shown through `error` (a failed connect or disconnect in
/// "Connected accounts", anything else at the top).
///
/// ```no_run
/// use dioxus::prelude::*;
/// fn ProfilePage() -> Element {
///     rsx! { auth_ui::UserProfile { after_sign_out_url: "/" } }
/// }
/// ```
#[component]
pub fn UserProfile(
    #[props(default = "/".to_string(), into)] after_sign_out_url: String,
    #[props(default = paths::PROFILE_PAGE.to_string(), into)] return_url: String,
    #[props(default, into)] error: Option<String>,
) -> Element {
    let auth = use_auth();
    let info = use_user();
    // A failed connect or disconnect shows in its section, anything else at the top.
    let (connection_error, error) = match error {
        Some(code) if is_connection_error(&code) => (Some(code), None),
        other => (None, other),
    };
    let mut status = use_signal(|| error.as_deref().map(|c| error_message(c).to_owned()));
    let mut pending = use_signal(|| false);
    let Some(user) = info.user else {
        return rsx! {
            p { class: "auth-muted", "Sign in to manage your account." }
        };
    };

    let save = move |evt: FormEvent| {
        evt.prevent_default();
        let name = field(&evt, "name");
        pending.set(true);
        status.set(None);
        spawn(async move {
            let result = crate::server::update_name(name).await;
            pending.set(false);
            match result {
                Ok(updated) => {
                    status.set(Some("Saved.".to_owned()));
                    auth.replace(AuthSnapshot::new(auth.state(), Some(updated)));
                }
                Err(e) => status.set(Some(match e {
                    ServerFnError::ServerError { message, .. } => message,
                    other => other.to_string(),
                })),
            }
        });
    };

    let after = after_sign_out_url.clone();
    let sign_out_all = move |evt: FormEvent| {
        evt.prevent_default();
        let after = after.clone();
        spawn(async move {
            match auth.sign_out_all().await {
                Ok(()) => go(&after),
                Err(e) => status.set(Some(e.to_string())),
            }
        });
    };

    rsx! {
        section { class: "auth-card auth-profile", "aria-labelledby": "auth-profile-title",
            h2 { id: "auth-profile-title", class: "auth-title", "Account" }
            div { class: "auth-profile-head",
                span { class: "auth-avatar auth-avatar-static", "aria-hidden": "true", "{user.initials()}" }
                div {
                    p { id: "auth-profile-display-name", class: "auth-strong", "{user.name}" }
                    p { class: "auth-muted",
                        span { id: "auth-profile-email", "{user.email}" }
                        " "
                        if user.email_verified {
                            span { id: "auth-profile-email-verified", class: "auth-badge auth-badge-ok", "Verified" }
                        } else {
                            span { id: "auth-profile-email-unverified", class: "auth-badge", "Not verified" }
                            " "
                            a {
                                id: "auth-profile-verify",
                                href: "{paths::VERIFY_EMAIL_PAGE}?email={encode(&user.email)}",
                                "Verify"
                            }
                        }
                    }
                }
            }
            form { id: "auth-profile-form", class: "auth-form", onsubmit: save,
                label { r#for: "auth-profile-name", class: "auth-label", "Name" }
                input {
                    id: "auth-profile-name",
                    class: "auth-input",
                    name: "name",
                    r#type: "text",
                    autocomplete: "name",
                    maxlength: "200",
                    required: true,
                    value: "{user.name}",
                }
                SubmitButton {
                    id: "auth-profile-save",
                    pending: pending(),
                    idle: "Save",
                    busy: "Saving…",
                }
            }
            StatusLine { prefix: "auth-profile", message: status() }
            form {
                method: "post",
                action: paths::SIGN_OUT_ALL,
                onsubmit: sign_out_all,
                input { r#type: "hidden", name: "redirect_url", value: "{after_sign_out_url}" }
                button { id: "auth-sign-out-all", class: "auth-button auth-button-secondary", r#type: "submit",
                    "Sign out of all sessions"
                }
            }
            SignInMethods { return_url: return_url.clone(), error: connection_error,
                ChangeEmail { return_url: return_url.clone() }
                ActiveSessions { return_url: return_url.clone() }
                DeleteAccount { after_url: after_sign_out_url.clone() }
            }
        }
    }
}
