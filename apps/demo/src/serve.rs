//! The server process around the router (server only).
//!
//! Every build: `.env` ([`load_dotenv`]), and a request id and a log line for every request
//! ([`observe`]). Release builds also serve the router here ([`release`]), instead of through
//! `dioxus::serve` (which debug builds keep: `dx serve` hot-patches through it), because
//! `dioxus::serve` 0.7.10
//!
//! - leaves out the connection's peer address (`ConnectInfo`), which the identity provider's
//!   per-address sign-in limit needs without a proxy header;
//! - answers a bad setting with a panic, where this ends the process with its message and exit
//!   code 1;
//! - has no graceful shutdown: on `SIGTERM` or Ctrl-C this stops accepting, finishes the requests
//!   in flight (at most `SHUTDOWN_TIMEOUT_SECS`), closes the database pool and exits 0;
//! - leaves Nagle's algorithm on: a streamed page goes out in several small writes, and with the
//!   client's delayed ACK each page on a kept-alive connection waited ~40 ms. Here every accepted
//!   socket gets `TCP_NODELAY`;
//! - logs in one format: here `LOG_FORMAT=json` gives one JSON object per line.

use axum::{
    Router,
    extract::Request,
    http::{HeaderName, HeaderValue},
};
use std::path::Path;
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

/// Loads `.env` from the working directory, if there is one, before any setting is read.
/// Variables already set in the environment win over the file. A file that cannot be read or
/// parsed is an error naming the file and the line — never the line's content, which may hold a
/// secret — and then nothing is loaded. (`cargo xtask dev` reads the same file the same way.)
pub fn load_dotenv() -> Result<(), String> {
    let path = Path::new(".env");
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let shown = shown.display();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {shown}: {e}")),
    };
    // Parse it all first: a malformed file sets nothing.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    for entry in dotenvy::from_read_iter(text.as_bytes()) {
        match entry {
            Ok(_) => {}
            Err(dotenvy::Error::LineParse(line, _)) => {
                let first = line.lines().next().unwrap_or_default();
                let at = text
                    .lines()
                    .position(|l| l.starts_with(first))
                    .map_or_else(String::new, |n| format!(" line {}", n + 1));
                return Err(format!(
                    "{shown}{at} is not `NAME=value` (quote a value that holds spaces or `#`)"
                ));
            }
            Err(e) => return Err(format!("cannot read {shown}: {e}")),
        }
    }
    // `std::env::set_var` is `unsafe` in edition 2024 (and `unsafe_code` is forbidden): dotenvy
    // sets the variables, leaving those already set alone. No other thread runs yet.
    dotenvy::from_path(path).map_err(|e| format!("cannot read {shown}: {e}"))
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps the whole app (outermost, so refused requests are logged too):
///
/// - every request gets an id, in its `x-request-id` header and the response's. An incoming id
///   is kept when it looks like one (one header, 1–64 characters of `A–Z a–z 0–9 - _ .`: a proxy's
///   `$request_id`, a UUID), so a reverse proxy's logs and ours share it; anything else is
///   replaced by a fresh UUID. The id is only a label for the logs, never trusted for anything,
///   and those characters cannot forge a log line or a field;
/// - every request is logged in a span `request{request_id, method, path}` (the path without its
///   query string), so each log line of the request — the auth events included — carries its
///   id, and its answer is logged at INFO with status and latency (5xx at ERROR).
pub fn observe(app: Router) -> Router {
    app.layer(axum::middleware::from_fn(vary_on_encoding))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    DefaultOnResponse::new()
                        .level(Level::INFO)
                        .latency_unit(tower_http::LatencyUnit::Millis),
                ),
        )
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::map_request(keep_plausible_request_id))
}

/// Assets precompressed at bundle time (`pre_compress` in Dioxus.toml) are answered brotli-encoded
/// or as they are, by the request's `Accept-Encoding`: `Vary: Accept-Encoding` keeps a shared
/// cache (a CDN, a proxy) from handing the brotli body to a client that did not ask for it.
/// Dioxus's file service does not say it.
async fn vary_on_encoding(
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let is_asset = request.uri().path().starts_with("/assets/");
    let mut response = next.run(request).await;
    if is_asset
        || response
            .headers()
            .contains_key(axum::http::header::CONTENT_ENCODING)
    {
        response.headers_mut().append(
            axum::http::header::VARY,
            HeaderValue::from_static("accept-encoding"),
        );
    }
    response
}

