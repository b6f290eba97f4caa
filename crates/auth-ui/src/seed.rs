//! What server-side rendering hands the browser: each server-rendered value (the auth snapshot,
//! the profile's sessions and connected accounts, the sign-in providers) travels through
//! `use_server_future` as its JSON text, and is read back with the JSON code that also reads the
//! provider's answers (`GET /auth/session`, `/auth/sessions`, `/auth/identities`).
//!
//! Why text: `use_server_future` moves its value with CBOR, so the value itself would give the
//! wasm client one CBOR reader per type (tens of KB for these four) next to the JSON readers it
//! needs anyway. As text, the only CBOR it reads is a string.

use crate::server::RequestHandle;
use dioxus::prelude::*;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// A server-rendered value as JSON text; `None`: nothing to seed (signed out, no backend, the
/// store did not answer, or not rendered on the server).
pub(crate) type Seed = Option<String>;

/// The seed of `value` (server side).
#[cfg(feature = "server")]
pub(crate) fn encode<T: serde::Serialize>(value: Option<T>) -> Seed {
    value.and_then(|value| serde_json::to_string(&value).ok())
}

/// The value of a seed: `None` when there is none, or when it is not a `T`.
pub(crate) fn decode<T: DeserializeOwned>(seed: Option<&str>) -> Option<T> {
    // Through `Value`: the browser reads the provider's answers this way, so the readers of
    // these types are compiled once.
    let json: serde_json::Value = serde_json::from_str(seed?).ok()?;
    serde_json::from_value(json).ok()
}

/// How a component loads its seed for the current request (a plain function, so that every
/// seeded component shares one instantiation of `use_server_future`).
pub(crate) type Load = fn(RequestHandle) -> Pin<Box<dyn Future<Output = Seed>>>;

/// `use_server_future` for a seed: suspends until `load`'s seed is known (on the server: loaded
/// for this request; in the browser: the one in the page, or `load` run again when the page has
/// none), then decodes it.
pub(crate) fn use_seed<T: DeserializeOwned>(load: Load) -> Result<Option<T>, RenderError> {
    let seed = use_seed_text(load)?;
    Ok(decode(seed.as_deref()))
}

fn use_seed_text(load: Load) -> Result<Seed, RenderError> {
    let request = RequestHandle::current();
    let seeded = use_server_future(move || load(request.clone()))?;
    Ok(seeded.read().clone().flatten())
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use super::{decode, encode};
    use auth_types::contract::SocialProvider;

    #[test]
    fn a_value_round_trips() {
        let providers = vec![SocialProvider {
            id: "google".into(),
            name: "Google".into(),
        }];
        let seed = encode(Some(providers.clone()));
        assert_eq!(
            decode::<Vec<SocialProvider>>(seed.as_deref()),
            Some(providers)
        );
    }

    #[test]
    fn nothing_and_garbage_decode_to_none() {
        assert_eq!(encode::<Vec<SocialProvider>>(None), None);
        assert_eq!(decode::<Vec<SocialProvider>>(None), None);
        assert_eq!(
            decode::<Vec<SocialProvider>>(Some("{\"not\":\"a list\"}")),
            None
        );
        assert_eq!(decode::<Vec<SocialProvider>>(Some("not json")), None);
    }
}
