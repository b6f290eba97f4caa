//! `/admin`: a page for the `admin` role. `Protect` hides the panel from everyone else in the UI;
//! the security boundary is the server function's `Require<Admin>` extractor, which answers
//! `401` signed out and `403 {"error":"Forbidden"}` without the role, whatever the UI shows.

use super::Source;
use auth_types::Check;
use auth_ui::{Protect, RedirectToSignIn, SignedIn, SignedOut};
use dioxus::prelude::*;
use serde::{Deserialize, Serialize};

/// The role this page needs.
pub const ADMIN_ROLE: &str = "admin";

/// The policy behind [`list_users`]: signed in with the `admin` role.
#[cfg(feature = "server")]
pub struct Admin;

#[cfg(feature = "server")]
impl auth_server::Policy for Admin {
    fn check() -> Check {
        Check::role(ADMIN_ROLE)
    }
}

/// One row of the admin's user list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub email: String,
    pub name: String,
    pub roles: Vec<String>,
}

/// Admin-only server function: the first page of users. Signed out → 401, no `admin` role → 403.
#[get("/api/admin/users", _admin: auth_server::Require<Admin>, users: auth_idp::UsersApi)]
pub async fn list_users() -> Result<Vec<UserRow>> {
    let page = users
        .0
        .list(1, 20)
        .await
        .map_err(|_| ServerFnError::new("the user store is unavailable"))?;
    Ok(page
        .users
        .into_iter()
        .map(|u| UserRow {
            email: u.email,
            name: u.name,
            roles: u.roles,
        })
        .collect())
}

#[component]
pub fn AdminPage() -> Element {
    let mut result = use_signal(|| None::<String>);
    let load = move |_| async move {
        let text = match list_users().await {
            Ok(rows) => rows
                .iter()
                .map(|r| format!("{} ({}) [{}]", r.email, r.name, r.roles.join(", ")))
                .collect::<Vec<_>>()
                .join("\n"),
            Err(e) => format!("error: {e}"),
        };
        result.set(Some(text));
    };
    rsx! {
        main { class: "page",
            h1 { "Admin" }
            p {
                "Only users with the " code { "{ADMIN_ROLE}" } " role see the panel below. "
                "Hiding it is only for the eye: the list comes from a server function guarded by "
                code { "Require<Admin>" } ", which refuses everyone else with 403."
            }
            SignedOut { RedirectToSignIn {} }
            SignedIn {
                Protect {
                    check: Check::role(ADMIN_ROLE),
                    fallback: rsx! {
                        div { id: "not-admin", class: "card",
                            p { "You are signed in, but you don't have the " code { "{ADMIN_ROLE}" } " role." }
                            p { "Grant it from the command line, with the same " code { "DATABASE_URL" } " as the server:" }
                            pre { "cargo run -p {env!(\"CARGO_PKG_NAME\")} --features server -- grant-role you@example.com admin\n# or, with the release bundle:\n./server grant-role you@example.com admin" }
                            p { "The role is in your session token from its next renewal (within a minute), or sign out and in again." }
                        }
                    },
                    div { id: "admin-panel", class: "card",
                        p { "You are an admin." }
                        button { id: "list-users", onclick: load, "List users" }
                    }
                }
                // Outside `Protect`, so anyone can see the server refuse.
                button { id: "list-users-anyway", class: "secondary", onclick: load, "Call the admin server function anyway" }
                if let Some(text) = result() { pre { id: "admin-response", class: "response", "{text}" } }
            }
            Source { path: file!() }
        }
    }
}
