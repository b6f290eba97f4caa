//! Prebuilt `SignIn` and `SignUp`: real HTML forms that post to the identity provider before the
//! wasm loads, and submit with `fetch` (inline errors, pending state, focus) after hydration.
//! When the provider holds the session back until the address is verified, or the visitor asks
//! for a sign-in code, the same card asks for the mailed code in place (`verify::CodeStep`).
//! Above the email form: "Continue with …" per sign-in provider (`social::SocialSignIn`).

use super::fields::{ErrorLine, SubmitButton, use_submission};
use super::request::{self, Reply, field};
use super::social::SocialSignIn;
use super::verify::{CodeFor, CodeStep};
use crate::hooks::{go, use_auth};
use auth_types::contract::{EmailRequest, SignInRequest, SignUpRequest, paths};
use dioxus::prelude::*;

/// The message for an `?error=<code>` the identity provider sends a plain form post back with.
///
/// ```
/// assert_eq!(auth_ui::error_message("invalid_credentials"), "Invalid email or password");
/// assert!(auth_ui::error_message("common_password").contains("too common"));
/// assert!(auth_ui::error_message("invalid_password").contains("128"));
/// assert!(auth_ui::error_message("code_locked").contains("new one"));
/// assert!(auth_ui::error_message("oauth_denied").contains("cancelled"));
/// ```
pub fn error_message(code: &str) -> &'static str {
    use auth_types::contract::FormError;
    match FormError::from_code(code) {
        Some(
            e @ (FormError::InvalidCredentials
            | FormError::InvalidEmail
            | FormError::InvalidPassword
            | FormError::InvalidName
            | FormError::EmailTaken
            | FormError::CommonPassword
            | FormError::BreachedPassword
            | FormError::RateLimited
            | FormError::InvalidCode
            | FormError::InvalidToken
            | FormError::CodeLocked
            | FormError::VerificationRequired
            | FormError::WrongPassword
            | FormError::Disabled
            | FormError::OAuthDenied
            | FormError::OAuthState
            | FormError::OAuthFailed
            | FormError::OAuthUnavailable
            | FormError::OAuthUnverifiedEmail
            | FormError::AccountExists
            | FormError::IdentityTaken
            | FormError::LastSignInMethod),
        ) => e.message(),
        Some(FormError::Unavailable) => "Service unavailable, try again later",
        Some(FormError::Unauthorized) => "Your session has ended, sign in again",
        _ => FALLBACK_MESSAGE,
    }
}

/// What [`error_message`] says for a code it has no message for.
pub(crate) const FALLBACK_MESSAGE: &str = "Something went wrong, try again";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    SignIn,
    SignUp,
}

impl Mode {
    fn prefix(self) -> &'static str {
        match self {
            Mode::SignIn => "sign-in",
            Mode::SignUp => "sign-up",
        }
    }
    fn endpoint(self) -> &'static str {
        match self {
            Mode::SignIn => paths::SIGN_IN,
            Mode::SignUp => paths::SIGN_UP,
        }
    }
    fn title(self) -> &'static str {
        match self {
            Mode::SignIn => "Sign in",
            Mode::SignUp => "Create your account",
        }
    }
    fn submit(self) -> &'static str {
        match self {
            Mode::SignIn => "Sign in",
            Mode::SignUp => "Sign up",
        }
    }
    fn pending(self) -> &'static str {
        match self {
            Mode::SignIn => "Signing in…",
            Mode::SignUp => "Creating account…",
        }
    }
}

/// Where the card is: the password form, or a mailed code to enter for this address.
#[derive(Clone, PartialEq, Debug)]
enum Step {
    Password,
    Code(CodeFor, String),
}

