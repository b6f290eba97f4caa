//! The demo app: a tour of the auth template, one capability a page.
//!
//! `cargo xtask dev` serves it with `dx serve`; the server half (feature `server`) and the wasm
//! client (feature `web`) are built from this same crate.

use dioxus::prelude::*;

#[cfg(feature = "server")]
mod api;
mod pages;

use pages::Home;

/// The app's pages.
#[derive(Clone, Debug, PartialEq, Routable)]
#[rustfmt::skip]
enum Route {
    #[route("/")]
    Home {},
}

const MAIN_CSS: Asset = asset!("/assets/main.css");
const FAVICON: Asset = asset!("/assets/favicon.svg");

fn main() {
    #[cfg(not(feature = "server"))]
    dioxus::launch(App);

    // The server: Dioxus SSR + server functions, the JSON API, and the auth stack around all of
    // it (embedded identity provider by default; see `AuthStack::from_env`).
    // `./server grant-role <email> admin`, `./server rotate-keys`: admin commands, then exit.
    #[cfg(feature = "server")]
    if let Some(code) = auth_server::cli::run(&std::env::args().skip(1).collect::<Vec<_>>()) {
        std::process::exit(code);
    }

    #[cfg(feature = "server")]
    dioxus::serve(|| async move {
        let auth = auth_server::AuthStack::from_env().await?;
        Ok(auth.apply(dioxus::server::router(App).merge(api::routes())))
    });
}

#[component]
fn App() -> Element {
    rsx! {
        document::Link { rel: "icon", href: FAVICON }
        document::Stylesheet { href: MAIN_CSS }
        Router::<Route> {}
    }
}
