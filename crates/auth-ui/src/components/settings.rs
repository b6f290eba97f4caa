//! The account-settings sections of `UserProfile`: change (or set) password, change email
//! (verified by the code mailed to the new address), active sessions, delete account. Each is a plain form
//! post before the wasm loads and a `fetch` with inline errors after, like the other forms.

use super::connections::use_has_password;
use super::fields::{
    CurrentPasswordField, EmailField, ErrorLine, NewPasswordField, StatusLine, SubmitButton,
    use_submission,
};
use super::request::{self, Reply, field};
use super::verify::{CodeFor, CodeStep};
use crate::hooks::{go, use_auth};
use crate::seed::use_seed;
use crate::server::load_sessions;
use crate::state::AuthSnapshot;
use auth_types::contract::{
    ChangeEmailRequest, ChangePasswordRequest, PasswordRequest, SessionInfo, SessionsResponse,
    SignOutRequest, paths,
};
use dioxus::prelude::*;

/// Change password: the current one and a new one (`POST /auth/password`). The provider signs
/// the other devices out and mails a notice. An account without a password (created by a
/// sign-in provider) gets "Set a password" instead: no current password, which the provider
/// then takes as empty. `on_changed` runs after a success (the sign-in methods changed).
#[component]
pub(crate) fn ChangePassword(
    return_url: String,
    has_password: bool,
    on_changed: EventHandler<()>,
) -> Element {
    let auth = use_auth();
    let p = "auth-password";
    let form = use_submission(p, || None);
    let mut status = use_signal(|| None::<String>);
    let pending = form.pending();

    let redirect = return_url.clone();
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        status.set(None);
        let body = serde_json::to_value(ChangePasswordRequest {
            current_password: field(&evt, "current_password"),
            new_password: field(&evt, "new_password"),
            redirect_url: Some(redirect.clone()),
        })
        .unwrap_or_default();
        spawn(async move {
            let Some(reply) = form.finish(request::post(paths::PASSWORD, &body).await) else {
                return;
            };
            // A fresh session for this device, when the provider re-issued it.
            if let Reply::Session(snapshot, _) = reply {
                auth.replace(*snapshot);
            }
            status.set(Some(if has_password {
                "Password changed. Your other devices were signed out.".to_owned()
            } else {
                "Password set. You can now sign in with your email and password.".to_owned()
            }));
            on_changed.call(());
        });
    };

    let (title, idle, busy) = if has_password {
        ("Change password", "Change password", "Changing…")
    } else {
        ("Set a password", "Set password", "Saving…")
    };

    rsx! {
        form {
            id: "auth-password-form",
            class: "auth-form auth-section",
            method: "post",
            action: paths::PASSWORD,
            "aria-labelledby": "auth-password-title",
            "aria-busy": "{pending}",
            onsubmit,
            h3 { id: "auth-password-title", class: "auth-subtitle", {title} }
            ErrorLine { prefix: p, message: form.error() }
            StatusLine { prefix: p, message: status() }
            if has_password {
                CurrentPasswordField {
                    id: "auth-password-current",
                    label: "Current password",
                    name: "current_password",
                }
            } else {
                p { id: "auth-password-none", class: "auth-muted",
                    "Your account has no password yet: you sign in through a connected account."
                }
            }
            NewPasswordField { prefix: p, hint: "8 to 128 characters; your other devices will be signed out." }
            input { r#type: "hidden", name: "redirect_url", value: "{return_url}" }
            SubmitButton {
                id: "auth-password-submit",
                pending,
                idle: "{idle}",
                busy: "{busy}",
            }
        }
    }
}

