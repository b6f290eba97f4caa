//! A real OpenID provider for the social sign-in tests: `oidc-provider` (npm, certified, installed
//! by `cargo xtask install-tools`) run by `tests/e2e/oidc/provider.mjs` on a free loopback port,
//! killed when the [`OidcProvider`] value is dropped. [`authorize_over_http`] plays the browser at
//! it (login form, consent form) and hands back the redirect to the client's callback.
//!
//! Shared by the browser tests (`e2e::oidc`) and auth-idp's tests (`#[path]` include): it uses
//! only std, tokio, serde_json, reqwest (no cookie feature) and url.
#![allow(dead_code)] // each including test binary uses a part

// Also included on its own (`#[path]`) by auth-idp's tests, so it brings its own copy.
#[allow(clippy::duplicate_mod)]
#[path = "ports.rs"]
mod ports;
use ports::{free_port, unique};
use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A client registered at the provider (confidential, authorization code flow with PKCE; the
/// secret is accepted as HTTP Basic or in the form body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcClient {
    pub client_id: String,
    pub client_secret: String,
    /// Exact redirect URIs (plain `http://127.0.0.1:…` is allowed).
    pub redirect_uris: Vec<String>,
}

/// `oidc-provider`, running on loopback; killed on drop.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    port: u16,
    log: PathBuf,
}

/// How to get the provider installed, shown in every "cannot start" panic.
const HOW: &str = "run `cargo xtask install-tools` (installs oidc-provider) and set \
                   OIDC_PROVIDER_DIR to the folder it names, e.g. \
                   ~/.cache/dioxus-auth-starter/oidc-provider-<version>";

impl OidcProvider {
    /// Starts the provider with `clients` on a free loopback port and waits for its `ready`
    /// line. Panics (never skips) when node, the script or oidc-provider is missing; the
    /// provider's log is in the message.
    pub async fn start(clients: &[OidcClient]) -> Self {
        Self::start_on(None, clients).await
    }

    /// [`start`](Self::start) on `port`: for a client that must be configured with the issuer
    /// before the provider runs (the app server, whose own port the redirect URI names).
    pub async fn start_on_port(port: u16, clients: &[OidcClient]) -> Self {
        Self::start_on(Some(port), clients).await
    }

    async fn start_on(fixed_port: Option<u16>, clients: &[OidcClient]) -> Self {
        let script = provider_script();
        let dir = provider_dir();
        let clients = serde_json::Value::Array(
            clients
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "client_id": c.client_id,
                        "client_secret": c.client_secret,
                        "redirect_uris": c.redirect_uris,
                    })
                })
                .collect(),
        )
        .to_string();
        let mut last_log = String::new();
        // A free port can be taken between our probe and node's bind: try new ports then.
        for _ in 0..3 {
            let port = fixed_port.unwrap_or_else(free_port);
            let log = std::env::temp_dir().join(format!(
                "oidc-provider-{}-{port}-{}.log",
                std::process::id(),
                unique()
            ));
            let file = std::fs::File::create(&log).expect("creating the oidc-provider log file");
            let child = Command::new("node")
                .arg(&script)
                .arg(port.to_string())
                .arg(&clients)
                .env("OIDC_PROVIDER_DIR", &dir)
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("oidc-provider log file"))
                .stderr(file)
                .spawn()
                .unwrap_or_else(|e| {
                    let _ = std::fs::remove_file(&log);
                    panic!("could not start `node` (Node.js is needed for the OIDC tests): {e}")
                });
            let mut provider = Self { child, port, log };
            if provider.wait_until_ready(Duration::from_secs(30)).await {
                return provider;
            }
            last_log = std::fs::read_to_string(&provider.log).unwrap_or_default();
        }
        panic!(
            "oidc-provider did not start (3 tries; {HOW}); its last output:\n{last_log}\nscript: {}",
            script.display()
        );
    }

    /// Whether the provider printed `ready` before `timeout` (false: it exited or hung).
    async fn wait_until_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log.lines().any(|l| l.trim() == "ready") {
                return true;
            }
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }

    /// The issuer, `http://127.0.0.1:PORT` (discovery at `/.well-known/openid-configuration`).
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything the provider wrote so far (warnings, `server_error` traces).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Plays the browser at the provider: opens `authorization_url`, follows the provider's own
/// redirects (keeping its cookies), signs in as `login` (any password; the account id is the
/// login, see provider.mjs), approves the consent page, and returns the first redirect that
/// leaves the provider, not followed: the client's callback with `code` and `state` (or an
/// `error`). Panics on an unexpected page, showing it.
pub async fn authorize_over_http(authorization_url: &str, login: &str) -> String {
    play(authorization_url, login, Decision::Approve).await
}