fn request_span(request: &Request) -> tracing::Span {
    let id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Drops an incoming `x-request-id` that does not look like an id (see [`observe`]).
async fn keep_plausible_request_id(mut request: Request) -> Request {
    let headers = request.headers();
    let mut ids = headers.get_all(X_REQUEST_ID).iter();
    let keep = match (ids.next(), ids.next()) {
        (None, _) => true,
        (Some(id), None) => is_plausible_request_id(id),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(X_REQUEST_ID);
    }
    request
}

fn is_plausible_request_id(id: &HeaderValue) -> bool {
    let bytes = id.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(not(debug_assertions))]
pub use release::release;

/// The release server: settings, logs, TCP_NODELAY, graceful shutdown.
#[cfg(not(debug_assertions))]
mod release {
    use auth_idp::Idp;
    use auth_server::ConfigError;
    use axum::{Router, serve::ListenerExt};
    use std::{future::Future, future::IntoFuture, net::SocketAddr, time::Duration};
    use tokio::sync::watch;
    use tracing_subscriber::{EnvFilter, filter::LevelFilter};

    /// The most `SHUTDOWN_TIMEOUT_SECS` accepts (an hour).
    const MAX_SHUTDOWN_TIMEOUT_SECS: u64 = 3600;
    /// How long closing the database pool may take after the server stopped.
    const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

    /// The release server's own settings (the auth settings are read by the auth stack).
    #[derive(Debug)]
    struct Settings {
        /// `SHUTDOWN_TIMEOUT_SECS` (default 10): how long a shutdown waits for requests in flight.
        shutdown_timeout: Duration,
        /// `LOG_FORMAT`: `text` (default) or `json`.
        json_logs: bool,
    }

    impl Settings {
        fn from_env() -> Result<Self, ConfigError> {
            let var = |name: &'static str| match std::env::var(name) {
                Ok(value) => Ok(Some(value.trim().to_owned()).filter(|v| !v.is_empty())),
                Err(std::env::VarError::NotPresent) => Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
                    var: name,
                    reason: "not valid UTF-8".into(),
                }),
            };
            let shutdown_timeout = match var("SHUTDOWN_TIMEOUT_SECS")? {
                None => 10,
                Some(value) => value
                    .parse::<u64>()
                    .ok()
                    .filter(|secs| *secs <= MAX_SHUTDOWN_TIMEOUT_SECS)
                    .ok_or_else(|| ConfigError::Invalid {
                        var: "SHUTDOWN_TIMEOUT_SECS",
                        reason: format!(
                            "expected whole seconds from 0 to {MAX_SHUTDOWN_TIMEOUT_SECS}, \
                             got `{value}`"
                        ),
                    })?,
            };
            let json_logs = match var("LOG_FORMAT")?.as_deref() {
                None | Some("text") => false,
                Some("json") => true,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        var: "LOG_FORMAT",
                        reason: format!("expected `text` or `json`, got `{other}`"),
                    });
                }
            };
            Ok(Self {
                shutdown_timeout: Duration::from_secs(shutdown_timeout),
                json_logs,
            })
        }
    }

    /// Logs to standard output, filtered by `RUST_LOG` (default `info`), as text (what
    /// `dioxus::logger::initialize_default` gives) or one JSON object per line, whose `spans`
    /// hold the request's id.
    fn init_logs(json: bool) -> Result<(), String> {
        let filter = EnvFilter::builder()
            .with_default_directive(LevelFilter::INFO.into())
            .from_env()
            .map_err(|e| format!("RUST_LOG is invalid: {e}"))?
            // hyper has chatty `debug!`s (as in Dioxus's own logger).
            .add_directive("hyper_util=warn".parse().map_err(|e| format!("{e}"))?);
        let logs = tracing_subscriber::fmt().with_env_filter(filter);
        let installed = if json {
            logs.json()
                .with_current_span(false)
                .with_span_list(true)
                .try_init()
        } else {
            logs.try_init()
        };
        installed.map_err(|e| format!("cannot install the logger: {e}"))
    }

    /// Builds the server with `make_server`, binds `IP`:`PORT` (default `127.0.0.1:8080`) and
    /// serves until `SIGTERM` or Ctrl-C, then shuts down gracefully and exits 0. A bad setting
    /// ends the process with its message and exit code 1.
    pub fn release<F, Fut>(make_server: F) -> !
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<(Router, Option<Idp>)>>,
    {
        std::process::exit(run(make_server))
    }

    fn run<F, Fut>(make_server: F) -> i32
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<(Router, Option<Idp>)>>,
    {
        let settings = match Settings::from_env() {
            Ok(settings) => settings,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        if let Err(e) = init_logs(settings.json_logs) {
            eprintln!("error: {e}");
            return 1;
        }
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("error: could not start the async runtime: {e}");
                return 1;
            }
        };
        let code = runtime.block_on(async {
            let (router, idp) = match make_server().await {
                Ok(server) => server,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return 1;
                }
            };
            serve(router, idp, &settings).await
        });
        // Tasks still running (a request cut off by the shutdown timeout) get a moment, not more.
        runtime.shutdown_timeout(Duration::from_secs(1));
        code
    }

    /// Where the shutdown is.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Stage {
        Serving,
        /// First signal: no new connections, requests in flight finish.
        Draining,
        /// Second signal: stop waiting for them.
        Forced,
    }

    async fn reached(mut stage: watch::Receiver<Stage>, wanted: Stage) {
        // An error means the sender is gone (it never is while serving): stop as well.
        let _ = stage.wait_for(|now| *now >= wanted).await;
    }

    async fn serve(router: Router, idp: Option<Idp>, settings: &Settings) -> i32 {
        let addr = dioxus::cli_config::fullstack_address_or_localhost();
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!("error: cannot listen on {addr}: {e}");
                return 1;
            }
        };
        let mut signals = match Signals::install() {
            Ok(signals) => signals,
            Err(e) => {
                eprintln!("error: cannot handle shutdown signals: {e}");
                return 1;
            }
        };
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
            }
        });
        let timeout = settings.shutdown_timeout;
        let (stage_tx, stage) = watch::channel(Stage::Serving);
        tokio::spawn(async move {
            let signal = signals.next().await;
            tracing::info!(
                signal,
                timeout_secs = timeout.as_secs(),
                "shutting down: refusing new connections, finishing the requests in flight"
            );
            let _ = stage_tx.send(Stage::Draining);
            let signal = signals.next().await;
            tracing::warn!(
                signal,
                "second signal: not waiting for the requests in flight"
            );
            let _ = stage_tx.send(Stage::Forced);
        });
        tracing::info!(%addr, "listening");

        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        let server = axum::serve(listener, app)
            .with_graceful_shutdown(reached(stage.clone(), Stage::Draining))
            .into_future();
        let cut_off = async {
            reached(stage.clone(), Stage::Draining).await;
            tokio::select! {
                () = tokio::time::sleep(timeout) => {}
                () = reached(stage.clone(), Stage::Forced) => {}
            }
        };
        let code = tokio::select! {
            served = server => match served {
                Ok(()) => {
                    tracing::info!("every request finished");
                    0
                }
                Err(e) => {
                    tracing::error!(error = %e, "the server stopped");
                    eprintln!("error: the server stopped: {e}");
                    1
                }
            },
            () = cut_off => {
                tracing::warn!(
                    timeout_secs = timeout.as_secs(),
                    "stopping with requests still in flight (SHUTDOWN_TIMEOUT_SECS)"
                );
                0
            }
        };
        if let Some(idp) = idp {
            // Waits for the connections in use: bounded, a cut-off request may still hold one.
            if tokio::time::timeout(CLOSE_TIMEOUT, idp.close())
                .await
                .is_err()
            {
                tracing::warn!("the database pool did not close in time");
            } else {
                tracing::info!("database pool closed");
            }
        }
        code
    }

    /// `SIGTERM` (systemd, Docker, Kubernetes, `dx`) and `SIGINT` (Ctrl-C), registered before the
    /// server accepts anything so neither can kill it the default way mid-request.
    struct Signals {
        #[cfg(unix)]
        terminate: tokio::signal::unix::Signal,
        #[cfg(unix)]
        interrupt: tokio::signal::unix::Signal,
    }

    impl Signals {
        fn install() -> std::io::Result<Self> {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                Ok(Self {
                    terminate: signal(SignalKind::terminate())?,
                    interrupt: signal(SignalKind::interrupt())?,
                })
            }
            #[cfg(not(unix))]
            Ok(Self {})
        }

        /// The next signal's name.
        async fn next(&mut self) -> &'static str {
            #[cfg(unix)]
            {
                tokio::select! {
                    _ = self.terminate.recv() => "SIGTERM",
                    _ = self.interrupt.recv() => "SIGINT",
                }
            }
            #[cfg(not(unix))]
            {
                let _ = tokio::signal::ctrl_c().await;
                "Ctrl-C"
            }
        }
    }
}
