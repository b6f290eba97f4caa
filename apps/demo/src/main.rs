//! The app, as the template made it: a tour of the auth template, one capability a page.
//!
//! `cargo xtask dev` serves it with `dx serve`; the server half (feature `server`) and the wasm
//! client (feature `web`) are built from this same crate.

use dioxus::prelude::*;

#[cfg(feature = "server")]
mod api;
mod brand;
mod pages;
#[cfg(feature = "server")]
mod serve;

use auth_ui::AuthProvider;
use brand::APP_NAME;
use pages::{
    AdminPage, ApiCalls, Dashboard, ForgotPasswordPage, Home, Profile, ResetPasswordPage, Shell,
    SignInPage, SignUpPage, VerifyEmailPage,
};

/// The app's pages. `/dashboard`, `/profile` and `/admin` are also protected on the server
/// ([`PROTECTED`]); the in-page checks are UX.
#[derive(Clone, Debug, PartialEq, Routable)]
#[rustfmt::skip]
enum Route {
    #[layout(Shell)]
        #[route("/")]
        Home {},
        #[route("/sign-in?:redirect_url&:error&:email&:code_sent")]
        SignInPage { redirect_url: String, error: String, email: String, code_sent: String },
        #[route("/sign-up?:redirect_url&:error&:email")]
        SignUpPage { redirect_url: String, error: String, email: String },
        #[route("/forgot-password?:sent&:error")]
        ForgotPasswordPage { sent: String, error: String },
        #[route("/reset-password?:token&:error&:redirect_url")]
        ResetPasswordPage { token: String, error: String, redirect_url: String },
        #[route("/verify-email?:token&:email&:error&:redirect_url")]
        VerifyEmailPage { token: String, email: String, error: String, redirect_url: String },
        #[route("/dashboard")]
        Dashboard {},
        #[route("/profile?:error")]
        Profile { error: String },
        #[route("/api-calls")]
        ApiCalls {},
        #[route("/admin")]
        AdminPage {},
}

/// Pages a signed-out document request is redirected away from (303 to `/sign-in`), before
/// any rendering: the security boundary for pages.
#[cfg(feature = "server")]
const PROTECTED: [&str; 3] = ["/dashboard", "/profile", "/admin"];

const MAIN_CSS: Asset = asset!("/assets/main.css");
const FAVICON: Asset = asset!("/assets/favicon.svg");

fn main() {
    #[cfg(not(feature = "server"))]
    dioxus::launch(App);

    // The server (embedded identity provider by default; see `auth_idp::stack_from_env`).
    // Settings may come from a `.env` file in the working directory (the environment wins).
    #[cfg(feature = "server")]
    if let Err(e) = serve::load_dotenv() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    // `./server grant-role <email> admin`, `./server rotate-keys`: admin commands, then exit.
    #[cfg(feature = "server")]
    if let Some(code) = auth_idp::run_cli(&std::env::args().skip(1).collect::<Vec<_>>()) {
        std::process::exit(code);
    }

    // Debug builds: `dioxus::serve` (dx serve hot-patches through it). Release builds: the same
    // router, served with the client's address, TCP_NODELAY and a graceful shutdown that closes
    // the database (see `serve.rs`).
    #[cfg(all(feature = "server", debug_assertions))]
    dioxus::serve(router);
    #[cfg(all(feature = "server", not(debug_assertions)))]
    serve::release(server);
}

/// The whole server: Dioxus SSR + server functions, protected pages, the JSON API (with health
/// and readiness), the auth stack around all of it, and request ids and logs outside that. Also
/// returns the embedded identity provider (`None` with an external issuer), to close on shutdown.
#[cfg(feature = "server")]
async fn server() -> anyhow::Result<(axum::Router, Option<auth_idp::Idp>)> {
    let (auth, idp) = auth_idp::stack_and_idp_from_env().await?;
    let readiness = api::Readiness::new(idp.clone(), auth.layer().verifier().key_store().clone());
    let pages = auth_server::PageGuard::new(PROTECTED).apply(dioxus::server::router(App));
    let app = auth.apply(pages.merge(api::routes(readiness)));
    Ok((serve::observe(app), idp))
}

/// [`server`] for `dioxus::serve`, which calls it again after each hot patch.
#[cfg(all(feature = "server", debug_assertions))]
async fn router() -> anyhow::Result<axum::Router> {
    Ok(server().await?.0)
}

#[component]
fn App() -> Element {
    rsx! {
        document::Link { rel: "icon", href: FAVICON }
        document::Stylesheet { href: auth_ui::AUTH_UI_CSS }
        document::Stylesheet { href: MAIN_CSS }
        // Seeds the auth state from the request during SSR; the client hydrates from it.
        AuthProvider { Router::<Route> {} }
    }
}
