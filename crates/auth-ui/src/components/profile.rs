//! `UserProfile`: change the name, sign out of every session.

use crate::hooks::{go, use_auth, use_user};
use crate::state::AuthSnapshot;
use auth_types::contract::paths;
use dioxus::prelude::*;

/// The account page (Clerk's `<UserProfile>`): the user's avatar, name and email, a form to
/// change the name (server function [`update_name`](crate::update_name)), and "Sign out of all
/// sessions" (POST `/auth/sign-out-all`, also a plain form before the wasm loads).
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
) -> Element {
    let auth = use_auth();
    let info = use_user();
    let mut status = use_signal(|| None::<String>);
    let mut pending = use_signal(|| false);
    let Some(user) = info.user else {
        return rsx! {
            p { class: "auth-muted", "Sign in to manage your account." }
        };
    };

    let save = move |evt: FormEvent| {
        evt.prevent_default();
        let name = match evt.get_first("name") {
            Some(FormValue::Text(text)) => text,
            _ => String::new(),
        };
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
                    p { id: "auth-profile-email", class: "auth-muted", "{user.email}" }
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
                button {
                    id: "auth-profile-save",
                    class: "auth-button",
                    r#type: "submit",
                    disabled: pending(),
                    if pending() { "Saving…" } else { "Save" }
                }
            }
            p { id: "auth-profile-status", class: "auth-muted", role: "status", "aria-live": "polite",
                if let Some(text) = status() { "{text}" }
            }
            form {
                method: "post",
                action: paths::SIGN_OUT_ALL,
                onsubmit: sign_out_all,
                input { r#type: "hidden", name: "redirect_url", value: "{after_sign_out_url}" }
                button { id: "auth-sign-out-all", class: "auth-button auth-button-secondary", r#type: "submit",
                    "Sign out of all sessions"
                }
            }
        }
    }
}