/// Change email: the new address and the password (`POST /auth/email`); the provider mails a
/// code to the new address, asked for here in place, and the address changes once it is
/// verified (the old one gets a notice).
#[component]
pub(crate) fn ChangeEmail(return_url: String) -> Element {
    let has_password = use_has_password();
    let p = "auth-email";
    let form = use_submission(p, || None);
    let mut status = use_signal(|| None::<String>);
    // The new address, once the provider accepted it: the code step.
    let mut awaiting = use_signal(|| None::<String>);
    let pending = form.pending();

    if let Some(address) = awaiting() {
        let done_address = address.clone();
        return rsx! {
            div { class: "auth-section",
                CodeStep {
                    prefix: p,
                    purpose: CodeFor::VerifyEmail,
                    email: address,
                    redirect_url: return_url,
                    error: None,
                    on_back: move |_| awaiting.set(None),
                    on_done: move |()| {
                        awaiting.set(None);
                        status.set(Some(format!("Your email address is now {done_address}.")));
                    },
                }
            }
        };
    }

    let redirect = return_url.clone();
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        status.set(None);
        let email = field(&evt, "email");
        let body = serde_json::to_value(ChangeEmailRequest {
            email: email.clone(),
            password: field(&evt, "password"),
            redirect_url: Some(redirect.clone()),
        })
        .unwrap_or_default();
        spawn(async move {
            if form
                .finish(request::post(paths::EMAIL, &body).await)
                .is_some()
            {
                awaiting.set(Some(email));
            }
        });
    };

    rsx! {
        form {
            id: "auth-email-form",
            class: "auth-form auth-section",
            method: "post",
            action: paths::EMAIL,
            "aria-labelledby": "auth-email-title",
            "aria-busy": "{pending}",
            onsubmit,
            h3 { id: "auth-email-title", class: "auth-subtitle", "Change email" }
            ErrorLine { prefix: p, message: form.error() }
            StatusLine { prefix: p, message: status() }
            EmailField { id: "auth-email-new", label: "New email" }
            if has_password {
                CurrentPasswordField { id: "auth-email-password", label: "Password" }
            }
            p { class: "auth-muted", "We mail a code to the new address; it replaces the current one once verified." }
            input { r#type: "hidden", name: "redirect_url", value: "{return_url}" }
            SubmitButton {
                id: "auth-email-submit",
                pending,
                idle: "Change email",
                busy: "Sending code…",
            }
        }
    }
}

/// `2026-12-06 11:40 UTC` for Unix seconds (the proleptic Gregorian calendar, no time zone
/// database: the same text on the server and in the browser).
pub(crate) fn utc(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3_600,
        rest % 3_600 / 60
    )
}

/// Active sessions (`GET /auth/sessions`, server-rendered): device, created, last active,
/// this device marked; "Revoke" per other session (`DELETE /auth/sessions/{id}`, a form post to
/// `/auth/sessions/{id}/revoke` before the wasm loads) and "Sign out all other devices".
///
/// The server renders the list (so each row's revoke form works before the wasm loads); the
/// browser hydrates from it and then keeps it fresh. After an in-app navigation it loads it.
#[component]
pub(crate) fn ActiveSessions(return_url: String) -> Element {
    let seeded = use_seed::<Vec<SessionInfo>>(|request| Box::pin(load_sessions(request)))?;
    rsx! {
        SessionList { return_url, seeded }
    }
}

#[component]
fn SessionList(return_url: String, seeded: Option<Vec<SessionInfo>>) -> Element {
    let mut version = use_signal(|| 0_u32);
    // The server's list, or `None` until the browser has loaded one.
    let mut sessions = use_signal(move || seeded.map(Ok::<_, String>));
    let p = "auth-sessions";
    let form = use_submission(p, || None);
    let mut status = use_signal(|| None::<String>);
    let pending = form.pending();

    use_effect(move || {
        let _reload = version();
        spawn(async move {
            let loaded = request::get::<SessionsResponse>(paths::SESSIONS)
                .await
                .map(|answer| answer.sessions);
            sessions.set(Some(loaded));
        });
    });

    let mut revoke = move |id: String, device: String| {
        if !form.start() {
            return;
        }
        status.set(None);
        spawn(async move {
            let path = paths::SESSION_BY_ID.replace("{id}", &id);
            if form.finish(request::delete(&path).await).is_some() {
                status.set(Some(format!("Signed out {device}.")));
            }
            version += 1;
        });
    };

    let redirect = return_url.clone();
    let revoke_others = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        status.set(None);
        let body = SignOutRequest {
            redirect_url: Some(redirect.clone()),
        };
        spawn(async move {
            let reply = request::post(paths::SESSIONS_REVOKE_OTHERS, &body).await;
            if form.finish(reply).is_some() {
                status.set(Some("Your other devices were signed out.".to_owned()));
            }
            version += 1;
        });
    };

    let list = match sessions() {
        None => rsx! {
            p { id: "auth-sessions-loading", class: "auth-muted", "Loading your sessions…" }
        },
        Some(Err(text)) => rsx! {
            p { id: "auth-sessions-load-error", class: "auth-error", "{text}" }
        },
        Some(Ok(rows)) => rsx! {
            table { id: "auth-sessions-table", class: "auth-table",
                thead {
                    tr {
                        th { scope: "col", "Device" }
                        th { scope: "col", "Signed in" }
                        th { scope: "col", "Last active" }
                        th { scope: "col", span { class: "auth-visually-hidden", "Action" } }
                    }
                }
                tbody {
                    for row in rows {
                        SessionRow {
                            key: "{row.id}",
                            row: row.clone(),
                            return_url: return_url.clone(),
                            pending,
                            on_revoke: move |(id, device)| revoke(id, device),
                        }
                    }
                }
            }
        },
    };

    rsx! {
        section { id: "auth-sessions", class: "auth-section", "aria-labelledby": "auth-sessions-title",
            h3 { id: "auth-sessions-title", class: "auth-subtitle", "Active sessions" }
            ErrorLine { prefix: p, message: form.error() }
            StatusLine { prefix: p, message: status() }
            {list}
            form {
                id: "auth-sessions-revoke-others",
                method: "post",
                action: paths::SESSIONS_REVOKE_OTHERS,
                onsubmit: revoke_others,
                input { r#type: "hidden", name: "redirect_url", value: "{return_url}" }
                button {
                    id: "auth-sessions-revoke-others-submit",
                    class: "auth-button auth-button-secondary",
                    r#type: "submit",
                    disabled: pending,
                    "Sign out all other devices"
                }
            }
        }
    }
}

