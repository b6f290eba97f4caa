//! `VerifyEmail` and the code entry it shares with `SignIn`, `SignUp` and `UserProfile`: the
//! 8-digit code mailed to an address (or the token of the mail's link), posted like every other
//! form — plain HTML before the wasm loads, `fetch` with inline errors after.

use super::fields::{EmailField, ErrorLine, StatusLine, SubmitButton, use_submission};
use super::forms::error_message;
use super::request::{self, Reply, field};
use crate::client;
use crate::hooks::{Auth, go, use_auth};
use auth_types::contract::{EmailCodeConfirmRequest, EmailRequest, VerifyEmailRequest, paths};
use dioxus::prelude::*;

/// What a mailed code is for: it decides where the code and the "send a new code" go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum CodeFor {
    /// Verify an address (a new account's, or the new one of an email change).
    VerifyEmail,
    /// Sign in with a code instead of the password.
    SignIn,
}

impl CodeFor {
    fn action(self) -> &'static str {
        match self {
            CodeFor::VerifyEmail => paths::VERIFY_EMAIL,
            CodeFor::SignIn => paths::EMAIL_CODE_CONFIRM,
        }
    }
    fn resend(self) -> &'static str {
        match self {
            CodeFor::VerifyEmail => paths::VERIFY_EMAIL_RESEND,
            CodeFor::SignIn => paths::EMAIL_CODE,
        }
    }
    fn title(self) -> &'static str {
        match self {
            CodeFor::VerifyEmail => "Verify your email",
            CodeFor::SignIn => "Check your email",
        }
    }
    fn submit(self) -> &'static str {
        match self {
            CodeFor::VerifyEmail => "Verify",
            CodeFor::SignIn => "Sign in",
        }
    }
}

/// After a verification that signed nobody in: the session's user now has a verified address
/// (or a new one), so reload the state from the provider, then say so (the provider's `text`,
/// if any).
async fn verified(auth: Auth, mut status: Signal<Option<String>>, text: String) {
    if let Some(fresh) = client::fetch_session().await {
        auth.replace(fresh);
    }
    status.set(Some(if text.is_empty() {
        "Your email address is verified.".to_owned()
    } else {
        text
    }));
}

