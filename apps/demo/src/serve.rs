//! Serving the release build (server only).
//!
//! Debug builds go through `dioxus::serve`, which `dx serve` needs for hot patching. Release
//! builds serve the same router here, for two reasons: the connection's peer address reaches the
//! handlers (`ConnectInfo`, which `dioxus::serve` 0.7.10 leaves out), so the identity provider's
//! per-address sign-in limit works without a proxy header; and a bad setting ends the process
//! with its message and exit code 1 instead of a panic.

use std::{future::Future, net::SocketAddr};

/// Builds the router, binds `IP`:`PORT` (default `127.0.0.1:8080`) and serves until killed.
pub fn release<F, Fut>(make_router: F) -> !
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<axum::Router>>,
{
    dioxus::logger::initialize_default();
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(async {
            let router = match make_router().await {
                Ok(router) => router,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return 1;
                }
            };
            let addr = dioxus::cli_config::fullstack_address_or_localhost();
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => listener,
                Err(e) => {
                    eprintln!("error: cannot listen on {addr}: {e}");
                    return 1;
                }
            };
            let app = router.into_make_service_with_connect_info::<SocketAddr>();
            match axum::serve(listener, app).await {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: the server stopped: {e}");
                    1
                }
            }
        }),
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            1
        }
    };
    std::process::exit(code)
}
