//! `kill -9` of the release server in the middle of a burst of sign-ups, then a restart on the
//! same data folder and port: every acknowledged (2xx) sign-up exists and signs in, no account is
//! half-created (an email either signs in, or can be signed up again), and sessions issued before
//! the crash still work — the short-lived session JWT and the refresh cookie alike.
//!
//! Needs the release bundle: `APP_BUNDLE_DIR=<dir> cargo test -p e2e --test crash`.

use e2e::http::CLIENT_ADDRESS_HEADER;
use e2e::process::{DataDir, ServerProcess, free_port};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const PASSWORD: &str = "correct horse battery";
/// Sign-ups in the burst, all in flight at once (the server hashes a few at a time).
const BURST: usize = 60;
/// The server is killed once this many sign-ups were acknowledged.
const KILL_AFTER_ACKS: usize = 8;

type Cookies = BTreeMap<String, String>;

#[derive(Debug)]
enum Outcome {
    /// 2xx: the client was told the account exists; its cookies.
    Acked(Cookies),
    /// An HTTP answer other than 2xx.
    Refused(u16),
    /// No answer: the connection died with the server.
    Lost,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn cookies_of(r: &reqwest::Response) -> Cookies {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .filter(|(_, value)| !value.is_empty())
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn cookie_header(cookies: &Cookies, names: &[&str]) -> String {
    cookies
        .iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// An address of `email`'s own (10.x.y.z), sent in [`CLIENT_ADDRESS_HEADER`]: the burst and the
/// checks after the restart are many sign-ups and sign-ins from one machine, and must not add up
/// to the per-address limits (20 sign-ups an hour, 20 failed sign-ins in 15 minutes).
fn address_of(email: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    email.hash(&mut hasher);
    std::net::Ipv4Addr::from(0x0a00_0000 | (hasher.finish() as u32 & 0x00ff_ffff)).to_string()
}

async fn sign_up(http: &reqwest::Client, base: &str, email: &str) -> Result<(u16, Cookies), ()> {
    let r = http
        .post(format!("{base}/auth/sign-up"))
        .header(CLIENT_ADDRESS_HEADER, address_of(email))
        .json(&json!({ "email": email, "password": PASSWORD, "name": "Crash Test" }))
        .send()
        .await
        .map_err(|_| ())?;
    let status = r.status().as_u16();
    let cookies = cookies_of(&r);
    // The answer counts as acknowledged only once it was read completely.
    r.bytes().await.map_err(|_| ())?;
    Ok((status, cookies))
}

/// Signs in as `email`, posing as an address of its own: the check after the restart tries every
/// sign-up of the burst, including the unacknowledged ones that may not exist, and those failures
/// must not add up to the per-address rate limit (the server trusts [`CLIENT_ADDRESS_HEADER`]).
async fn sign_in(http: &reqwest::Client, base: &str, email: &str) -> u16 {
    http.post(format!("{base}/auth/sign-in"))
        .header(CLIENT_ADDRESS_HEADER, address_of(email))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn get_json(http: &reqwest::Client, url: String, cookie: String) -> (u16, Value) {
    let r = http.get(url).header(COOKIE, cookie).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_sign_up_burst_loses_no_acknowledged_account() {
    let data = DataDir::new("crash-data");
    let port = free_port();
    let mut server = ServerProcess::start(&data.0, port).await;
    let base = server.base_url.clone();
    let http = client();

    // A session issued well before the crash.
    let (status, before) = sign_up(&http, &base, "before@crash.test").await.unwrap();
    assert_eq!(status, 201);
    assert!(before.contains_key("__session") && before.contains_key("__refresh"));

    // The burst, all at once; the server dies once a few were acknowledged.
    let acks = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..BURST)
        .map(|i| {
            let (http, base, acks) = (http.clone(), base.clone(), acks.clone());
            let email = format!("burst-{i}@crash.test");
            tokio::spawn(async move {
                let outcome = match sign_up(&http, &base, &email).await {
                    Ok((s, cookies)) if (200..300).contains(&s) => {
                        acks.fetch_add(1, Ordering::SeqCst);
                        Outcome::Acked(cookies)
                    }
                    Ok((s, _)) => Outcome::Refused(s),
                    Err(()) => Outcome::Lost,
                };
                (email, outcome)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acks.load(Ordering::SeqCst) < KILL_AFTER_ACKS && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill9();
    let killed_at = acks.load(Ordering::SeqCst);
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap());
    }
    let acked: Vec<_> = outcomes
        .iter()
        .filter_map(|(e, o)| match o {
            Outcome::Acked(c) => Some((e.clone(), c.clone())),
            _ => None,
        })
        .collect();
    let refused: Vec<_> = outcomes
        .iter()
        .filter_map(|(e, o)| match o {
            Outcome::Refused(s) => Some((e.clone(), *s)),
            _ => None,
        })
        .collect();
    let lost = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Lost))
        .count();
    eprintln!(
        "killed with {killed_at} acknowledged; in all {} acknowledged, {} refused {refused:?}, {lost} lost",
        acked.len(),
        refused.len()
    );
    assert!(acked.len() >= KILL_AFTER_ACKS, "the burst never got going");
    assert!(
        lost > 0,
        "every sign-up finished before the kill: the crash did not hit the burst"
    );

    // Restart on the same data and port (the issuer URL is part of every token).
    let server = ServerProcess::start(&data.0, port).await;
    let restarted = Instant::now();

    // Sessions from before the crash: the JWT still verifies, the refresh cookie still renews.
    let (status, me) = get_json(
        &http,
        server.url("/api/me"),
        cookie_header(&before, &["__session"]),
    )
    .await;
    assert_eq!(status, 200, "session JWT issued before the crash: {me}");
    let (status, session) = get_json(
        &http,
        server.url("/auth/session"),
        cookie_header(&before, &["__refresh"]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        session["user"]["email"], "before@crash.test",
        "refresh cookie issued before the crash: {session}"
    );
    // The burst's acknowledged sessions too.
    for (email, cookies) in &acked {
        let (status, session) = get_json(
            &http,
            server.url("/auth/session"),
            cookie_header(cookies, &["__refresh"]),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(session["user"]["email"], email.as_str(), "{session}");
    }

    // Every acknowledged sign-up exists and signs in with its password.
    for (email, _) in &acked {
        assert_eq!(
            sign_in(&http, &server.base_url, email).await,
            200,
            "acknowledged account {email} is gone or broken after the crash"
        );
    }
    // No half-created account: an email whose answer was lost either signs in (committed just
    // before the crash) or is free to sign up again (rolled back). A user row without its
    // credential would answer 401 to the first and 409 to the second.
    let (mut committed, mut rolled_back) = (0, 0);
    for (email, outcome) in &outcomes {
        if matches!(outcome, Outcome::Acked(_)) {
            continue;
        }
        match sign_in(&http, &server.base_url, email).await {
            200 => committed += 1,
            401 => {
                let (status, _) = sign_up(&http, &server.base_url, email).await.unwrap();
                assert_eq!(
                    status, 201,
                    "{email}: cannot sign in and cannot sign up again: a half-created account"
                );
                rolled_back += 1;
            }
            other => panic!("{email}: sign-in answered {other} after the restart"),
        }
    }
    eprintln!(
        "unacknowledged sign-ups: {committed} committed before the crash, {rolled_back} rolled back; \
         checks took {:?}",
        restarted.elapsed()
    );
    drop(server);
}