/// The code entry. `email` empty: the visitor types the address too. `on_back` adds a "Back"
/// button (the card it replaced); `on_done` replaces the navigation to `redirect_url` after a
/// verified code (the profile stays where it is).
#[component]
pub(crate) fn CodeStep(
    prefix: &'static str,
    purpose: CodeFor,
    email: String,
    redirect_url: String,
    error: Option<String>,
    #[props(default)] on_back: Option<EventHandler<MouseEvent>>,
    #[props(default)] on_done: Option<EventHandler<()>>,
) -> Element {
    let auth = use_auth();
    let p = format!("{prefix}-code");
    let form = use_submission(&p, || error.as_deref().map(|c| error_message(c).to_owned()));
    let mut status = use_signal(|| None::<String>);
    // Set by "Send a new code"'s click, which comes before the form's submit event.
    let mut wants_resend = use_signal(|| false);
    let pending = form.pending();

    let redirect = redirect_url.clone();
    let known = email.clone();
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        let resend = wants_resend();
        wants_resend.set(false);
        let email = if known.is_empty() {
            field(&evt, "email")
        } else {
            known.clone()
        };
        let code = field(&evt, "code").trim().to_owned();
        let redirect_url = Some(redirect.clone());
        let (path, body) = match (resend, purpose) {
            (true, _) => (
                purpose.resend(),
                serde_json::to_value(EmailRequest {
                    email: email.clone(),
                    redirect_url,
                }),
            ),
            (false, CodeFor::VerifyEmail) => (
                purpose.action(),
                serde_json::to_value(VerifyEmailRequest {
                    email: email.clone(),
                    code,
                    token: String::new(),
                    redirect_url,
                }),
            ),
            (false, CodeFor::SignIn) => (
                purpose.action(),
                serde_json::to_value(EmailCodeConfirmRequest {
                    email: email.clone(),
                    code,
                    redirect_url,
                }),
            ),
        };
        let body = body.unwrap_or_default();
        status.set(None);
        spawn(async move {
            // Pending until the state is refreshed and the step is done.
            match request::post(path, &body).await {
                Reply::Accepted(..) if resend => {
                    status.set(Some(format!("We sent a new code to {email}.")));
                }
                Reply::Session(snapshot, to) => {
                    auth.replace(*snapshot);
                    match on_done {
                        Some(done) => done.call(()),
                        None => go(&to),
                    }
                }
                Reply::Accepted(text, to) => {
                    verified(auth, status, text).await;
                    if let Some(done) = on_done {
                        done.call(());
                    } else if let Some(to) = to {
                        go(&to);
                    }
                }
                Reply::VerificationRequired(_) => {
                    form.fail(error_message("invalid_code").to_owned())
                }
                Reply::Failed(text) => form.fail(text),
            }
            form.settle();
        });
    };

    rsx! {
        form {
            id: "{p}-form",
            class: "auth-card auth-form",
            method: "post",
            action: purpose.action(),
            "aria-labelledby": "{p}-title",
            "aria-busy": "{pending}",
            onsubmit,
            h2 { id: "{p}-title", class: "auth-title", {purpose.title()} }
            if email.is_empty() {
                p { class: "auth-muted", "Enter your email address and the 8-digit code from the mail we sent you." }
            } else {
                p { id: "{p}-intro", class: "auth-muted",
                    "We sent an 8-digit code to "
                    strong { "{email}" }
                    "."
                }
            }
            ErrorLine { prefix: p.clone(), message: form.error() }
            StatusLine { prefix: p.clone(), message: status() }
            if email.is_empty() {
                EmailField { id: "{p}-email", label: "Email" }
            } else {
                input { r#type: "hidden", name: "email", value: "{email}" }
            }
            label { r#for: "{p}", class: "auth-label", "Code" }
            input {
                id: "{p}",
                class: "auth-input auth-code",
                name: "code",
                r#type: "text",
                inputmode: "numeric",
                autocomplete: "one-time-code",
                pattern: "[0-9]{{8}}",
                minlength: "8",
                maxlength: "8",
                "aria-describedby": "{p}-hint",
                required: true,
            }
            p { id: "{p}-hint", class: "auth-muted", "8 digits, valid for 15 minutes." }
            input { r#type: "hidden", name: "redirect_url", value: "{redirect_url}" }
            // The first submit button is the one Enter presses.
            SubmitButton {
                id: "{p}-submit",
                pending,
                idle: purpose.submit(),
                busy: "Checking…",
            }
            button {
                id: "{p}-resend",
                class: "auth-button auth-button-quiet",
                r#type: "submit",
                formaction: purpose.resend(),
                formnovalidate: true,
                disabled: pending,
                onclick: move |_| wants_resend.set(true),
                "Send a new code"
            }
            if let Some(back) = on_back {
                button {
                    id: "{p}-back",
                    class: "auth-button auth-button-quiet",
                    r#type: "button",
                    onclick: move |evt| back.call(evt),
                    "Back"
                }
            }
        }
    }
}

/// The page the verification mail links to (`VERIFY_EMAIL_PAGE`), and where a mailed code is
/// entered. With the link's `token` it shows one button that confirms the address (a button,
/// not an automatic post: mail scanners open links); without, the email (prefilled from
/// `email`) and the 8-digit code, and "Send a new code". Posts to `/auth/verify-email` (and
/// `/auth/verify-email/resend`), as a plain form before the wasm loads; when verification was
/// holding the session back, success signs in and goes to `redirect_url`.
///
/// ```no_run
/// use dioxus::prelude::*;
/// #[component]
/// fn VerifyPage(token: String, email: String) -> Element {
///     rsx! { auth_ui::VerifyEmail { token, email, redirect_url: "/dashboard" } }
/// }
/// ```
#[component]
pub fn VerifyEmail(
    #[props(default, into)] token: String,
    #[props(default, into)] email: String,
    #[props(default, into)] error: Option<String>,
    #[props(default = "/".to_string(), into)] redirect_url: String,
) -> Element {
    if token.is_empty() {
        return rsx! {
            CodeStep {
                prefix: "verify-email",
                purpose: CodeFor::VerifyEmail,
                email,
                redirect_url,
                error,
            }
        };
    }
    rsx! {
        VerifyLink { token, redirect_url }
    }
}

#[component]
fn VerifyLink(token: String, redirect_url: String) -> Element {
    let auth = use_auth();
    let p = "verify-email-link";
    let form = use_submission(p, || None);
    let status = use_signal(|| None::<String>);
    let pending = form.pending();

    let (token_for_submit, redirect) = (token.clone(), redirect_url.clone());
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        let body = serde_json::to_value(VerifyEmailRequest {
            token: token_for_submit.clone(),
            redirect_url: Some(redirect.clone()),
            ..VerifyEmailRequest::default()
        })
        .unwrap_or_default();
        spawn(async move {
            let reply = request::post(paths::VERIFY_EMAIL, &body).await;
            form.settle();
            match reply {
                Reply::Session(snapshot, to) => {
                    auth.replace(*snapshot);
                    go(&to);
                }
                Reply::Accepted(text, to) => {
                    verified(auth, status, text).await;
                    if let Some(to) = to {
                        go(&to);
                    }
                }
                Reply::VerificationRequired(_) => {
                    form.fail(error_message("invalid_token").to_owned())
                }
                Reply::Failed(text) => form.fail(text),
            }
        });
    };

    rsx! {
        form {
            id: "verify-email-link-form",
            class: "auth-card auth-form",
            method: "post",
            action: paths::VERIFY_EMAIL,
            "aria-labelledby": "verify-email-link-title",
            "aria-busy": "{pending}",
            onsubmit,
            h2 { id: "verify-email-link-title", class: "auth-title", "Verify your email" }
            p { class: "auth-muted", "Confirm that this address is yours." }
            ErrorLine { prefix: p, message: form.error() }
            StatusLine { prefix: p, message: status() }
            input { r#type: "hidden", name: "token", value: "{token}" }
            input { r#type: "hidden", name: "redirect_url", value: "{redirect_url}" }
            SubmitButton {
                id: "verify-email-link-submit",
                pending,
                idle: "Verify my email address",
                busy: "Verifying…",
            }
            p { class: "auth-muted",
                a { href: paths::VERIFY_EMAIL_PAGE, "Enter a code instead" }
            }
        }
    }
}