/// [`authorize_over_http`], but the user signs in and then cancels at the consent page
/// (devInteractions' `/interaction/:uid/abort`): returns the callback URL with
/// `error=access_denied`.
pub async fn deny_over_http(authorization_url: &str, login: &str) -> String {
    play(authorization_url, login, Decision::Deny).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decision {
    Approve,
    Deny,
}

/// The next request the "browser" makes.
#[derive(Debug)]
enum Step {
    Get(url::Url),
    Post(url::Url, Vec<(&'static str, String)>),
}

async fn play(authorization_url: &str, login: &str, decision: Decision) -> String {
    let start = url::Url::parse(authorization_url)
        .unwrap_or_else(|e| panic!("not a URL ({e}): {authorization_url}"));
    let origin = start.origin();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("building an HTTP client");
    let mut jar = BTreeMap::<String, String>::new();
    let mut step = Step::Get(start);
    let mut trail = Vec::new();
    for _ in 0..20 {
        let (url, request) = match &step {
            Step::Get(url) => (url.clone(), http.get(url.clone())),
            Step::Post(url, form) => (url.clone(), http.post(url.clone()).form(form)),
        };
        trail.push(format!("{step:?}"));
        let request = if jar.is_empty() {
            request
        } else {
            let cookies: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request.header(reqwest::header::COOKIE, cookies.join("; "))
        };
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("the provider did not answer {url}: {e}"));
        store_cookies(&mut jar, &response);
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{status} without Location from {url}"));
            let next = url
                .join(location)
                .unwrap_or_else(|e| panic!("bad Location {location:?} from {url}: {e}"));
            if next.origin() != origin {
                return next.to_string();
            }
            step = Step::Get(next);
            continue;
        }
        let body = response.text().await.unwrap_or_default();
        assert!(
            status.is_success(),
            "the provider answered {status} to {url}: {body}\nsteps: {trail:#?}"
        );
        step = if body.contains(r#"name="prompt" value="login""#) {
            let action = form_action(&body, &url);
            Step::Post(
                action,
                vec![
                    ("prompt", "login".to_owned()),
                    ("login", login.to_owned()),
                    ("password", "any password".to_owned()),
                ],
            )
        } else if body.contains(r#"name="prompt" value="consent""#) {
            match decision {
                Decision::Approve => {
                    Step::Post(form_action(&body, &url), vec![("prompt", "consent".into())])
                }
                Decision::Deny => Step::Get(abort_link(&body, &url)),
            }
        } else {
            panic!("unexpected page at {url} (not a login or consent form):\n{body}");
        };
    }
    panic!("more than 20 steps without leaving the provider: {trail:#?}");
}

/// Keeps the `Set-Cookie`s of `response` (one host, so names are enough); a cookie set empty
/// or expired in the past is removed, as a browser would.
fn store_cookies(jar: &mut BTreeMap<String, String>, response: &reqwest::Response) {
    for value in response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        let mut parts = value.split(';');
        let Some((name, val)) = parts.next().and_then(|p| p.split_once('=')) else {
            continue;
        };
        let expired = parts.any(|attr| {
            let attr = attr.trim().to_ascii_lowercase();
            attr.starts_with("expires=") && attr.contains("1970")
                || attr == "max-age=0"
                || attr.starts_with("max-age=-")
        });
        let name = name.trim().to_owned();
        if expired || val.trim().is_empty() {
            jar.remove(&name);
        } else {
            jar.insert(name, val.trim().to_owned());
        }
    }
}