/// The prebuilt sign-in form (Clerk's `<SignIn>`). Works before the wasm loads (plain POST to
/// `/auth/sign-in`, errors come back as `?error=`); after hydration it submits with `fetch`,
/// shows errors inline (announced by `aria-live`), disables the button while pending, moves
/// focus to the error, and on success updates every hook and navigates to `redirect_url`.
///
/// `redirect_url`, `error` and `email` are usually the page's query parameters. An `error` of
/// `verification_required` with the `email` (the provider's answer when
/// `AUTH_EMAIL_VERIFICATION=required` and the address is unverified) opens the card on the code
/// entry. `email_code: true` (the provider's `AUTH_EMAIL_CODE_SIGN_IN=on`) adds "Email me a
/// code"; `code_sent: true` with the `email` (the provider's answer to a plain form asking for
/// one) opens the card on that code's entry. "Forgot password?" links to `forgot_password_url`.
///
/// Above the email form, one "Continue with {name}" link per sign-in provider the backend offers
/// (`AUTH_OAUTH_PROVIDERS`; server-rendered, plain links to `/auth/oauth/{provider}` carrying
/// `redirect_url`), then an "or" divider; `social: false` hides them. A failed provider sign-in
/// comes back as `?error=` (`oauth_denied`, `account_exists`, …) and shows like a form error.
///
/// ```no_run
/// use dioxus::prelude::*;
/// #[component]
/// fn SignInPage(redirect_url: String, error: String) -> Element {
///     rsx! {
///         auth_ui::SignIn {
///             redirect_url: (!redirect_url.is_empty()).then_some(redirect_url),
///             error: (!error.is_empty()).then_some(error),
///         }
///     }
/// }
/// ```
#[component]
pub fn SignIn(
    #[props(default, into)] redirect_url: Option<String>,
    #[props(default, into)] error: Option<String>,
    #[props(default, into)] email: Option<String>,
    #[props(default = "/sign-up".to_string(), into)] sign_up_url: String,
    #[props(default = paths::FORGOT_PASSWORD_PAGE.to_string(), into)] forgot_password_url: String,
    #[props(default)] email_code: bool,
    #[props(default)] code_sent: bool,
    #[props(default = true)] social: bool,
) -> Element {
    rsx! {
        AuthForm {
            mode: Mode::SignIn,
            redirect_url,
            error,
            email,
            other_url: sign_up_url,
            forgot_password_url,
            email_code,
            code_sent,
            social,
        }
    }
}

/// The prebuilt sign-up form (Clerk's `<SignUp>`): name, email, new password. Same behaviour as
/// [`SignIn`], posting to `/auth/sign-up`; asks for the mailed code in place when the provider
/// requires a verified address before the first session. The same "Continue with …" links
/// (`social: false` hides them): a provider's first sign-in creates the account.
///
/// ```no_run
/// use dioxus::prelude::*;
/// fn SignUpPage() -> Element {
///     rsx! { auth_ui::SignUp { redirect_url: "/dashboard".to_string() } }
/// }
/// ```
#[component]
pub fn SignUp(
    #[props(default, into)] redirect_url: Option<String>,
    #[props(default, into)] error: Option<String>,
    #[props(default, into)] email: Option<String>,
    #[props(default = "/sign-in".to_string(), into)] sign_in_url: String,
    #[props(default = true)] social: bool,
) -> Element {
    rsx! {
        AuthForm {
            mode: Mode::SignUp,
            redirect_url,
            error,
            email,
            other_url: sign_in_url,
            forgot_password_url: String::new(),
            email_code: false,
            code_sent: false,
            social,
        }
    }
}

