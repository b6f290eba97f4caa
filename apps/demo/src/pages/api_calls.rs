//! `/api-calls`: the three ways server code checks the session, each called from the browser:
//! (a) an axum route guarded like Clerk's `auth()` (`GET /api/me`), (b) the full user object from
//! the users API (`GET /api/user`, Clerk's `clerkClient.users.getUser`), (c) a Dioxus server
//! function taking the `Auth` extractor. Each response is shown as it came back, status included.

use super::Source;
use dioxus::prelude::*;
use serde::{Deserialize, Serialize};

/// What [`whoami`] returns: the request's auth state as the server function saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhoAmI {
    pub signed_in: bool,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub roles: Vec<String>,
}

/// A server function with the `Auth` extractor: never rejects, reports what it saw. Use
/// `RequireAuth` instead to answer 401 when signed out (see `admin.rs`).
#[get("/api/whoami", auth: auth_server::Auth)]
pub async fn whoami() -> Result<WhoAmI> {
    Ok(match auth.claims() {
        Some(claims) => WhoAmI {
            signed_in: true,
            user_id: Some(claims.sub.clone()),
            session_id: claims.sid.clone(),
            roles: claims.roles.clone(),
        },
        None => WhoAmI {
            signed_in: false,
            user_id: None,
            session_id: None,
            roles: Vec::new(),
        },
    })
}

#[component]
pub fn ApiCalls() -> Element {
    let mut me = use_signal(|| None::<String>);
    let mut user = use_signal(|| None::<String>);
    let mut server_fn = use_signal(|| None::<String>);

    rsx! {
        main { class: "page",
            h1 { "Calling the server" }
            p {
                "Each button calls the server from your browser with the session cookie it already has. "
                "Signed out, the guarded routes answer "
                code { "401 {{\"error\":\"Unauthorized\"}}" }
                "; signed in, they answer with your identity. The server verifies the session token once per request, in a layer, and the handlers only read the result."
            }
            section { class: "card",
                h2 { "(a) An axum route: " code { "GET /api/me" } }
                p { "The " code { "RequireAuth" } " extractor: the twin of Clerk's " code { "auth()" } " in a route handler." }
                button { id: "call-me", onclick: move |_| async move { me.set(Some(get_text("/api/me").await)); }, "Call /api/me" }
                if let Some(text) = me() { pre { id: "me-response", class: "response", "{text}" } }
            }
            section { class: "card",
                h2 { "(b) The full user: " code { "GET /api/user" } }
                p { "The " code { "CurrentUser" } " extractor loads the user from the users API: the twin of " code { "clerkClient.users.getUser(userId)" } "." }
                button { id: "call-user", onclick: move |_| async move { user.set(Some(get_text("/api/user").await)); }, "Call /api/user" }
                if let Some(text) = user() { pre { id: "user-response", class: "response", "{text}" } }
            }
            section { class: "card",
                h2 { "(c) A server function with the " code { "Auth" } " extractor" }
                p { "Dioxus server functions take axum extractors: " code { "#[get(\"/api/whoami\", auth: Auth)]" } "." }
                button {
                    id: "call-server-fn",
                    onclick: move |_| async move {
                        let text = match whoami().await {
                            Ok(who) => format!("{who:#?}"),
                            Err(e) => format!("error: {e}"),
                        };
                        server_fn.set(Some(text));
                    },
                    "Call the server function"
                }
                if let Some(text) = server_fn() { pre { id: "server-fn-response", class: "response", "{text}" } }
            }
            Source { path: file!() }
        }
    }
}

/// `GET path` from the browser: `"<status> <body>"`.
async fn get_text(path: &str) -> String {
    #[cfg(feature = "web")]
    {
        match gloo_net::http::Request::get(path).send().await {
            Ok(res) => {
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                format!("{status} {body}")
            }
            Err(e) => format!("request failed: {e}"),
        }
    }
    #[cfg(not(feature = "web"))]
    {
        format!("GET {path}: only the browser makes this call")
    }
}
