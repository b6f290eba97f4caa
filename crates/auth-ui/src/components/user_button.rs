//! `UserButton`: the avatar with the account menu.

use crate::hooks::{go, use_auth, use_user};
use auth_types::contract::paths;
use dioxus::prelude::*;

/// The signed-in user's avatar (initials) with a menu: name, email, "Manage account" and "Sign
/// out" (Clerk's `<UserButton>`). Renders nothing when signed out. The menu closes on Escape;
/// "Sign out" is a real form (POST `/auth/sign-out`), so it also works before the wasm loads.
///
/// After signing out the page stays where it is (protected content re-renders as signed out)
/// unless `after_sign_out_url` is given.
///
/// ```no_run
/// use dioxus::prelude::*;
/// fn Header() -> Element {
///     rsx! { auth_ui::UserButton { manage_account_url: "/profile" } }
/// }
/// ```
#[component]
pub fn UserButton(
    #[props(default = "/profile".to_string(), into)] manage_account_url: String,
    #[props(default, into)] after_sign_out_url: Option<String>,
) -> Element {
    let auth = use_auth();
    let info = use_user();
    let mut open = use_signal(|| false);
    let mut failure = use_signal(|| None::<String>);
    if !info.is_signed_in {
        return rsx! {};
    }
    let (name, email, initials) = match &info.user {
        Some(user) => (user.name.clone(), user.email.clone(), user.initials()),
        None => ("Account".to_owned(), String::new(), "?".to_owned()),
    };
    let display = if name.is_empty() {
        email.clone()
    } else {
        name.clone()
    };
    let redirect = after_sign_out_url.clone().unwrap_or_else(|| "/".to_owned());

    let sign_out = move |evt: FormEvent| {
        evt.prevent_default();
        let after = after_sign_out_url.clone();
        spawn(async move {
            match auth.sign_out().await {
                Ok(()) => {
                    if let Some(url) = after {
                        go(&url);
                    }
                }
                Err(e) => failure.set(Some(e.to_string())),
            }
        });
    };

    rsx! {
        div {
            class: "auth-user-button",
            onkeydown: move |evt: KeyboardEvent| {
                if evt.key() == Key::Escape {
                    open.set(false);
                }
            },
            button {
                id: "auth-user-button",
                class: "auth-avatar",
                r#type: "button",
                "aria-haspopup": "menu",
                "aria-expanded": "{open}",
                "aria-controls": "auth-user-menu",
                "aria-label": "Open the account menu of {display}",
                onclick: move |_| open.toggle(),
                "{initials}"
            }
            if open() {
                div { id: "auth-user-menu", class: "auth-menu", role: "menu",
                    div { class: "auth-menu-head",
                        p { id: "auth-user-name", class: "auth-strong", "{display}" }
                        p { id: "auth-user-email", class: "auth-muted", "{email}" }
                    }
                    a {
                        id: "auth-manage-account",
                        class: "auth-menu-item",
                        role: "menuitem",
                        href: "{manage_account_url}",
                        onclick: move |_| open.set(false),
                        "Manage account"
                    }
                    form {
                        method: "post",
                        action: paths::SIGN_OUT,
                        onsubmit: sign_out,
                        input { r#type: "hidden", name: "redirect_url", value: "{redirect}" }
                        button {
                            id: "auth-sign-out",
                            class: "auth-menu-item",
                            role: "menuitem",
                            r#type: "submit",
                            "Sign out"
                        }
                    }
                    if let Some(text) = failure() {
                        p { class: "auth-error", role: "alert", "{text}" }
                    }
                }
            }
        }
    }
}
