//! Shared harness for the identity provider tests: a fresh database per test (a SQLite temp file,
//! or a new PostgreSQL database that is dropped afterwards), a real HTTP server on loopback, and a
//! tiny cookie jar.
#![allow(dead_code)]

pub mod mail_flows;
pub mod proxy;

use auth_idp::{Idp, IdpConfig, PasswordParams};
use rand_core::RngCore;
use reqwest::header::{HeaderMap, HeaderValue, SET_COOKIE};
use serde_json::Value;
use sqlx::Connection;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// Runs each listed `async fn name(kind: Kind)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::idp_support::Kind::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::idp_support::Kind::Postgres).await
                }
            )*
        }
    };
}

pub fn random_suffix() -> String {
    let mut b = [0u8; 8];
    rand_core::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The server the PostgreSQL tests create their databases on: `TEST_DATABASE_URL` (what
/// `cargo xtask test` sets, starting a server when none answers), or the older
/// `IDP_TEST_POSTGRES_URL`, or a local default.
fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .or_else(|_| std::env::var("IDP_TEST_POSTGRES_URL"))
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh, private database, removed on drop.
#[derive(Debug)]
pub struct TestDb {
    pub kind: Kind,
    pub url: String,
    dir: Option<PathBuf>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(kind: Kind) -> Self {
        match kind {
            Kind::Sqlite => {
                let dir = std::env::temp_dir().join(format!("idp-test-{}", random_suffix()));
                // The database folder itself is created by the provider (first-start behaviour).
                let url = format!("sqlite://{}/db/app.db?mode=rwc", dir.display());
                Self {
                    kind,
                    url,
                    dir: Some(dir),
                    pg_name: None,
                }
            }
            Kind::Postgres => {
                let name = format!("t_{}", random_suffix());
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("PostgreSQL must be reachable (TEST_DATABASE_URL)");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let _ = conn.close().await;
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                Self {
                    kind,
                    url: format!("{base}/{name}"),
                    dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Runs raw SQL against the test database.
    pub async fn exec(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
    }

    /// A single i64 from a query.
    pub async fn scalar(&self, sql: &str) -> i64 {
        use sqlx::Row;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.unwrap();
        let v: i64 = sqlx::query(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        let _ = conn.close().await;
        v
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            let admin = postgres_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                        let _ = conn.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Cheap argon2 parameters so the suites stay fast (production defaults are measured separately).
pub const FAST_HASH: PasswordParams = PasswordParams {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// A bound listener and its public URL (bind first, so the config can name the real port).
pub async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

pub fn config(db: &TestDb, public_url: &str) -> IdpConfig {
    IdpConfig::new(db.url.clone(), public_url)
        .unwrap()
        .with_password_params(FAST_HASH)
}

/// A running provider over real HTTP.
#[derive(Debug)]
pub struct Server {
    pub idp: Idp,
    pub base: String,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Starts a server for a config built by `make` from the public URL.
    pub async fn start_with(db: &TestDb, make: impl FnOnce(IdpConfig) -> IdpConfig) -> Self {
        let (listener, base) = listener().await;
        let idp = Idp::connect(make(config(db, &base))).await.unwrap();
        Self::serve(idp, listener, base)
    }

    pub async fn start(db: &TestDb) -> Self {
        Self::start_with(db, |c| c).await
    }

    pub fn serve(idp: Idp, listener: tokio::net::TcpListener, base: String) -> Self {
        // The provider's routes inside its whole stack (origin check, auth layer), as an app
        // serves them.
        let app = idp
            .stack(auth_server::AuthConfig::embedded())
            .unwrap()
            .apply(axum::Router::new());
        Self::serve_app(idp, listener, base, app)
    }

    /// Serves `app` (built around `idp`) with client addresses, like a deployment.
    pub fn serve_app(
        idp: Idp,
        listener: tokio::net::TcpListener,
        base: String,
        app: axum::Router,
    ) -> Self {
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            idp,
            base,
            http,
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(&self, path: &str, body: Value, jar: &mut Jar) -> Resp {
        let req = self.http.post(self.url(path)).json(&body);
        Resp::read(jar.send(req).await, jar).await
    }

    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)], jar: &mut Jar) -> Resp {
        let req = self.http.post(self.url(path)).form(fields);
        Resp::read(jar.send(req).await, jar).await
    }

    pub async fn get(&self, path: &str, jar: &mut Jar) -> Resp {
        let req = self.http.get(self.url(path));
        Resp::read(jar.send(req).await, jar).await
    }

    pub async fn sign_up(&self, email: &str, password: &str, jar: &mut Jar) -> Resp {
        self.post_json(
            "/auth/sign-up",
            serde_json::json!({"email": email, "password": password, "name": "Test User"}),
            jar,
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str, jar: &mut Jar) -> Resp {
        self.post_json(
            "/auth/sign-in",
            serde_json::json!({"email": email, "password": password}),
            jar,
        )
        .await
    }
}

/// A minimal cookie jar (name → value) fed by `Set-Cookie` headers.
#[derive(Debug, Clone, Default)]
pub struct Jar {
    pub cookies: BTreeMap<String, String>,
    pub extra: Vec<(&'static str, String)>,
}

impl Jar {
    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(
            self.cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }

    /// The jar's cookies as request headers (for the refresh hook).
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(c) = self.header() {
            h.insert(http::header::COOKIE, HeaderValue::from_str(&c).unwrap());
        }
        h
    }

    async fn send(&self, mut req: reqwest::RequestBuilder) -> reqwest::Response {
        if let Some(c) = self.header() {
            req = req.header("cookie", c);
        }
        for (k, v) in &self.extra {
            req = req.header(*k, v);
        }
        req.send().await.unwrap()
    }

    /// Applies `Set-Cookie` headers (removals included).
    pub fn absorb(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(SET_COOKIE) {
            let c = cookie::Cookie::parse(v.to_str().unwrap().to_owned()).unwrap();
            let removed = c.max_age().is_some_and(|a| a.is_zero()) || c.value().is_empty();
            if removed {
                self.cookies.remove(c.name());
            } else {
                self.cookies
                    .insert(c.name().to_owned(), c.value().to_owned());
            }
        }
    }

    pub fn absorb_values(&mut self, values: &[HeaderValue]) {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(SET_COOKIE, v.clone());
        }
        self.absorb(&h);
    }
}

/// A response, read fully.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    async fn read(r: reqwest::Response, jar: &mut Jar) -> Self {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        jar.absorb(&headers);
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("<no error field>")
    }
}

/// What the provider answers the auth layer for a jar's `__refresh` cookie.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a test helper, matched once and dropped
pub enum Renewal {
    /// The jar has no refresh cookie (the layer would not ask).
    NoCookie,
    /// Unknown, revoked or expired: the layer signs the request out and clears the cookies.
    Ended,
    /// A new token.
    Renewed(auth_server::Renewed),
}

/// Asks the provider, as the auth layer does, to renew the session behind `jar`'s refresh cookie.
pub async fn renew(idp: &Idp, jar: &Jar) -> Renewal {
    use auth_server::SessionBackend;
    let Some(secret) = jar.cookies.get("__refresh") else {
        return Renewal::NoCookie;
    };
    match idp.refresh(secret).await.expect("the store answers") {
        Some(renewed) => Renewal::Renewed(renewed),
        None => Renewal::Ended,
    }
}

/// Verifies one of the provider's tokens as the auth layer does, without leeway: its claims when
/// the signature, issuer and expiry hold.
pub async fn verify(idp: &Idp, token: &str) -> Option<auth_types::SessionClaims> {
    let config = auth_server::AuthConfig::embedded()
        .with_issuer(idp.config().issuer.clone())
        .with_leeway_secs(0);
    let keys = auth_server::KeyStore::static_set(idp.jwks());
    let verifier = auth_server::Verifier::new(&config, keys).unwrap();
    verifier.verify(token).await.ok()
}
