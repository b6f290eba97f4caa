//! `/`: proves the full-stack pipeline. The page is rendered on the server with a value read from
//! the request (is a `__session` cookie present?), hydrates in the browser, and its button calls a
//! server function that takes an axum extractor.

use dioxus::prelude::*;

#[component]
pub fn Home() -> Element {
    // Runs on the server during SSR; the client reads the serialised value back during hydration,
    // so both renders agree.
    let has_session_cookie = use_server_cached(session_cookie_present);
    let mut greeting = use_action(server_greeting);
    let mut hydrated = use_signal(|| false);
    // Effects run only in the browser, after hydration.
    use_effect(move || hydrated.set(true));

    rsx! {
        main { class: "page",
            h1 { "Dioxus Auth Starter" }
            p {
                "This page was rendered on the server, which saw "
                strong { id: "session-cookie",
                    if has_session_cookie { "a __session cookie" } else { "no __session cookie" }
                }
                " on your request."
            }
            p { id: "hydration", "data-hydrated": "{hydrated}",
                if hydrated() { "Hydrated: the page is interactive." } else { "Not hydrated yet." }
            }
            button { id: "greet", onclick: move |_| greeting.call(), "Ask the server" }
            p { id: "greeting",
                match greeting.value() {
                    Some(Ok(text)) => rsx! { "{text}" },
                    Some(Err(err)) => rsx! { "Error: {err}" },
                    None => rsx! { "No answer yet." },
                }
            }
            p { class: "source", "Source: apps/demo/src/pages/home.rs" }
        }
    }
}

/// Whether the current request carried a `__session` cookie (server side; `false` elsewhere).
fn session_cookie_present() -> bool {
    #[cfg(feature = "server")]
    if let Some(ctx) = dioxus::fullstack::FullstackContext::current() {
        let headers = ctx.parts_mut().headers.clone();
        return auth_server::token_from_headers(&headers).is_some();
    }
    false
}

/// A server function that takes an extractor (`HeaderMap`) from the request.
#[get("/api/greeting", headers: dioxus::fullstack::HeaderMap)]
async fn server_greeting() -> Result<String> {
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("an unknown client");
    let kind = if agent.contains("Chrome") {
        "a Chromium browser"
    } else {
        "a client"
    };
    Ok(format!("Hello from the server, {kind}!"))
}
