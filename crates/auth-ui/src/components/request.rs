//! The account forms' calls to the identity provider (wasm32 only; inert stubs elsewhere, so
//! server-side rendering never calls itself over HTTP). An answer is kept whole: these endpoints
//! answer a session, an "accepted" message, a verification request (202
//! `{"verification_required":true}`) or an error.

use crate::state::AuthSnapshot;
use auth_types::contract::{AcceptedResponse, SessionResponse};
use serde::Serialize;

/// What an account endpoint answered.
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) enum Reply {
    /// A new session (sign-in, sign-up, verification, reset): the state and where to go.
    Session(Box<AuthSnapshot>, String),
    /// The address must be verified first: ask for the code mailed to it.
    VerificationRequired(String),
    /// Done, nothing to sign in: the message to show and, maybe, where to go.
    Accepted(String, Option<String>),
    /// A message to show next to the form.
    Failed(String),
}

/// `POST path` with a JSON body.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn post(path: &str, body: &impl Serialize) -> Reply {
    let request = match gloo_net::http::Request::post(path)
        .header("accept", "application/json")
        .json(body)
    {
        Ok(request) => request,
        Err(e) => return Reply::Failed(e.to_string()),
    };
    answer(request.send().await).await
}

/// Stub: forms only submit in the browser.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn post(_path: &str, _body: &impl Serialize) -> Reply {
    Reply::Failed("Not in a browser".into())
}

/// `DELETE path`.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn delete(path: &str) -> Reply {
    let request = gloo_net::http::Request::delete(path).header("accept", "application/json");
    answer(request.send().await).await
}

/// Stub.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn delete(_path: &str) -> Reply {
    Reply::Failed("Not in a browser".into())
}

/// `GET path` as JSON of type `T`; `Err` with a message to show.
#[cfg(target_arch = "wasm32")]
pub(crate) async fn get<T: serde::de::DeserializeOwned>(path: &str) -> Result<T, String> {
    let sent = gloo_net::http::Request::get(path)
        .header("accept", "application/json")
        .send()
        .await;
    serde_json::from_value(read(sent).await?).map_err(|_| UNEXPECTED.to_owned())
}

/// Stub: lists are loaded by the browser.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) async fn get<T: serde::de::DeserializeOwned>(_path: &str) -> Result<T, String> {
    Err("Not in a browser".into())
}

#[cfg(target_arch = "wasm32")]
const NETWORK: &str = "Network error: check your connection and try again.";
#[cfg(target_arch = "wasm32")]
const UNEXPECTED: &str = "Unexpected answer from the server.";

#[cfg(target_arch = "wasm32")]
async fn answer(sent: Result<gloo_net::http::Response, gloo_net::Error>) -> Reply {
    match read(sent).await {
        Ok(json) => classify(json),
        Err(text) => Reply::Failed(text),
    }
}

/// A successful answer's JSON (`null` when it has none), or the message to show.
#[cfg(target_arch = "wasm32")]
async fn read(
    sent: Result<gloo_net::http::Response, gloo_net::Error>,
) -> Result<serde_json::Value, String> {
    let response = sent.map_err(|_| NETWORK.to_owned())?;
    let status = response.status();
    let json = response
        .json::<serde_json::Value>()
        .await
        .unwrap_or(serde_json::Value::Null);
    if !(200..300).contains(&status) {
        return Err(crate::client::error_from(status, &json));
    }
    Ok(json)
}

/// Sorts a successful answer by its shape (the contract's types decide, not the status).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn classify(json: serde_json::Value) -> Reply {
    if json.get("verification_required").and_then(|v| v.as_bool()) == Some(true) {
        let email = json.get("email").and_then(|e| e.as_str()).unwrap_or("");
        return Reply::VerificationRequired(email.to_owned());
    }
    if let Ok(session) = serde_json::from_value::<SessionResponse>(json.clone()) {
        let to = session.redirect_url.unwrap_or_else(|| "/".to_owned());
        return Reply::Session(Box::new(AuthSnapshot::new(session.auth, session.user)), to);
    }
    match serde_json::from_value::<AcceptedResponse>(json) {
        Ok(accepted) => Reply::Accepted(accepted.message, accepted.redirect_url),
        Err(_) => Reply::Accepted(String::new(), None),
    }
}

/// The text of a form field.
pub(crate) fn field(evt: &dioxus::prelude::FormEvent, name: &str) -> String {
    use dioxus::prelude::FormValue;
    match evt.get_first(name) {
        Some(FormValue::Text(text)) => text,
        _ => String::new(),
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
pub(crate) fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char)
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}
