//! The password policy over real HTTP (ASVS 5.0 6.2): common passwords refused with their own
//! code, 8 to 128 characters of the NFKC form, NFKC on sign-up and sign-in, and the optional
//! breached-password check against a local server of the Pwned Passwords range API's documented
//! shape (`GET /range/{5 hex}` → `SUFFIX:COUNT` lines; padding lines have count 0).

mod idp_support;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use idp_support::{Jar, Kind, Server, TestDb};
use sha1::{Digest, Sha1};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

both_backends!(
    common_password_is_refused_with_its_code,
    length_is_64_and_128_accepted_129_refused_with_the_limit,
    nfkc_ligature_at_sign_up_signs_in_with_plain_letters,
);

/// `n` characters of an uncommon passphrase.
fn passphrase(n: usize) -> String {
    "Correct-horse battery staple 42 "
        .chars()
        .cycle()
        .take(n)
        .collect()
}

async fn common_password_is_refused_with_its_code(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    let mut jar = Jar::default();
    for common in ["password1", "Qwertyuiop", "iloveyou12"] {
        let r = s.sign_up("common@example.com", common, &mut jar).await;
        assert_eq!(r.status, 422, "{common}: {}", r.text);
        assert_eq!(
            r.error(),
            "This password is too common, choose a less predictable one"
        );
        assert!(jar.cookies.is_empty());
    }
    // A form post comes back to the sign-up page with the stable code.
    let r = s
        .post_form(
            "/auth/sign-up",
            &[("email", "common@example.com"), ("password", "password1")],
            &mut jar,
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-up?error=common_password"),
        "{:?}",
        r.header("location")
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 0);
    let r = s
        .sign_up("common@example.com", &passphrase(20), &mut jar)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

async fn length_is_64_and_128_accepted_129_refused_with_the_limit(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    for (i, n) in [8, 64, 128].into_iter().enumerate() {
        let mut jar = Jar::default();
        let email = format!("len{i}@example.com");
        let r = s.sign_up(&email, &passphrase(n), &mut jar).await;
        assert_eq!(r.status, 201, "{n} characters: {}", r.text);
        let r = s.sign_in(&email, &passphrase(n), &mut Jar::default()).await;
        assert_eq!(r.status, 200, "{n} characters: {}", r.text);
    }
    // 128 characters counted after NFKC: 128 "é" typed decomposed are 256 code points.
    let decomposed = "e\u{301}".repeat(128);
    let r = s
        .sign_up("decomposed@example.com", &decomposed, &mut Jar::default())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for too_long in [passphrase(129), passphrase(4000), "\u{FDFA}".repeat(8)] {
        let r = s
            .sign_up("long@example.com", &too_long, &mut Jar::default())
            .await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(
            r.error(),
            "Password must be 8 to 128 characters and differ from the email"
        );
    }
    // Sign-in never checks more than 128 characters: the right 128 followed by more is wrong.
    let r = s
        .sign_in(
            "len2@example.com",
            &format!("{}x", passphrase(128)),
            &mut Jar::default(),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 4);
}

async fn nfkc_ligature_at_sign_up_signs_in_with_plain_letters(kind: Kind) {
    let db = TestDb::new(kind).await;
    let s = Server::start(&db).await;
    // U+FB01 LATIN SMALL LIGATURE FI and full-width digits: NFKC makes them "fi" and "12".
    let typed = "\u{FB01}ne tuned \u{FF11}\u{FF12}";
    let r = s
        .sign_up("lig@example.com", typed, &mut Jar::default())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for other_form in ["fine tuned 12", typed] {
        let r = s
            .sign_in("lig@example.com", other_form, &mut Jar::default())
            .await;
        assert_eq!(r.status, 200, "{other_form:?}: {}", r.text);
    }
    let r = s
        .sign_in("lig@example.com", "fine tuned 13", &mut Jar::default())
        .await;
    assert_eq!(r.status, 401);
    // And the other way round: plain letters at sign-up, a ligature at sign-in.
    let r = s
        .sign_up("plain@example.com", "office hours 2", &mut Jar::default())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s
        .sign_in(
            "plain@example.com",
            "o\u{FB03}ce hours \u{FF12}",
            &mut Jar::default(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// ---- The breached-password check against a local range API ----

/// What the local range API saw and how it behaves.
#[derive(Default)]
struct RangeApi {
    /// `(prefix, Add-Padding header)` of each request.
    seen: Mutex<Vec<(String, Option<String>)>>,
    /// Full SHA-1 hashes (uppercase hex) listed with a count.
    breached: Vec<String>,
    /// Answers after this long (a slow service).
    delay: Duration,
    /// Answers 503 (a failing service).
    failing: bool,
}

fn sha1_hex(password: &str) -> String {
    Sha1::digest(password.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// `GET /range/{prefix}` as the API documents it: `SUFFIX:COUNT` lines (CRLF), and with
/// `Add-Padding: true` extra lines with count 0, here one of them for every prefix's `0000…`.
async fn range(
    State(api): State<Arc<RangeApi>>,
    Path(prefix): Path<String>,
    headers: HeaderMap,
) -> (axum::http::StatusCode, String) {
    let padding = headers
        .get("add-padding")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    api.seen
        .lock()
        .unwrap()
        .push((prefix.clone(), padding.clone()));
    tokio::time::sleep(api.delay).await;
    if api.failing {
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, String::new());
    }
    let mut lines = vec!["0018A45C4D1DEF81644B54AB7F969B88D65:12".to_owned()];
    for hash in &api.breached {
        if let Some(suffix) = hash.strip_prefix(prefix.as_str()) {
            lines.push(format!("{suffix}:3"));
        }
    }
    if padding.as_deref() == Some("true") {
        lines.push("00000000000000000000000000000000000:0".to_owned());
    }
    (axum::http::StatusCode::OK, lines.join("\r\n"))
}

/// Serves `api` on loopback under `/pwned`; returns its base URL.
async fn serve_range_api(api: Arc<RangeApi>) -> String {
    let app = axum::Router::new()
        .route("/pwned/range/{prefix}", get(range))
        .with_state(api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pwned", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn start_with_pwned(db: &TestDb, url: &str, timeout: Duration) -> Server {
    let url = url.to_owned();
    Server::start_with(db, move |c| c.with_pwned_passwords(&url, timeout).unwrap()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breached_password_is_refused_and_only_a_prefix_leaves() {
    let breached = "Tr0ub4dor&3 but longer";
    let api = Arc::new(RangeApi {
        breached: vec![sha1_hex(breached)],
        ..RangeApi::default()
    });
    let url = serve_range_api(api.clone()).await;
    let db = TestDb::new(Kind::Sqlite).await;
    let s = start_with_pwned(&db, &url, Duration::from_secs(2)).await;

    let r = s
        .sign_up("pwned@example.com", breached, &mut Jar::default())
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.error(),
        "This password has appeared in a data breach, choose another one"
    );
    let r = s
        .post_form(
            "/auth/sign-up",
            &[("email", "pwned@example.com"), ("password", breached)],
            &mut Jar::default(),
        )
        .await;
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-up?error=breached_password")
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 0);

    // The service saw the first five hex digits of the SHA-1 only, and was asked for padding.
    let seen = api.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (prefix, padding) in &seen {
        assert_eq!(prefix, &sha1_hex(breached)[..5]);
        assert_eq!(padding.as_deref(), Some("true"));
    }

    let r = s
        .sign_up("fresh@example.com", &passphrase(30), &mut Jar::default())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // The breached-password check applies to new passwords only, not to sign-in.
    let r = s
        .sign_in("fresh@example.com", &passphrase(30), &mut Jar::default())
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.seen.lock().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breach_check_fails_open_when_the_service_is_down_slow_or_failing() {
    let db = TestDb::new(Kind::Sqlite).await;

    // Down: nothing listens on the port.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let s = start_with_pwned(&db, &down, Duration::from_millis(500)).await;
    let r = s
        .sign_up("down@example.com", &passphrase(24), &mut Jar::default())
        .await;
    assert_eq!(r.status, 201, "down: {}", r.text);
    drop(s);

    // Slow: answers after 30 s; the sign-up goes on after the 300 ms timeout.
    let slow = Arc::new(RangeApi {
        delay: Duration::from_secs(30),
        breached: vec![sha1_hex(&passphrase(25))],
        ..RangeApi::default()
    });
    let url = serve_range_api(slow.clone()).await;
    let s = start_with_pwned(&db, &url, Duration::from_millis(300)).await;
    let started = Instant::now();
    let r = s
        .sign_up("slow@example.com", &passphrase(25), &mut Jar::default())
        .await;
    let took = started.elapsed();
    assert_eq!(r.status, 201, "slow: {}", r.text);
    assert!(took < Duration::from_secs(5), "slow: took {took:?}");
    assert_eq!(slow.seen.lock().unwrap().len(), 1, "the service was asked");
    drop(s);

    // Failing: 503.
    let failing = Arc::new(RangeApi {
        failing: true,
        ..RangeApi::default()
    });
    let url = serve_range_api(failing.clone()).await;
    let s = start_with_pwned(&db, &url, Duration::from_secs(2)).await;
    let r = s
        .sign_up("failing@example.com", &passphrase(26), &mut Jar::default())
        .await;
    assert_eq!(r.status, 201, "failing: {}", r.text);
    assert_eq!(failing.seen.lock().unwrap().len(), 1);

    // The local rules still hold while the service is down.
    let r = s
        .sign_up("failing2@example.com", "password1", &mut Jar::default())
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, 3);
}

#[test]
fn the_pwned_url_is_validated() {
    let config = |vars: &'static [(&'static str, &'static str)]| {
        auth_idp::IdpConfig::from_lookup(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    };
    let c = config(&[]).unwrap();
    assert!(c.pwned_passwords_url.is_none(), "off by default");
    let c = config(&[("AUTH_PWNED_PASSWORDS_URL", "https://api.pwnedpasswords.com")]).unwrap();
    assert_eq!(
        c.pwned_passwords_url.unwrap().as_str(),
        "https://api.pwnedpasswords.com/"
    );
    assert!(config(&[("AUTH_PWNED_PASSWORDS_URL", "http://127.0.0.1:9999")]).is_ok());
    for bad in [
        "http://api.pwnedpasswords.com",
        "api.pwnedpasswords.com",
        "https://api.pwnedpasswords.com/?k=1",
    ] {
        let vars: &'static [(&str, &str)] =
            Box::leak(Box::new([("AUTH_PWNED_PASSWORDS_URL", bad)]));
        let err = config(vars).unwrap_err();
        assert!(
            err.to_string().contains("AUTH_PWNED_PASSWORDS_URL"),
            "{err}"
        );
    }
    let err = auth_idp::IdpConfig::new("sqlite::memory:", "http://127.0.0.1:8080")
        .unwrap()
        .with_pwned_passwords("http://example.com", Duration::from_secs(1))
        .unwrap_err();
    assert!(
        err.to_string().contains("AUTH_PWNED_PASSWORDS_URL"),
        "{err}"
    );
}
