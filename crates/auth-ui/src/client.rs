//! Talking to the identity provider's endpoints from the browser (wasm32 only; every function
//! is an inert stub elsewhere, so server-side rendering never makes HTTP calls to itself).

use crate::state::AuthSnapshot;
#[cfg(target_arch = "wasm32")]
use auth_types::contract::paths;

/// The name of the `BroadcastChannel` that keeps tabs in step.
#[cfg(target_arch = "wasm32")]
pub(crate) const CHANNEL: &str = "dioxus-auth";

/// Message sent to other tabs after a sign-out.
pub(crate) const MSG_SIGNED_OUT: &str = "signed-out";
/// Message sent to other tabs after a sign-in or a profile change: refetch the session.
pub(crate) const MSG_CHANGED: &str = "changed";

/// `POST path` with a JSON body; the answer's status and JSON.
#[cfg(target_arch = "wasm32")]
async fn post_json(
    path: &str,
    body: &impl serde::Serialize,
) -> Result<(u16, serde_json::Value), String> {
    let request = gloo_net::http::Request::post(path)
        .header("accept", "application/json")
        .json(body)
        .map_err(|e| e.to_string())?;
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let json = response
        .json::<serde_json::Value>()
        .await
        .unwrap_or(serde_json::Value::Null);
    Ok((status, json))
}

/// The message of an error answer (`{"error": "…"}`: a coded error's text is its
/// `FormError::message`, what the forms show), or a generic one.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn error_from(status: u16, json: &serde_json::Value) -> String {
    json.get("error")
        .and_then(|e| e.as_str())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("Something went wrong (HTTP {status}). Try again."))
}

/// `POST /auth/sign-out` (or `/auth/sign-out-all`); `Err` with a message on failure.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn sign_out(path: &str) -> Result<(), String> {
    match post_json(path, &serde_json::json!({})).await {
        // 401: already signed out (the session was revoked elsewhere) — the goal is reached.
        Ok((status, _)) if (200..300).contains(&status) || status == 401 => Ok(()),
        Ok((status, json)) => Err(error_from(status, &json)),
        Err(e) => Err(e),
    }
}

/// Stub: nothing to sign out of outside a browser.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn sign_out(_path: &str) -> Result<(), String> {
    Ok(())
}

/// `GET /auth/session`: the current state (renewing the session cookie when it is close to
/// expiry). `None` on a network error or an unreadable answer.
pub(crate) async fn fetch_session() -> Option<AuthSnapshot> {
    // An `AuthSnapshot` reads the answer (a `SessionResponse`: the same `auth` and `user`).
    let answer: AuthSnapshot = crate::seed::decode(fetch_session_json().await.as_deref())?;
    Some(AuthSnapshot::new(answer.auth, answer.user))
}

/// The JSON text of `GET /auth/session`'s answer; `None` on a network error or an error status.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn fetch_session_json() -> Option<String> {
    let response = gloo_net::http::Request::get(paths::SESSION)
        .header("accept", "application/json")
        .send()
        .await
        .ok()?;
    if !response.ok() {
        return None;
    }
    response.text().await.ok()
}

/// Stub: the server seeds the state instead.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn fetch_session_json() -> Option<String> {
    None
}

/// `GET /auth/token`: a fresh session JWT; `Ok(None)` when signed out.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn fetch_token() -> Result<Option<String>, String> {
    let response = gloo_net::http::Request::get(paths::TOKEN)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() == 401 {
        return Ok(None);
    }
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let answer = response
        .json::<auth_types::contract::TokenResponse>()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some(answer.token))
}

/// Stub: tokens are fetched by the browser.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn fetch_token() -> Result<Option<String>, String> {
    Ok(None)
}

#[cfg(target_arch = "wasm32")]
thread_local! {
    static BROADCAST: std::cell::RefCell<Option<web_sys::BroadcastChannel>> =
        const { std::cell::RefCell::new(None) };
}

/// Tells the other tabs about a change (`MSG_*`).
#[cfg(target_arch = "wasm32")]
pub(crate) fn broadcast(message: &str) {
    BROADCAST.with(|cell| {
        if let Some(channel) = cell.borrow().as_ref() {
            let _ = channel.post_message(&wasm_bindgen::JsValue::from_str(message));
        }
    });
}

/// Stub.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn broadcast(_message: &str) {}

/// Listens for other tabs' messages; `on_message` gets the message text. Once per page.
#[cfg(target_arch = "wasm32")]
pub(crate) fn listen(on_message: impl Fn(String) + 'static) {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    let Ok(channel) = web_sys::BroadcastChannel::new(CHANNEL) else {
        return;
    };
    let callback =
        Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |event: web_sys::MessageEvent| {
            if let Some(text) = event.data().as_string() {
                on_message(text);
            }
        });
    channel.set_onmessage(Some(callback.as_ref().unchecked_ref()));
    // The listener lives as long as the page.
    callback.forget();
    BROADCAST.with(|cell| *cell.borrow_mut() = Some(channel));
}

/// Seconds since the Unix epoch (browser clock).
#[cfg(target_arch = "wasm32")]
pub(crate) fn now_secs() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

/// Full-page navigation (used when there is no router).
#[cfg(target_arch = "wasm32")]
pub(crate) fn assign_location(url: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().assign(url);
    }
}

/// Stub.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn assign_location(_url: &str) {}

/// Moves the keyboard focus to the element with this id, if the page has one. Through web-sys
/// rather than `document::eval`, which runs a string through `new Function` and so would need
/// `'unsafe-eval'` in the Content-Security-Policy.
#[cfg(target_arch = "wasm32")]
pub(crate) fn focus(id: &str) {
    use wasm_bindgen::JsCast as _;
    if let Some(element) = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id(id))
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok())
    {
        let _ = element.focus();
    }
}

/// Nothing to focus outside the browser.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn focus(_id: &str) {}