/// The `action` of the page's form, resolved against the page's URL.
fn form_action(html: &str, page: &url::Url) -> url::Url {
    let action = attribute_after(html, "<form", "action")
        .unwrap_or_else(|| panic!("no form action on {page}:\n{html}"));
    page.join(&action)
        .unwrap_or_else(|e| panic!("bad form action {action:?} on {page}: {e}"))
}

/// The devInteractions "[ Cancel ]" link (`/interaction/:uid/abort`), resolved.
fn abort_link(html: &str, page: &url::Url) -> url::Url {
    let href = html
        .match_indices("href=\"")
        .map(|(i, m)| &html[i + m.len()..])
        .filter_map(|rest| rest.split_once('"').map(|(v, _)| html_unescape(v)))
        .find(|href| href.ends_with("/abort"))
        .unwrap_or_else(|| panic!("no abort link on {page}:\n{html}"));
    page.join(&href)
        .unwrap_or_else(|e| panic!("bad abort link {href:?} on {page}: {e}"))
}

/// The value of `attr="…"` in the first `tag` element (unescaped).
fn attribute_after(html: &str, tag: &str, attr: &str) -> Option<String> {
    let start = html.find(tag)?;
    let element = &html[start..start + html[start..].find('>')?];
    let key = format!("{attr}=\"");
    let value = &element[element.find(&key)? + key.len()..];
    Some(html_unescape(value.split_once('"')?.0))
}

fn html_unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// provider.mjs: `OIDC_PROVIDER_SCRIPT` when set, else `tests/e2e/oidc/provider.mjs` in the
/// current folder or the nearest one above it (tests run in their crate's folder).
fn provider_script() -> PathBuf {
    if let Some(path) = std::env::var_os("OIDC_PROVIDER_SCRIPT").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "OIDC_PROVIDER_SCRIPT={} is not a file",
            path.display()
        );
        return path;
    }
    let cwd = std::env::current_dir().expect("the current folder");
    cwd.ancestors()
        .map(|dir| dir.join("tests/e2e/oidc/provider.mjs"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "tests/e2e/oidc/provider.mjs is not in {} or a folder above it: set \
                 OIDC_PROVIDER_SCRIPT to it",
                cwd.display()
            )
        })
}

/// Where oidc-provider is installed: `OIDC_PROVIDER_DIR` (set by `cargo xtask test`), else the
/// newest `oidc-provider-*` folder `cargo xtask install-tools` keeps in the tool cache.
fn provider_dir() -> PathBuf {
    let installed = |dir: &Path| {
        dir.join("node_modules/oidc-provider/package.json")
            .is_file()
    };
    if let Some(dir) = std::env::var_os("OIDC_PROVIDER_DIR").filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        assert!(
            installed(&dir),
            "OIDC_PROVIDER_DIR={} has no node_modules/oidc-provider: {HOW}",
            dir.display()
        );
        return dir;
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("dioxus-auth-starter"));
    let mut found: Vec<PathBuf> = cache
        .and_then(|c| std::fs::read_dir(c).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("oidc-provider-"))
        })
        .filter(|p| installed(p))
        .collect();
    // Newest by version number (9.13 after 9.9), not by name.
    found.sort_by_key(|p| {
        p.to_string_lossy()
            .rsplit('-')
            .next()
            .unwrap_or_default()
            .split('.')
            .map(|n| n.parse::<u64>().unwrap_or(0))
            .collect::<Vec<_>>()
    });
    found.pop().unwrap_or_else(|| {
        panic!("OIDC_PROVIDER_DIR is not set and oidc-provider is not installed: {HOW}")
    })
}