#[component]
fn SessionRow(
    row: SessionInfo,
    return_url: String,
    pending: bool,
    on_revoke: EventHandler<(String, String)>,
) -> Element {
    let action = paths::SESSION_REVOKE.replace("{id}", &row.id);
    let (id, device) = (row.id.clone(), row.device.clone());
    rsx! {
        tr { class: "auth-session", "data-session-id": "{row.id}", "data-current": "{row.current}",
            td {
                "{row.device}"
                if row.current {
                    " "
                    span { class: "auth-badge", "This device" }
                }
            }
            td { "{utc(row.created_at)}" }
            td { "{utc(row.last_active_at)}" }
            td {
                if !row.current {
                    form {
                        method: "post",
                        action: "{action}",
                        onsubmit: move |evt: FormEvent| {
                            evt.prevent_default();
                            on_revoke.call((id.clone(), device.clone()));
                        },
                        input { r#type: "hidden", name: "redirect_url", value: "{return_url}" }
                        button {
                            class: "auth-button auth-button-secondary auth-button-small",
                            r#type: "submit",
                            disabled: pending,
                            "aria-label": "Revoke {row.device}, last active {utc(row.last_active_at)}",
                            "Revoke"
                        }
                    }
                }
            }
        }
    }
}

/// Delete account: the password re-entered and a confirmation (`POST /auth/account/delete`);
/// every session ends, and the browser goes to `after_url` signed out.
#[component]
pub(crate) fn DeleteAccount(after_url: String) -> Element {
    let has_password = use_has_password();
    let auth = use_auth();
    let p = "auth-delete";
    let form = use_submission(p, || None);
    let pending = form.pending();

    let after = after_url.clone();
    let onsubmit = move |evt: FormEvent| {
        evt.prevent_default();
        if !form.start() {
            return;
        }
        let body = serde_json::to_value(PasswordRequest {
            password: field(&evt, "password"),
            redirect_url: Some(after.clone()),
        })
        .unwrap_or_default();
        let fallback = after.clone();
        spawn(async move {
            let Some(reply) = form.finish(request::post(paths::ACCOUNT_DELETE, &body).await) else {
                return;
            };
            auth.replace(AuthSnapshot::signed_out());
            match reply {
                Reply::Session(_, to) | Reply::Accepted(_, Some(to)) => go(&to),
                _ => go(&fallback),
            }
        });
    };

    rsx! {
        form {
            id: "auth-delete-form",
            class: "auth-form auth-section auth-danger",
            method: "post",
            action: paths::ACCOUNT_DELETE,
            "aria-labelledby": "auth-delete-title",
            "aria-busy": "{pending}",
            onsubmit,
            h3 { id: "auth-delete-title", class: "auth-subtitle", "Delete account" }
            ErrorLine { prefix: p, message: form.error() }
            StatusLine { prefix: p, message: None }
            p { class: "auth-muted", "Your account, its sessions and its data are deleted; this cannot be undone." }
            if has_password {
                CurrentPasswordField { id: "auth-delete-password", label: "Password" }
            }
            div { class: "auth-check",
                input {
                    id: "auth-delete-confirm",
                    name: "confirm",
                    r#type: "checkbox",
                    value: "yes",
                    required: true,
                }
                label { r#for: "auth-delete-confirm", "I understand that my account will be deleted" }
            }
            input { r#type: "hidden", name: "redirect_url", value: "{after_url}" }
            SubmitButton {
                id: "auth-delete-submit",
                class: "auth-button auth-button-danger",
                pending,
                idle: "Delete my account",
                busy: "Deleting…",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59 UTC");
    }
}