#[component]
fn AuthForm(
    mode: Mode,
    redirect_url: Option<String>,
    error: Option<String>,
    email: Option<String>,
    other_url: String,
    forgot_password_url: String,
    email_code: bool,
    code_sent: bool,
    social: bool,
) -> Element {
    let auth = use_auth();
    let redirect = redirect_url.unwrap_or_else(|| "/".to_owned());
    let known_email = email.clone().unwrap_or_default();
    // Held back until the address is verified: ask for the code (and the address, if the
    // redirect did not carry it).
    let held_back = error.as_deref() == Some("verification_required");
    let mut step = use_signal(|| {
        if held_back {
            Step::Code(CodeFor::VerifyEmail, known_email.clone())
        } else if code_sent && !known_email.is_empty() {
            Step::Code(CodeFor::SignIn, known_email.clone())
        } else {
            Step::Password
        }
    });
    let p = mode.prefix();
    let form = use_submission(p, || {
        error
            .as_deref()
            .filter(|_| !held_back)
            .map(|code| error_message(code).to_owned())
    });
    // Set by the "Email me a code" button's click, which comes before the form's submit event.
    let mut wants_code = use_signal(|| false);
    let pending = form.pending();

    if let Step::Code(purpose, address) = step() {
        let back = move |_| step.set(Step::Password);
        return rsx! {
            CodeStep {
                prefix: p,
                purpose,
                email: address,
                redirect_url: redirect,
                error: None,
                on_back: back,
            }
        };
    }

    let redirect_for_submit = redirect.clone();
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        let code_requested = wants_code() && mode == Mode::SignIn;
        wants_code.set(false);
        // The contract's request types: the field names cannot drift from the provider's.
        let (email, password) = (field(&evt, "email"), field(&evt, "password"));
        let redirect_url = Some(redirect_for_submit.clone());
        let (path, body) = if code_requested {
            let body = serde_json::to_value(EmailRequest {
                email: email.clone(),
                redirect_url,
            });
            (paths::EMAIL_CODE, body)
        } else {
            let body = match mode {
                Mode::SignIn => serde_json::to_value(SignInRequest {
                    email: email.clone(),
                    password,
                    redirect_url,
                }),
                Mode::SignUp => serde_json::to_value(SignUpRequest {
                    email: email.clone(),
                    password,
                    name: field(&evt, "name"),
                    redirect_url,
                }),
            };
            (mode.endpoint(), body)
        };
        let body = body.unwrap_or_default();
        spawn(async move {
            let reply = request::post(path, &body).await;
            form.settle();
            match reply {
                Reply::Session(snapshot, to) => {
                    auth.replace(*snapshot);
                    go(&to);
                }
                Reply::VerificationRequired(address) => {
                    let address = if address.is_empty() { email } else { address };
                    step.set(Step::Code(CodeFor::VerifyEmail, address));
                }
                Reply::Accepted(..) if code_requested => {
                    step.set(Step::Code(CodeFor::SignIn, email));
                }
                Reply::Accepted(..) => form.fail("Unexpected answer from the server.".to_owned()),
                Reply::Failed(text) => form.fail(text),
            }
        });
    };

    let other = if mode == Mode::SignIn {
        rsx! {
            "No account? "
            a { href: "{other_url}", "Sign up" }
        }
    } else {
        rsx! {
            "Already have an account? "
            a { href: "{other_url}", "Sign in" }
        }
    };

    rsx! {
        form {
            id: "{p}-form",
            class: "auth-card auth-form",
            method: "post",
            action: mode.endpoint(),
            "aria-labelledby": "{p}-title",
            "aria-busy": "{pending}",
            onsubmit,
            h2 { id: "{p}-title", class: "auth-title", {mode.title()} }
            ErrorLine { prefix: p, message: form.error() }
            if social {
                SocialSignIn { prefix: p, redirect_url: redirect.clone() }
            }
            if mode == Mode::SignUp {
                label { r#for: "{p}-name", class: "auth-label", "Name" }
                input {
                    id: "{p}-name",
                    class: "auth-input",
                    name: "name",
                    r#type: "text",
                    autocomplete: "name",
                    maxlength: "200",
                }
            }
            label { r#for: "{p}-email", class: "auth-label", "Email" }
            input {
                id: "{p}-email",
                class: "auth-input",
                name: "email",
                r#type: "email",
                autocomplete: "email",
                value: "{known_email}",
                required: true,
            }
            div { class: "auth-row",
                label { r#for: "{p}-password", class: "auth-label", "Password" }
                if mode == Mode::SignIn && !forgot_password_url.is_empty() {
                    a {
                        id: "{p}-forgot",
                        class: "auth-link-small",
                        href: "{forgot_password_url}",
                        "Forgot password?"
                    }
                }
            }
            input {
                id: "{p}-password",
                class: "auth-input",
                name: "password",
                r#type: "password",
                autocomplete: if mode == Mode::SignUp { "new-password" } else { "current-password" },
                minlength: if mode == Mode::SignUp { "8" } else { "1" },
                // No `maxlength`: it counts UTF-16 units, not characters, and silently cuts a
                // pasted password; the server states the limit instead.
                "aria-describedby": if mode == Mode::SignUp { "{p}-password-hint" },
                required: true,
            }
            if mode == Mode::SignUp {
                p { id: "{p}-password-hint", class: "auth-muted",
                    "8 to 128 characters; common passwords are refused."
                }
            }
            input { r#type: "hidden", name: "redirect_url", value: "{redirect}" }
            SubmitButton {
                id: "{p}-submit",
                pending,
                idle: mode.submit(),
                busy: mode.pending(),
            }
            if mode == Mode::SignIn && email_code {
                // Before the wasm loads this posts the same form (its email) to the code
                // endpoint; `formnovalidate`: no password needed for a code.
                button {
                    id: "{p}-email-code",
                    class: "auth-button auth-button-quiet",
                    r#type: "submit",
                    formaction: paths::EMAIL_CODE,
                    formnovalidate: true,
                    disabled: pending,
                    onclick: move |_| wants_code.set(true),
                    "Email me a code"
                }
            }
            p { class: "auth-muted", {other} }
        }
    }
}
