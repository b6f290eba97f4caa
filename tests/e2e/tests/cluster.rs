//! Three release instances on one PostgreSQL database behind HAProxy behave as one app
//! (docs/deploying.md, "Several instances behind one proxy"):
//!
//! 1. a session made on one instance works on every other, and a sign-out on one is honoured by
//!    all: at once where the session row is re-checked, within one token lifetime everywhere;
//! 2. the sign-in and sign-up limits hold for the cluster, not per instance;
//! 3. a rolling restart (SIGTERM, start again, back in HAProxy, next) under load loses no request;
//! 4. a key rotation under load gives no unexpected 401, and new tokens carry the new key;
//! 5. SIGKILL of one instance under sign-up load loses no acknowledged account and leaves no
//!    half-made one.
//!
//! Each test prints what it measured. They start real processes and take minutes, so they are
//! ignored by default: `cargo xtask cluster-test` installs HAProxy, finds or starts PostgreSQL,
//! builds the bundle and runs them (`APP_BUNDLE_DIR=<bundle> cargo test -p e2e --test cluster --
//! --ignored --nocapture --test-threads 1` by hand). The first test below is not ignored: it
//! keeps the HAProxy configuration in docs/deploying.md the one tested here.

use e2e::cluster::{Cluster, HAPROXY_CONFIG, ProxyTally, Restart, haproxy_config, ms, percentile};
use e2e::http::CLIENT_ADDRESS_HEADER;
use reqwest::header::{AUTHORIZATION, COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PASSWORD: &str = "correct horse battery";
/// A session token's lifetime in these tests: short, so a sign-out reaches the tokens already
/// handed out quickly and the load renews its tokens (on any instance) every few seconds.
const TOKEN_TTL_SECS: u64 = 5;
/// Every instance's settings (besides `DATABASE_URL` and `AUTH_PUBLIC_URL`, which the cluster
/// sets). No clock-skew leeway: all instances share this machine's clock, and a token then
/// stops verifying within a second of its `exp` (whole seconds).
const SETTINGS: [(&str, &str); 2] = [
    // TOKEN_TTL_SECS
    ("AUTH_SESSION_TOKEN_TTL_SECS", "5"),
    ("AUTH_CLOCK_SKEW_SECS", "0"),
];
/// The sign-in limit's default: failed sign-ins per (account, client address) per 15 minutes.
const SIGN_IN_PAIR_LIMIT: usize = 10;
/// The sign-up limit per client address the limit test sets on every instance.
const SIGN_UP_LIMIT: usize = 6;
/// What a wrong password is answered (`FormError::InvalidCredentials`).
const WRONG_CREDENTIALS: &str = r#"{"error":"Invalid email or password"}"#;
/// Concurrent clients of the load (each signed in as a user of its own).
const WORKERS: usize = 6;

type Cookies = BTreeMap<String, String>;

// ---- HTTP -----------------------------------------------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        // Below HAProxy's `timeout http-keep-alive` (10 s): a connection the proxy may be
        // closing is never picked for a request.
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

/// A client address of its own for each (scenario, n), sent in [`CLIENT_ADDRESS_HEADER`] (the
/// instances trust it): the limits count per address, so scenarios must not share one.
fn address(scenario: u8, n: u16) -> String {
    let [hi, lo] = n.to_be_bytes();
    std::net::Ipv4Addr::new(172, 16 + scenario, hi, lo).to_string()
}

/// One answer, read completely.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// The cookies it sets (an empty value is a removal).
    cookies: Cookies,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Result<Self, String> {
        let status = response.status().as_u16();
        let cookies = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next()?.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| format!("{status}, body cut off: {e}"))?;
        Ok(Self {
            status,
            cookies,
            retry_after,
            body,
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Both session cookies, set (not cleared).
    fn session(&self) -> Option<Cookies> {
        let set = |name: &str| self.cookies.get(name).is_some_and(|v| !v.is_empty());
        (set("__session") && set("__refresh")).then(|| self.cookies.clone())
    }
}

/// What a request carries to say who it is.
#[derive(Debug, Clone, Copy)]
enum Credentials<'a> {
    None,
    Bearer(&'a str),
    /// A `Cookie` header value.
    Cookies(&'a str),
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    address: &str,
    credentials: Credentials<'_>,
) -> Result<Answer, String> {
    let request = http.get(url).header(CLIENT_ADDRESS_HEADER, address);
    let request = match credentials {
        Credentials::None => request,
        Credentials::Bearer(token) => request.header(AUTHORIZATION, format!("Bearer {token}")),
        Credentials::Cookies(cookies) => request.header(COOKIE, cookies),
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    Answer::read(response).await
}

/// A same-origin JSON `POST` (`origin` is the cluster's public URL, whichever instance it goes
/// to), from `address`, with optional cookies.
async fn post(
    http: &reqwest::Client,
    url: &str,
    origin: &str,
    address: &str,
    body: &Value,
    cookies: Option<&str>,
) -> Result<Answer, String> {
    let mut request = http
        .post(url)
        .header(ORIGIN, origin)
        .header(CLIENT_ADDRESS_HEADER, address)
        .json(body);
    if let Some(cookies) = cookies {
        request = request.header(COOKIE, cookies);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    Answer::read(response).await
}

fn cookie_header(cookies: &Cookies, names: &[&str]) -> String {
    cookies
        .iter()
        .filter(|(k, v)| names.contains(&k.as_str()) && !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

const BOTH: [&str; 2] = ["__session", "__refresh"];

async fn sign_up(
    http: &reqwest::Client,
    base: &str,
    origin: &str,
    address: &str,
    email: &str,
) -> Result<Answer, String> {
    let body = json!({ "email": email, "password": PASSWORD, "name": name_of(email) });
    post(
        http,
        &format!("{base}/auth/sign-up"),
        origin,
        address,
        &body,
        None,
    )
    .await
}

/// The name each account signs up with: a signed-in page shows it (and a signed-out one cannot).
fn name_of(email: &str) -> String {
    format!("Name of {email}")
}

async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    origin: &str,
    address: &str,
    email: &str,
    password: &str,
) -> Result<Answer, String> {
    let body = json!({ "email": email, "password": password });
    post(
        http,
        &format!("{base}/auth/sign-in"),
        origin,
        address,
        &body,
        None,
    )
    .await
}

// ---- tokens ---------------------------------------------------------------------------------

/// What a test reads from a session token (its signature is the instances' business).
#[derive(Debug, Clone)]
struct Token {
    kid: String,
    iss: String,
    sub: String,
    iat: i64,
    exp: i64,
}

impl Token {
    /// The header and claims of a JWT; `None` for anything else.
    fn parse(jwt: &str) -> Option<Self> {
        use base64::Engine as _;
        let mut parts = jwt.split('.');
        let mut part = || -> Option<Value> {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts.next()?)
                .ok()?;
            serde_json::from_slice(&bytes).ok()
        };
        let (header, claims) = (part()?, part()?);
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Some(Self {
            kid: text(&header["kid"]),
            iss: text(&claims["iss"]),
            sub: text(&claims["sub"]),
            iat: claims["iat"].as_i64()?,
            exp: claims["exp"].as_i64()?,
        })
    }
}

/// `at` in Unix seconds (with fractions).
fn unix_time(at: Instant) -> f64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    now - at.elapsed().as_secs_f64()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// ---- the load -------------------------------------------------------------------------------

/// One kind of request of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// `GET /api/me` with `Authorization: Bearer` (verified without the database).
    ApiBearer,
    /// `GET /api/me` with the session cookies.
    ApiCookies,
    /// `GET /` with the session cookies: a server-rendered page of the signed-in user.
    Page,
    /// `POST /auth/sign-in` (a password hash; a new session and token).
    SignIn,
    /// `GET /api/me` with only the refresh cookie: the token was about to expire, so the
    /// instance renews the session (as the browser client does before `exp`).
    Renew,
}

impl Op {
    const CYCLE: [Self; 4] = [Self::ApiBearer, Self::Page, Self::ApiCookies, Self::SignIn];

    fn label(self) -> &'static str {
        match self {
            Self::ApiBearer => "GET /api/me (Bearer)",
            Self::ApiCookies => "GET /api/me (cookies)",
            Self::Page => "GET / (SSR, signed in)",
            Self::SignIn => "POST /auth/sign-in",
            Self::Renew => "GET /api/me (renewal)",
        }
    }
}

/// A signed-in client of the load.
#[derive(Debug, Clone)]
struct User {
    email: String,
    id: String,
    address: String,
    cookies: Cookies,
}

impl User {
    fn token(&self) -> Option<Token> {
        Token::parse(self.cookies.get("__session")?)
    }

    /// Takes the cookies an answer sets; a removal means the session was lost.
    fn take_cookies(&mut self, answer: &Answer) -> Result<(), String> {
        for (name, value) in &answer.cookies {
            if !BOTH.contains(&name.as_str()) {
                continue;
            }
            if value.is_empty() {
                return Err(format!("{} cleared the session cookies", answer.status));
            }
            self.cookies.insert(name.clone(), value.clone());
        }
        Ok(())
    }
}

/// [`WORKERS`] users, signed up through the proxy, each from an address of its own.
async fn load_users(cluster: &Cluster, scenario: u8) -> Vec<User> {
    let http = client();
    let mut users = Vec::new();
    for n in 0..WORKERS {
        let email = format!("load-{scenario}-{n}@cluster.test");
        let address = address(scenario, 100 + n as u16);
        let answer = sign_up(
            &http,
            cluster.public_url(),
            cluster.public_url(),
            &address,
            &email,
        )
        .await
        .unwrap_or_else(|e| panic!("sign-up of {email}: {e}"));
        assert_eq!(answer.status, 201, "sign-up of {email}: {}", answer.body);
        let cookies = answer
            .session()
            .expect("a sign-up sets the session cookies");
        users.push(User {
            id: answer.json()["user"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            email,
            address,
            cookies,
        });
    }
    users
}

#[derive(Debug)]
struct Sample {
    op: Op,
    latency: Duration,
    failure: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    samples: Mutex<Vec<Sample>>,
    /// Every session token the load was handed, in order.
    tokens: Mutex<Vec<Token>>,
}

/// Signed-in clients hammering the proxy until stopped: each cycles through [`Op::CYCLE`],
/// renewing its token when it has less than two seconds left.
#[derive(Debug)]
struct Load {
    shared: Arc<Shared>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    began: Instant,
}

impl Load {
    fn start(base: &str, users: Vec<User>) -> Self {
        let shared = Arc::new(Shared::default());
        let workers = users
            .into_iter()
            .map(|user| {
                let (shared, base) = (shared.clone(), base.to_owned());
                tokio::spawn(async move { worker(shared, base, user).await })
            })
            .collect();
        Self {
            shared,
            workers,
            began: Instant::now(),
        }
    }

    /// Requests answered so far.
    fn requests(&self) -> usize {
        self.shared
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    async fn stop(self) -> LoadReport {
        self.shared.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.expect("a load worker panicked");
        }
        let samples = std::mem::take(
            &mut *self
                .shared
                .samples
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let tokens =
            std::mem::take(&mut *self.shared.tokens.lock().unwrap_or_else(|e| e.into_inner()));
        LoadReport {
            samples,
            tokens,
            duration: self.began.elapsed(),
        }
    }
}

async fn worker(shared: Arc<Shared>, base: String, mut user: User) {
    let http = client();
    let mut n = 0;
    while !shared.stop.load(Ordering::SeqCst) {
        let mut op = Op::CYCLE[n % Op::CYCLE.len()];
        n += 1;
        if user.token().is_none_or(|t| t.exp - unix_now() < 2) {
            op = Op::Renew;
        }
        let began = Instant::now();
        let result = request(op, &http, &base, &mut user).await;
        let latency = began.elapsed();
        if let Ok(Some(token)) = &result {
            shared
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(token.clone());
        }
        shared
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Sample {
                op,
                latency,
                failure: result.err(),
            });
    }
}

/// Sends one request of kind `op` as `user` through the proxy at `base`, and checks its answer;
/// the new session token it handed out, if any.
async fn request(
    op: Op,
    http: &reqwest::Client,
    base: &str,
    user: &mut User,
) -> Result<Option<Token>, String> {
    let before = user.cookies.get("__session").cloned();
    let answer = match op {
        Op::ApiBearer => {
            let token = user.cookies["__session"].clone();
            get(
                http,
                &format!("{base}/api/me"),
                &user.address,
                Credentials::Bearer(&token),
            )
            .await?
        }
        Op::ApiCookies | Op::Page | Op::Renew => {
            let names: &[&str] = if op == Op::Renew {
                &["__refresh"]
            } else {
                &BOTH
            };
            let path = if op == Op::Page { "/" } else { "/api/me" };
            let cookies = cookie_header(&user.cookies, names);
            get(
                http,
                &format!("{base}{path}"),
                &user.address,
                Credentials::Cookies(&cookies),
            )
            .await?
        }
        Op::SignIn => sign_in(http, base, base, &user.address, &user.email, PASSWORD).await?,
    };
    if answer.status != 200 {
        return Err(format!(
            "{} {}",
            answer.status,
            answer.body.chars().take(200).collect::<String>()
        ));
    }
    match op {
        Op::ApiBearer | Op::ApiCookies | Op::Renew => {
            let me = answer.json();
            if me["user_id"] != user.id.as_str() {
                return Err(format!("200 for someone else: {}", answer.body));
            }
        }
        Op::Page => {
            if !answer.body.contains(&name_of(&user.email)) {
                return Err("200, but the page is not signed in as the user".into());
            }
        }
        Op::SignIn => {
            // A new session, checked and then left alone: the client keeps its first one, whose
            // token keeps expiring and being renewed (on whichever instance the proxy picks).
            let session = answer.session().ok_or("200 without the session cookies")?;
            return Ok(Token::parse(&session["__session"]));
        }
    }
    user.take_cookies(&answer)?;
    if op == Op::Renew && user.cookies.get("__session") == before.as_ref() {
        return Err("the renewal set no new token".into());
    }
    let after = user.cookies.get("__session");
    Ok(user.token().filter(|_| after != before.as_ref()))
}

/// What the load saw.
#[derive(Debug)]
struct LoadReport {
    samples: Vec<Sample>,
    tokens: Vec<Token>,
    duration: Duration,
}

impl LoadReport {
    fn failures(&self) -> Vec<(Op, &str)> {
        self.samples
            .iter()
            .filter_map(|s| s.failure.as_deref().map(|f| (s.op, f)))
            .collect()
    }

    fn unauthorized(&self) -> usize {
        self.failures()
            .iter()
            .filter(|(_, f)| f.starts_with("401"))
            .count()
    }

    /// Requests, failures, p50/p99 in all and per kind of request, all through the proxy.
    fn print(&self, phase: &str) {
        let mut all: Vec<Duration> = self.samples.iter().map(|s| s.latency).collect();
        let failures = self.failures();
        eprintln!(
            "cluster: {phase}: {} requests through the proxy in {:.1} s ({:.0}/s), {} failed \
             ({} × 401); p50 {}, p99 {}",
            self.samples.len(),
            self.duration.as_secs_f64(),
            self.samples.len() as f64 / self.duration.as_secs_f64(),
            failures.len(),
            self.unauthorized(),
            ms(percentile(&mut all, 50.0)),
            ms(percentile(&mut all, 99.0)),
        );
        let mut per_op: BTreeMap<Op, Vec<Duration>> = BTreeMap::new();
        for s in &self.samples {
            per_op.entry(s.op).or_default().push(s.latency);
        }
        for (op, latencies) in &mut per_op {
            eprintln!(
                "cluster:   {:<24} {:>6}  p50 {:>9}  p99 {:>9}",
                op.label(),
                latencies.len(),
                ms(percentile(latencies, 50.0)),
                ms(percentile(latencies, 99.0)),
            );
        }
        for (op, failure) in failures.iter().take(10) {
            eprintln!("cluster:   failed: {}: {failure}", op.label());
        }
    }
}

// ---- 0. the documented configuration is the tested one --------------------------------------

/// docs/deploying.md shows [`HAPROXY_CONFIG`] filled in for three instances; this keeps the two
/// the same (runs with the other e2e tests: no processes, no bundle).
#[test]
fn the_documented_haproxy_configuration_is_the_tested_one() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/deploying.md"),
    )
    .expect("read docs/deploying.md");
    let servers: Vec<(String, String)> = (1..=3)
        .map(|i| (format!("app{i}"), format!("10.0.0.1{i}:8080")))
        .collect();
    let documented = haproxy_config(":80", "127.0.0.1:8404", &servers);
    assert!(
        docs.contains(&documented),
        "docs/deploying.md no longer shows the HAProxy configuration the cluster test uses; \
         put this there (HAPROXY_CONFIG in tests/e2e/src/cluster.rs):\n{documented}"
    );
    assert!(HAPROXY_CONFIG.contains("retry-on conn-failure empty-response response-timeout"));
}

// ---- 1. sessions ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by cargo xtask cluster-test"]
async fn a_session_works_on_every_instance_and_sign_out_reaches_them_all() {
    let cluster = Cluster::start(3, &SETTINGS).await;
    let http = client();
    let origin = cluster.public_url();
    let me = address(1, 1);
    let email = "shared@cluster.test";
    let [first, second, third] = [0, 1, 2].map(|i| cluster.instance(i));

    // Signed up on the first instance; the token's issuer is the proxy's URL, not the instance's.
    let up = sign_up(&http, &first.base_url, origin, &me, email)
        .await
        .unwrap();
    assert_eq!(up.status, 201, "sign-up: {}", up.body);
    let mut jar = up.session().expect("session cookies");
    let token = Token::parse(&jar["__session"]).expect("a JWT");
    assert_eq!(token.iss, origin.trim_end_matches('/'));

    // Works on every instance: the token (Bearer, no database), the session row (`/auth/session`
    // re-checks it), a server-rendered page.
    for instance in cluster.instances() {
        let r = get(
            &http,
            &instance.url("/api/me"),
            &me,
            Credentials::Bearer(&jar["__session"]),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 200, "{} Bearer: {}", instance.name, r.body);
        assert_eq!(r.json()["user_id"], token.sub.as_str());
        let cookies = cookie_header(&jar, &BOTH);
        let r = get(
            &http,
            &instance.url("/auth/session"),
            &me,
            Credentials::Cookies(&cookies),
        )
        .await
        .unwrap();
        assert_eq!(
            r.json()["user"]["email"],
            email,
            "{}: {}",
            instance.name,
            r.body
        );
        let r = get(
            &http,
            &instance.url("/"),
            &me,
            Credentials::Cookies(&cookies),
        )
        .await
        .unwrap();
        assert!(
            r.status == 200 && r.body.contains(&name_of(email)),
            "{}: the page is not signed in ({})",
            instance.name,
            r.status
        );
    }

    // Renewed on the second instance (refresh cookie only); the new token works on the third.
    let refresh_only = cookie_header(&jar, &["__refresh"]);
    let r = get(
        &http,
        &second.url("/auth/session"),
        &me,
        Credentials::Cookies(&refresh_only),
    )
    .await
    .unwrap();
    assert_eq!(r.json()["user"]["email"], email, "renewal: {}", r.body);
    let renewed = r.session().expect("the renewal sets new cookies");
    assert_ne!(renewed["__refresh"], jar["__refresh"], "the secret rotates");
    jar = renewed;
    let r = get(
        &http,
        &third.url("/api/me"),
        &me,
        Credentials::Bearer(&jar["__session"]),
    )
    .await
    .unwrap();
    assert_eq!(
        r.status, 200,
        "renewed token on another instance: {}",
        r.body
    );

    // Signed out on the third instance.
    let token = Token::parse(&jar["__session"]).expect("a JWT");
    let cookies = cookie_header(&jar, &BOTH);
    let r = post(
        &http,
        &third.url("/auth/sign-out"),
        origin,
        &me,
        &json!({}),
        Some(&cookies),
    )
    .await
    .unwrap();
    let signed_out_at = Instant::now();
    assert!((200..300).contains(&r.status), "sign-out: {}", r.status);

    // At once on every instance: the session row is gone for whatever re-checks it, and the
    // refresh secret renews nothing.
    for instance in cluster.instances() {
        let r = get(
            &http,
            &instance.url("/auth/session"),
            &me,
            Credentials::Cookies(&cookies),
        )
        .await
        .unwrap();
        assert!(
            r.json()["user"].is_null(),
            "{} still shows the session after sign-out: {}",
            instance.name,
            r.body
        );
        let r = http
            .get(instance.url("/auth/token"))
            .header(ORIGIN, origin)
            .header(COOKIE, &cookies)
            .header(CLIENT_ADDRESS_HEADER, &me)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            401,
            "{}: /auth/token after sign-out",
            instance.name
        );
        let r = get(
            &http,
            &instance.url("/auth/session"),
            &me,
            Credentials::Cookies(&refresh_only),
        )
        .await
        .unwrap();
        assert!(
            r.json()["user"].is_null() && r.session().is_none(),
            "{} renewed a signed-out session: {}",
            instance.name,
            r.body
        );
    }
    let immediate = signed_out_at.elapsed();

    // The token itself is verified without the database: it works until it expires, then on
    // no instance. Polled on all three every 50 ms.
    let left_at_sign_out = token.exp as f64 - unix_time(signed_out_at);
    let mut refused_after: Vec<Option<Duration>> = vec![None; 3];
    let deadline = signed_out_at + Duration::from_secs(TOKEN_TTL_SECS + 3);
    while refused_after.iter().any(Option::is_none) && Instant::now() < deadline {
        for (i, instance) in cluster.instances().iter().enumerate() {
            if refused_after[i].is_some() {
                continue;
            }
            let r = get(
                &http,
                &instance.url("/api/me"),
                &me,
                Credentials::Bearer(&jar["__session"]),
            )
            .await
            .unwrap();
            match r.status {
                200 => {}
                401 => refused_after[i] = Some(signed_out_at.elapsed()),
                other => panic!("{}: Bearer after sign-out answered {other}", instance.name),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "cluster: sign-out on {}: the session row and the refresh secret refused by all 3 \
         instances within {} of the sign-out; the token ({left_at_sign_out:.1} s of its {} s \
         left) refused by each after {:?}",
        third.name,
        ms(immediate),
        TOKEN_TTL_SECS,
        refused_after
            .iter()
            .map(|d| d.map(ms).unwrap_or_else(|| "never".into()))
            .collect::<Vec<_>>()
    );
    // `exp` is in whole seconds and verified without leeway: refused from `exp + 1` on, at
    // most one lifetime and a second after the sign-out (0.5 s more for the polling).
    let by = Duration::from_secs_f64(left_at_sign_out.max(0.0) + 1.5);
    assert!(left_at_sign_out <= TOKEN_TTL_SECS as f64);
    for (instance, after) in cluster.instances().iter().zip(&refused_after) {
        assert!(
            after.is_some_and(|d| d <= by),
            "{} still took the signed-out token {by:?} after the sign-out ({after:?})",
            instance.name
        );
    }
}

// ---- 2. rate limits -------------------------------------------------------------------------

/// The counters are the cluster's: 30 wrong passwords for one account from one address, spread
/// over the three instances, get the pair's budget (10) once, not three times; 18 sign-ups from
/// one address get `AUTH_SIGN_UP_LIMIT_PER_ADDRESS` (6) once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by cargo xtask cluster-test"]
async fn the_sign_in_and_sign_up_limits_hold_for_the_cluster() {
    let mut settings = SETTINGS.to_vec();
    let sign_up_limit = SIGN_UP_LIMIT.to_string();
    settings.push(("AUTH_SIGN_UP_LIMIT_PER_ADDRESS", &sign_up_limit));
    let cluster = Cluster::start(3, &settings).await;
    let http = client();
    let origin = cluster.public_url();
    let instances = cluster.instances();

    let victim = "victim@cluster.test";
    let r = sign_up(
        &http,
        &instances[0].base_url,
        origin,
        &address(2, 1),
        victim,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);

    // Failed sign-ins: one account, one client address, round-robin over the instances.
    let attacker = address(2, 2);
    let mut sign_ins = String::new();
    for n in 0..3 * SIGN_IN_PAIR_LIMIT {
        let instance = &instances[n % instances.len()];
        let r = sign_in(
            &http,
            &instance.base_url,
            origin,
            &attacker,
            victim,
            "wrong password 1",
        )
        .await
        .unwrap();
        sign_ins.push(match (r.status, r.retry_after.is_some()) {
            (401, _) if r.body == WRONG_CREDENTIALS => 'W',
            (429, true) => 'L',
            _ => panic!(
                "{}: a wrong password answered {}: {}",
                instance.name, r.status, r.body
            ),
        });
    }

    // Sign-ups: one client address, new emails, round-robin over the instances.
    let signer = address(2, 3);
    let mut sign_ups = String::new();
    for n in 0..3 * SIGN_UP_LIMIT {
        let instance = &instances[n % instances.len()];
        let email = format!("limit-{n}@cluster.test");
        let r = sign_up(&http, &instance.base_url, origin, &signer, &email)
            .await
            .unwrap();
        sign_ups.push(match (r.status, r.retry_after.is_some()) {
            (201, _) => 'S',
            (429, true) => 'L',
            _ => panic!(
                "{}: a sign-up answered {}: {}",
                instance.name, r.status, r.body
            ),
        });
    }

    let count = |s: &str, c: char| s.chars().filter(|x| *x == c).count();
    eprintln!(
        "cluster: limits: {} wrong passwords over 3 instances: {} × wrong credentials, {} × 429 \
         (W = wrong credentials, L = 429, in order: {sign_ins}); {} sign-ups from one address: \
         {} created, {} × 429 ({sign_ups})",
        sign_ins.len(),
        count(&sign_ins, 'W'),
        count(&sign_ins, 'L'),
        sign_ups.len(),
        count(&sign_ups, 'S'),
        count(&sign_ups, 'L'),
    );
    let sign_ins_hold = count(&sign_ins, 'W') == SIGN_IN_PAIR_LIMIT;
    let sign_ups_hold = count(&sign_ups, 'S') == SIGN_UP_LIMIT;
    assert!(
        sign_ins_hold && sign_ups_hold,
        "the limits are per instance, not the cluster's: {} wrong-credential answers for one \
         (account, address) pair (the cluster's budget is {SIGN_IN_PAIR_LIMIT}: {sign_ins}), \
         {} sign-ups from one address (the budget is {SIGN_UP_LIMIT}: {sign_ups})",
        count(&sign_ins, 'W'),
        count(&sign_ups, 'S'),
    );
}

// ---- 3. rolling restart ---------------------------------------------------------------------

/// SIGTERM one instance at a time under load through the proxy, start it again on its port,
/// wait until HAProxy has it back, next (twice round): not one request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by cargo xtask cluster-test"]
async fn a_rolling_restart_under_load_loses_no_request() {
    let mut cluster = Cluster::start(3, &SETTINGS).await;
    let users = load_users(&cluster, 3).await;
    let mark = cluster.proxy.log_mark();
    let load = Load::start(cluster.public_url(), users);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = load.requests();

    // Twice round: more requests meet an instance on its way out or back.
    let mut restarts: Vec<(String, Restart)> = Vec::new();
    for _round in 0..2 {
        for i in 0..cluster.instances().len() {
            let restart = cluster.restart(i).await;
            restarts.push((cluster.instance(i).name.clone(), restart));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let report = load.stop().await;
    let tally = ProxyTally::of(&cluster.proxy.requests_since(mark).await);

    report.print("rolling restart");
    for (name, r) in &restarts {
        eprintln!(
            "cluster:   restart {name}: SIGTERM → exit ({}) {}, start → healthy {}, healthy → \
             up in HAProxy {}, SIGTERM → back in rotation {}",
            r.exit,
            ms(r.drain),
            ms(r.start),
            ms(r.back_in_rotation),
            ms(r.total),
        );
    }
    eprintln!("cluster:   {tally}");

    assert!(
        before > 50,
        "the load hardly ran before the restarts ({before} requests)"
    );
    for (name, r) in &restarts {
        assert!(r.exit.success(), "{name} exited with {} on SIGTERM", r.exit);
    }
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "{} of {} requests failed during the rolling restart; first: {:?}",
        failures.len(),
        report.samples.len(),
        failures.first()
    );
}

// ---- 4. key rotation ------------------------------------------------------------------------

/// `rotate-keys` on the live cluster under load: no request is refused, the new key is published
/// by every instance before it signs, and from its activation on every new token carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by cargo xtask cluster-test"]
async fn a_key_rotation_under_load_refuses_no_one() {
    let cluster = Cluster::start(3, &SETTINGS).await;
    let users = load_users(&cluster, 4).await;
    let old_kid = users[0].token().expect("a JWT").kid;
    let load = Load::start(cluster.public_url(), users);
    tokio::time::sleep(Duration::from_secs(3)).await;

    // The command takes a moment (it connects, reloads, inserts): not on a load worker's thread.
    let said = tokio::task::block_in_place(|| cluster.admin(&["rotate-keys"]));
    let rotated_at = Instant::now();
    let rotated_at_unix = unix_now();
    // "new signing key <kid> is published and signs from Unix time <t> (in 70 s); …"
    let words: Vec<&str> = said.split_whitespace().collect();
    let after = |word: &str| {
        words
            .iter()
            .position(|w| *w == word)
            .and_then(|i| words.get(i + 1))
            .copied()
            .unwrap_or_else(|| panic!("rotate-keys said: {said}"))
    };
    let new_kid = after("key").to_owned();
    let signs_from: i64 = after("time").parse().expect("a Unix time");
    assert_ne!(new_kid, old_kid);

    // Every instance publishes the new key (its JWKS is what its verifier holds) before it signs.
    let http = client();
    let mut published_after = Vec::new();
    for instance in cluster.instances() {
        loop {
            let jwks = get(
                &http,
                &instance.url("/.well-known/jwks.json"),
                "127.0.0.1",
                Credentials::None,
            )
            .await
            .unwrap()
            .json();
            let kids: Vec<&str> = jwks["keys"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|k| k["kid"].as_str())
                .collect();
            if kids.contains(&new_kid.as_str()) {
                assert!(
                    kids.contains(&old_kid.as_str()),
                    "old key unpublished early"
                );
                published_after.push(rotated_at.elapsed());
                break;
            }
            assert!(
                unix_now() < signs_from,
                "{} did not publish {new_kid} before it signs",
                instance.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // Load on until tokens minted after the activation have been used for a few lifetimes.
    let until = signs_from + 3 * TOKEN_TTL_SECS as i64;
    while unix_now() < until {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let report = load.stop().await;
    report.print("key rotation");

    // Tokens are issued in whole seconds: those of the activation's second or later carry the new
    // key; those of two seconds before or earlier, the old one.
    let new_tokens = report.tokens.iter().filter(|t| t.iat >= signs_from).count();
    let wrong_after: Vec<&Token> = report
        .tokens
        .iter()
        .filter(|t| t.iat >= signs_from && t.kid != new_kid)
        .collect();
    let wrong_before: Vec<&Token> = report
        .tokens
        .iter()
        .filter(|t| t.iat < signs_from - 1 && t.kid != old_kid)
        .collect();
    eprintln!(
        "cluster:   rotate-keys: {new_kid} published by all 3 instances after {:?}, signs from \
         {} s after the command; {} tokens handed out, {new_tokens} after the activation, \
         {} of them with another key, {} before it with another key",
        published_after.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
        signs_from - rotated_at_unix,
        report.tokens.len(),
        wrong_after.len(),
        wrong_before.len(),
    );
    assert_eq!(
        report.unauthorized(),
        0,
        "unexpected 401s during the rotation"
    );
    let failures = report.failures();
    assert!(
        failures.is_empty(),
        "failed requests: {:?}",
        &failures[..failures.len().min(5)]
    );
    assert!(
        new_tokens >= 10,
        "hardly any token was minted after the activation"
    );
    assert!(
        wrong_after.is_empty(),
        "after the activation: {wrong_after:?}"
    );
    assert!(
        wrong_before.is_empty(),
        "before the activation: {wrong_before:?}"
    );
}

// ---- 5. SIGKILL -----------------------------------------------------------------------------

/// What became of one sign-up of the burst.
#[derive(Debug)]
enum Outcome {
    /// 2xx, answer read completely: the client was told the account exists.
    Acked,
    /// Another status (HAProxy's 502/503 included).
    Refused(u16),
    /// No answer at all.
    Lost(String),
}

impl Outcome {
    /// How the summary counts it: `2xx`, the status, or `no answer`.
    fn kind(&self) -> String {
        match self {
            Self::Acked => "2xx".into(),
            Self::Refused(status) => status.to_string(),
            Self::Lost(_) => "no answer".into(),
        }
    }
}

/// `kill -9` of one instance in the middle of sign-ups through the proxy: every acknowledged
/// account signs in afterwards, and an unacknowledged one either signs in (it was made) or can be
/// signed up again (it was not) — never half-made.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run by cargo xtask cluster-test"]
async fn sigkill_under_sign_up_load_loses_no_acknowledged_account() {
    const SIGN_UP_WORKERS: usize = 6;
    const KILL_AFTER_ACKS: usize = 12;
    let mut cluster = Cluster::start(3, &SETTINGS).await;
    let base = cluster.public_url().to_owned();
    let mark = cluster.proxy.log_mark();
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let workers: Vec<_> = (0..SIGN_UP_WORKERS)
        .map(|_| {
            let (stop, acks, next, base) = (stop.clone(), acks.clone(), next.clone(), base.clone());
            tokio::spawn(async move {
                let http = client();
                let mut outcomes = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let email = format!("kill-{n}@cluster.test");
                    let sent = Instant::now();
                    let outcome =
                        match sign_up(&http, &base, &base, &address(5, n as u16), &email).await {
                            Ok(r) if (200..300).contains(&r.status) => {
                                acks.fetch_add(1, Ordering::SeqCst);
                                Outcome::Acked
                            }
                            Ok(r) => Outcome::Refused(r.status),
                            Err(e) => Outcome::Lost(e),
                        };
                    outcomes.push((n, email, outcome, sent.elapsed()));
                }
                outcomes
            })
        })
        .collect();

    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.load(Ordering::SeqCst) < KILL_AFTER_ACKS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let victim = 1;
    cluster.kill(victim);
    let killed_at_acks = acks.load(Ordering::SeqCst);
    let victim_name = cluster.instance(victim).name.clone();
    let out_of_rotation = cluster
        .proxy
        .wait_for(&victim_name, |s| s.is_down(), Duration::from_secs(10))
        .await;
    // On without it for a while, then back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let start = cluster.start_again(victim).await;
    let back = cluster
        .proxy
        .wait_for(
            &victim_name,
            e2e::cluster::ServerState::is_up,
            Duration::from_secs(30),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for w in workers {
        outcomes.extend(w.await.expect("a sign-up worker panicked"));
    }
    let burst = began.elapsed();
    let tally = ProxyTally::of(&cluster.proxy.requests_since(mark).await);

    let acked: Vec<&str> = outcomes
        .iter()
        .filter(|(_, _, o, _)| matches!(o, Outcome::Acked))
        .map(|(_, e, _, _)| e.as_str())
        .collect();
    let not_acked: Vec<(usize, &str, &Outcome)> = outcomes
        .iter()
        .filter(|(_, _, o, _)| !matches!(o, Outcome::Acked))
        .map(|(n, e, o, _)| (*n, e.as_str(), o))
        .collect();
    let mut latencies: Vec<Duration> = outcomes.iter().map(|(_, _, _, d)| *d).collect();

    // Every acknowledged account signs in (through the proxy, each from its own address).
    let http = client();
    let mut missing = Vec::new();
    for (n, email, outcome, _) in &outcomes {
        if !matches!(outcome, Outcome::Acked) {
            continue;
        }
        let r = sign_in(&http, &base, &base, &address(5, *n as u16), email, PASSWORD)
            .await
            .unwrap();
        if r.status != 200 {
            missing.push(format!("{email}: {} {}", r.status, r.body));
        }
    }
    // An unacknowledged one signs in (made before the answer was lost) or signs up again (never
    // made); a user row without its password would answer 401 to the first and 409 to the second.
    let (mut made, mut not_made, mut half_made) = (0, 0, Vec::new());
    for (n, email, outcome) in &not_acked {
        let from = address(5, *n as u16);
        let r = sign_in(&http, &base, &base, &from, email, PASSWORD)
            .await
            .unwrap();
        match r.status {
            200 => made += 1,
            401 => {
                let r = sign_up(&http, &base, &base, &from, email).await.unwrap();
                if r.status == 201 {
                    not_made += 1;
                } else {
                    half_made.push(format!("{email} ({outcome:?}): sign-up again {}", r.status));
                }
            }
            other => half_made.push(format!("{email} ({outcome:?}): sign-in {other}")),
        }
    }

    eprintln!(
        "cluster: SIGKILL under sign-up load: {} sign-ups through the proxy in {:.1} s (p50 {}, \
         p99 {}); {victim_name} killed after {killed_at_acks} acknowledged, out of HAProxy's \
         rotation {} later, restarted in {}, back in rotation {} later",
        outcomes.len(),
        burst.as_secs_f64(),
        ms(percentile(&mut latencies, 50.0)),
        ms(percentile(&mut latencies, 99.0)),
        ms(out_of_rotation),
        ms(start),
        ms(back),
    );
    let mut answers: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, outcome, _) in &outcomes {
        *answers.entry(outcome.kind()).or_default() += 1;
    }
    let lost: Vec<&str> = outcomes
        .iter()
        .filter_map(|(_, _, o, _)| match o {
            Outcome::Lost(why) => Some(why.as_str()),
            _ => None,
        })
        .take(3)
        .collect();
    eprintln!(
        "cluster:   answers {answers:?}{}; {} acknowledged, {} not: of those {made} were made \
         anyway, {not_made} were not; {} acknowledged accounts missing, {} half-made",
        if lost.is_empty() {
            String::new()
        } else {
            format!(" (no answer: {lost:?})")
        },
        acked.len(),
        not_acked.len(),
        missing.len(),
        half_made.len(),
    );
    eprintln!("cluster:   {tally}");
    assert!(
        acked.len() > killed_at_acks,
        "no sign-up was acknowledged after the kill"
    );
    assert!(
        missing.is_empty(),
        "acknowledged accounts lost: {missing:?}"
    );
    assert!(half_made.is_empty(), "half-made accounts: {half_made:?}");
}
