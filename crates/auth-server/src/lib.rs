//! Server half of the auth template: verifies session tokens once per request, exposes the result
//! to axum handlers, Dioxus server functions and server-side rendering, and runs the embedded
//! identity provider.

pub mod idp;
