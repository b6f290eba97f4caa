//! What the account forms share: the submission state (pending, the error line and the focus
//! moved to it) and the markup pieces that must read the same in every form — the error and
//! status lines, the password and email fields, the submit button with its pending label.
//!
//! A form whose id prefix is fixed spells its ids out in its markup (`"forgot-password-form"`,
//! not `"{p}-form"`): a literal attribute is part of the static template, a formatted one is code
//! in the wasm. Only the pieces here, shared by every form, build theirs from the prefix.

use super::request::Reply;
use crate::client;
use dioxus::prelude::*;

/// A form's submission: whether one is pending, and the error shown on the line
/// `{prefix}-error` (see [`ErrorLine`]).
#[derive(Clone, Copy)]
pub(crate) struct Submission {
    pending: Signal<bool>,
    error: Signal<Option<String>>,
    error_id: Signal<String>,
}

/// The submission state of the form whose ids start with `prefix`; `initial` is the error to
/// show on the first render (a plain post's `?error=`).
pub(crate) fn use_submission(prefix: &str, initial: impl FnOnce() -> Option<String>) -> Submission {
    let error_id = format!("{prefix}-error");
    Submission {
        pending: use_signal(|| false),
        error: use_signal(initial),
        error_id: use_signal(|| error_id),
    }
}

impl Submission {
    pub(crate) fn pending(self) -> bool {
        (self.pending)()
    }

    pub(crate) fn error(self) -> Option<String> {
        (self.error)()
    }

    /// Starts a submission: pending, the last error cleared. `false` while one is pending
    /// (a double submit).
    pub(crate) fn start(mut self) -> bool {
        if self.pending() {
            return false;
        }
        self.pending.set(true);
        self.error.set(None);
        true
    }

    /// Shows `text` on the error line and moves the focus there (screen readers announce it).
    pub(crate) fn fail(mut self, text: String) {
        self.error.set(Some(text));
        client::focus(&self.error_id.read());
    }

    /// Ends the submission (the form can be sent again).
    pub(crate) fn settle(mut self) {
        self.pending.set(false);
    }

    /// Ends the submission with the provider's answer: a failure is shown ([`Self::fail`]),
    /// anything else is the caller's to handle.
    pub(crate) fn finish(self, reply: Reply) -> Option<Reply> {
        self.settle();
        match reply {
            Reply::Failed(text) => {
                self.fail(text);
                None
            }
            reply => Some(reply),
        }
    }
}

/// The error line `{prefix}-error`: announced when it changes, focusable so a failed submit
/// can move the focus to it.
#[component]
pub(crate) fn ErrorLine(prefix: String, message: Option<String>) -> Element {
    rsx! {
        div {
            id: "{prefix}-error",
            class: "auth-error",
            role: "alert",
            "aria-live": "assertive",
            tabindex: "-1",
            if let Some(text) = message { "{text}" }
        }
    }
}

/// The status line `{prefix}-status`, announced politely.
#[component]
pub(crate) fn StatusLine(prefix: String, message: Option<String>) -> Element {
    rsx! {
        p { id: "{prefix}-status", class: "auth-muted", role: "status", "aria-live": "polite",
            if let Some(text) = message { "{text}" }
        }
    }
}

/// An email field (`name="email"`) with its label.
#[component]
pub(crate) fn EmailField(id: String, label: String) -> Element {
    rsx! {
        label { r#for: "{id}", class: "auth-label", "{label}" }
        input {
            id: "{id}",
            class: "auth-input",
            name: "email",
            r#type: "email",
            autocomplete: "email",
            required: true,
        }
    }
}

/// The account's current password (`name="password"` unless `name` says otherwise) with its
/// label.
#[component]
pub(crate) fn CurrentPasswordField(
    id: String,
    label: String,
    #[props(default = "password".to_string())] name: String,
) -> Element {
    rsx! {
        label { r#for: "{id}", class: "auth-label", "{label}" }
        input {
            id: "{id}",
            class: "auth-input",
            name: "{name}",
            r#type: "password",
            autocomplete: "current-password",
            required: true,
        }
    }
}

/// A new password (`name="new_password"`, id `{prefix}-new`) with the policy's hint
/// (`{prefix}-hint`). No `maxlength`: it counts UTF-16 units, not characters, and silently cuts
/// a pasted password; the server states the limit instead.
#[component]
pub(crate) fn NewPasswordField(prefix: String, hint: String) -> Element {
    rsx! {
        label { r#for: "{prefix}-new", class: "auth-label", "New password" }
        input {
            id: "{prefix}-new",
            class: "auth-input",
            name: "new_password",
            r#type: "password",
            autocomplete: "new-password",
            minlength: "8",
            "aria-describedby": "{prefix}-hint",
            required: true,
        }
        p { id: "{prefix}-hint", class: "auth-muted", "{hint}" }
    }
}

/// The submit button: disabled while `pending`, its label then `busy` instead of `idle`.
#[component]
pub(crate) fn SubmitButton(
    id: String,
    pending: bool,
    idle: String,
    busy: String,
    #[props(default = "auth-button".to_string())] class: String,
) -> Element {
    rsx! {
        button { id: "{id}", class: "{class}", r#type: "submit", disabled: pending,
            if pending { "{busy}" } else { "{idle}" }
        }
    }
}
