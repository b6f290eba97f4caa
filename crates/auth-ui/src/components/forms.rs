//! Prebuilt `SignIn` and `SignUp`: real HTML forms that post to the identity provider before the
//! wasm loads, and submit with `fetch` (inline errors, pending state, focus) after hydration.

use crate::client::{self, Outcome};
use crate::hooks::{go, use_auth};
use auth_types::contract::{SignInRequest, SignUpRequest, paths};
use dioxus::prelude::*;

/// The message for an `?error=<code>` the identity provider sends a plain form post back with.
///
/// ```
/// assert_eq!(auth_ui::error_message("invalid_credentials"), "Invalid email or password");
/// assert!(auth_ui::error_message("common_password").contains("too common"));
/// assert!(auth_ui::error_message("invalid_password").contains("128"));
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
            | FormError::RateLimited),
        ) => e.message(),
        Some(FormError::Unavailable) => "Service unavailable, try again later",
        _ => "Something went wrong, try again",
    }
}

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

/// The prebuilt sign-in form (Clerk's `<SignIn>`). Works before the wasm loads (plain POST to
/// `/auth/sign-in`, errors come back as `?error=`); after hydration it submits with `fetch`,
/// shows errors inline (announced by `aria-live`), disables the button while pending, moves
/// focus to the error, and on success updates every hook and navigates to `redirect_url`.
///
/// `redirect_url` and `error` are usually the page's query parameters.
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
    #[props(default = "/sign-up".to_string(), into)] sign_up_url: String,
) -> Element {
    rsx! {
        AuthForm {
            mode: Mode::SignIn,
            redirect_url,
            error,
            other_url: sign_up_url,
        }
    }
}

/// The prebuilt sign-up form (Clerk's `<SignUp>`): name, email, new password. Same behaviour as
/// [`SignIn`], posting to `/auth/sign-up`.
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
    #[props(default = "/sign-in".to_string(), into)] sign_in_url: String,
) -> Element {
    rsx! {
        AuthForm {
            mode: Mode::SignUp,
            redirect_url,
            error,
            other_url: sign_in_url,
        }
    }
}

fn text_value(evt: &FormEvent, name: &str) -> String {
    match evt.get_first(name) {
        Some(FormValue::Text(text)) => text,
        _ => String::new(),
    }
}

#[component]
fn AuthForm(
    mode: Mode,
    redirect_url: Option<String>,
    error: Option<String>,
    other_url: String,
) -> Element {
    let auth = use_auth();
    let mut pending = use_signal(|| false);
    let mut message = use_signal(|| error.as_deref().map(|code| error_message(code).to_owned()));
    let redirect = redirect_url.unwrap_or_else(|| "/".to_owned());
    let p = mode.prefix();
    let error_id = format!("{p}-error");

    let redirect_for_submit = redirect.clone();
    let focus_id = error_id.clone();
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if pending() {
            return;
        }
        // The contract's request types: the field names cannot drift from the provider's.
        let (email, password) = (text_value(&evt, "email"), text_value(&evt, "password"));
        let redirect_url = Some(redirect_for_submit.clone());
        let body = match mode {
            Mode::SignIn => serde_json::to_value(SignInRequest {
                email,
                password,
                redirect_url,
            }),
            Mode::SignUp => serde_json::to_value(SignUpRequest {
                email,
                password,
                name: text_value(&evt, "name"),
                redirect_url,
            }),
        }
        .unwrap_or_default();
        let focus_id = focus_id.clone();
        pending.set(true);
        message.set(None);
        spawn(async move {
            let outcome = client::submit(mode.endpoint(), &body).await;
            pending.set(false);
            match outcome {
                Outcome::SignedIn(snapshot, to) => {
                    auth.replace(*snapshot);
                    go(&to);
                }
                Outcome::Failed(text) => {
                    message.set(Some(text));
                    client::focus(&focus_id);
                }
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
            div {
                id: "{error_id}",
                class: "auth-error",
                role: "alert",
                "aria-live": "assertive",
                tabindex: "-1",
                if let Some(text) = message() {
                    "{text}"
                }
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
                required: true,
            }
            label { r#for: "{p}-password", class: "auth-label", "Password" }
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
            button {
                id: "{p}-submit",
                class: "auth-button",
                r#type: "submit",
                disabled: pending(),
                if pending() {
                    {mode.pending()}
                } else {
                    {mode.submit()}
                }
            }
            p { class: "auth-muted", {other} }
        }
    }
}
