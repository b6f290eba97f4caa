//! Rate limits: brute force on one account, password spraying from one address, a parallel
//! burst of guesses, client addresses an attacker does not choose (leftmost `X-Forwarded-For`,
//! IPv6 rotation within a /64), a stranger who cannot lock the owner out, a sign-up flood, and
//! the hashing queue's bound.

use crate::{PASSWORD, assert_alive, attempt};
use e2e::AppServer;
use e2e::http::{client, post_form, post_json, set_cookies, sign_up};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

/// The body of every 429 (sign-in and sign-up alike).
const RATE_LIMITED: &str = r#"{"error":"Too many attempts, try again later"}"#;

/// A JSON post to `path` that reached the app through a proxy which appended to
/// `X-Forwarded-For` (`forwarded_for` is the whole header as the app sees it).
async fn post_via_proxy(
    server: &AppServer,
    path: &str,
    body: &Value,
    forwarded_for: &str,
) -> reqwest::Response {
    client()
        .post(server.url(path))
        .header("origin", &server.base_url)
        .header("x-forwarded-for", forwarded_for)
        .json(body)
        .send()
        .await
        .expect("the server answers")
}

async fn sign_in_via_proxy(
    server: &AppServer,
    email: &str,
    password: &str,
    forwarded_for: &str,
) -> reqwest::Response {
    let body = json!({ "email": email, "password": password });
    post_via_proxy(server, "/auth/sign-in", &body, forwarded_for).await
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Password guessing on one account from one address stops at the (account, address) budget
/// (10 failures): 429 with `Retry-After`, also for the *right* password, for every spelling of
/// the email, and for form posts.
#[tokio::test(flavor = "multi_thread")]
async fn brute_force_is_rate_limited() {
    let mut server = AppServer::start().await;
    sign_up(&server, "target@example.com", PASSWORD, "Target").await;
    let mut sent = 0;
    for i in 0..10 {
        let (status, ..) = attempt(&server, "target@example.com", &format!("guess {i:04}")).await;
        sent += 1;
        assert_eq!(status, 401, "guess {i} is an ordinary failure");
    }
    for (email, password) in [
        ("target@example.com", "guess 0010"),
        ("target@example.com", PASSWORD),
        ("TARGET@example.com", PASSWORD),
        ("  target@EXAMPLE.com ", PASSWORD),
    ] {
        let response = post_json(
            &server,
            "/auth/sign-in",
            &json!({ "email": email, "password": password }),
            None,
        )
        .await;
        sent += 1;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "{email:?}"
        );
        let retry = retry_after(&response);
        // The 15-minute window, counted in 1-minute slots.
        assert!(retry > 0 && retry <= 16 * 60, "Retry-After {retry}");
        assert!(
            set_cookies(&response).is_empty(),
            "no session while limited"
        );
        assert_eq!(response.text().await.unwrap(), RATE_LIMITED);
    }
    let response = post_form(
        &server,
        "/auth/sign-in",
        &[("email", "target@example.com"), ("password", PASSWORD)],
        None,
    )
    .await;
    sent += 1;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/sign-in?error=rate_limited&redirect_url=%2F"
    );
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert!(set_cookies(&response).is_empty());
    assert_alive(&mut server).await;
    eprintln!("brute_force_is_rate_limited: {sent} attack requests");
}

/// Password spraying: one address trying one password against many accounts. The release server
/// sees the peer address (`ConnectInfo`), so after the per-address budget (20 failures) every
/// further attempt from it is refused, whatever the account — with no proxy header configured.
#[tokio::test(flavor = "multi_thread")]
async fn password_spraying_from_one_address_is_rate_limited() {
    let server = AppServer::start().await;
    sign_up(&server, "sprayed@example.com", PASSWORD, "Sprayed").await;
    for i in 0..20 {
        let (status, ..) = attempt(&server, &format!("user{i}@example.com"), "Summer2026!").await;
        assert_eq!(status, 401, "attempt {i} is an ordinary failure");
    }
    // Another account, even with its right password: this address has used its budget.
    let (status, body, ..) = attempt(&server, "sprayed@example.com", PASSWORD).await;
    assert_eq!(status, 429, "the 21st attempt from one address is refused");
    assert_eq!(body, RATE_LIMITED);
}

/// A burst of concurrent guesses against one account from one address: each is counted before
/// its (slow) password check, so no more than the pair's budget (10) get an answer other than
/// 429.
#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_burst_of_guesses_cannot_overshoot_the_limit() {
    let server = AppServer::start_with_env(&[("AUTH_TRUSTED_PROXIES", "1")]).await;
    sign_up(&server, "burst@example.com", PASSWORD, "Burst").await;
    let guesses = (0..40).map(|i| {
        let server = &server;
        async move {
            sign_in_via_proxy(
                server,
                "burst@example.com",
                &format!("parallel guess {i}"),
                "198.51.100.40",
            )
            .await
            .status()
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + limited, statuses.len(), "{statuses:?}");
    assert!(
        checked <= 10,
        "{checked} guesses were checked: {statuses:?}"
    );
}

/// Behind one proxy (`AUTH_TRUSTED_PROXIES=1`) the client address is the rightmost
/// `X-Forwarded-For` entry, the one the proxy appended. An attacker who writes a new leftmost
/// entry on every request is still one address: the spraying budget (20) holds.
#[tokio::test(flavor = "multi_thread")]
async fn leftmost_forwarded_for_spoofing_does_not_escape_the_limit() {
    let server = AppServer::start_with_env(&[("AUTH_TRUSTED_PROXIES", "1")]).await;
    for i in 0..20 {
        let spoofed = format!("10.{}.{}.1, 203.0.113.{i}, 198.51.100.7", i / 256, i % 256);
        let response = sign_in_via_proxy(
            &server,
            &format!("sprayed{i}@example.com"),
            "Summer2026!",
            &spoofed,
        )
        .await;
        assert_eq!(response.status(), 401, "attempt {i}");
    }
    let response = sign_in_via_proxy(
        &server,
        "next@example.com",
        "Summer2026!",
        "192.0.2.250, 198.51.100.7",
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&response) >= 1);
    assert_eq!(response.text().await.unwrap(), RATE_LIMITED);
    // Control: another client behind the same proxy is not limited.
    let response =
        sign_in_via_proxy(&server, "next@example.com", "Summer2026!", "198.51.100.8").await;
    assert_eq!(response.status(), 401);
}

/// IPv6 addresses are grouped by /64: rotating through one's own /64 buys no fresh budget; an
/// address in another /64 is another client.
#[tokio::test(flavor = "multi_thread")]
async fn ipv6_rotation_within_a_64_does_not_escape_the_limit() {
    let server = AppServer::start_with_env(&[("AUTH_TRUSTED_PROXIES", "1")]).await;
    for i in 0..20u32 {
        let address = format!("2001:db8:7:7:{:x}:{:x}::1", i * 977 % 65_536, i + 1);
        let response = sign_in_via_proxy(
            &server,
            &format!("v6-{i}@example.com"),
            "Summer2026!",
            &address,
        )
        .await;
        assert_eq!(response.status(), 401, "attempt {i} from {address}");
    }
    let response = sign_in_via_proxy(
        &server,
        "v6-next@example.com",
        "Summer2026!",
        "2001:db8:7:7:ffff:ffff:ffff:fffe",
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let response = sign_in_via_proxy(
        &server,
        "v6-next@example.com",
        "Summer2026!",
        "2001:db8:7:8::1",
    )
    .await;
    assert_eq!(response.status(), 401, "another /64");
}

/// A stranger's ten bad guesses lock the stranger's (account, address) pair, not the account:
/// the owner signs in from the owner's own address.
#[tokio::test(flavor = "multi_thread")]
async fn a_stranger_cannot_lock_the_owner_out() {
    let server = AppServer::start_with_env(&[("AUTH_TRUSTED_PROXIES", "1")]).await;
    let body = json!({ "email": "owner@example.com", "password": PASSWORD, "name": "Owner" });
    let response = post_via_proxy(&server, "/auth/sign-up", &body, "198.51.100.1").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    for i in 0..10 {
        let response = sign_in_via_proxy(
            &server,
            "owner@example.com",
            &format!("stranger guess {i}"),
            "203.0.113.66",
        )
        .await;
        assert_eq!(response.status(), 401, "guess {i}");
    }
    let response = sign_in_via_proxy(&server, "owner@example.com", PASSWORD, "203.0.113.66").await;
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the stranger is stopped"
    );
    let response = sign_in_via_proxy(&server, "owner@example.com", PASSWORD, "198.51.100.1").await;
    assert_eq!(response.status(), StatusCode::OK, "the owner is not");
    assert_eq!(set_cookies(&response).len(), 2);
}

/// A sign-up flood from one address gets 429 with `Retry-After` and sign-in's error body, JSON
/// and form alike (`AUTH_SIGN_UP_LIMIT_PER_ADDRESS=5`); another address still signs up, and the
/// flooding address can still sign in.
#[tokio::test(flavor = "multi_thread")]
async fn a_sign_up_flood_gets_429_with_retry_after() {
    let mut server = AppServer::start_with_env(&[
        ("AUTH_TRUSTED_PROXIES", "1"),
        ("AUTH_SIGN_UP_LIMIT_PER_ADDRESS", "5"),
    ])
    .await;
    let sign_up_from = |email: String, address: &'static str| {
        let server = &server;
        async move {
            let body = json!({ "email": email, "password": PASSWORD, "name": "Flood" });
            post_via_proxy(server, "/auth/sign-up", &body, address).await
        }
    };
    for i in 0..5 {
        let response = sign_up_from(format!("flood{i}@example.com"), "192.0.2.77").await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up {i}");
    }
    let mut refused = 0;
    for i in 5..25 {
        let response = sign_up_from(format!("flood{i}@example.com"), "192.0.2.77").await;
        assert_eq!(
            response.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "sign-up {i}"
        );
        let retry = retry_after(&response);
        assert!((1..=65 * 60).contains(&retry), "Retry-After {retry}");
        assert!(set_cookies(&response).is_empty());
        assert_eq!(response.text().await.unwrap(), RATE_LIMITED);
        refused += 1;
    }
    let response = client()
        .post(server.url("/auth/sign-up"))
        .header("origin", &server.base_url)
        .header("x-forwarded-for", "192.0.2.77")
        .form(&[
            ("email", "form-flood@example.com"),
            ("password", PASSWORD),
            ("name", "Flood"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        "/sign-up?error=rate_limited&redirect_url=%2F"
    );
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    // None of the refused accounts exists; another address signs up; the flooder signs in.
    let response = sign_in_via_proxy(&server, "flood5@example.com", PASSWORD, "192.0.2.1").await;
    assert_eq!(response.status(), 401);
    let response = sign_up_from("elsewhere@example.com".into(), "192.0.2.78").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let response = sign_in_via_proxy(&server, "flood0@example.com", PASSWORD, "192.0.2.77").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_alive(&mut server).await;
    eprintln!("a_sign_up_flood_gets_429_with_retry_after: {refused} refused sign-ups");
}

/// With one hashing thread and no room to queue (`AUTH_MAX_CONCURRENT_HASHES=1`,
/// `AUTH_MAX_QUEUED_HASHES=0`), a burst of sign-ups gets 503 with `Retry-After` for those that
/// find the thread busy, at once, and 201 for the others; nothing else.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_hashing_queue_answers_503_with_retry_after() {
    let mut server = AppServer::start_with_env(&[
        ("AUTH_MAX_CONCURRENT_HASHES", "1"),
        ("AUTH_MAX_QUEUED_HASHES", "0"),
    ])
    .await;
    let burst = (0..12).map(|i| {
        let server = &server;
        async move {
            let body = json!({
                "email": format!("queue{i}@example.com"), "password": PASSWORD, "name": "Queue",
            });
            let started = std::time::Instant::now();
            let response = post_json(server, "/auth/sign-up", &body, None).await;
            let status = response.status();
            let retry = response
                .headers()
                .get(header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned());
            let text = response.text().await.unwrap();
            (status, retry, text, started.elapsed())
        }
    });
    let answers = futures::future::join_all(burst).await;
    let created = answers
        .iter()
        .filter(|a| a.0 == StatusCode::CREATED)
        .count();
    let busy: Vec<_> = answers
        .iter()
        .filter(|a| a.0 == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert_eq!(created + busy.len(), answers.len(), "{answers:?}");
    assert!(created >= 1, "{answers:?}");
    assert!(!busy.is_empty(), "12 at once, room for one: {answers:?}");
    for (_, retry, text, _) in &busy {
        assert_eq!(retry.as_deref(), Some("1"));
        assert_eq!(text, r#"{"error":"Service unavailable"}"#);
    }
    // Refused at once: faster than the slowest admitted sign-up, which waited for none.
    let slowest_busy = busy.iter().map(|a| a.3).max().unwrap();
    let slowest = answers.iter().map(|a| a.3).max().unwrap();
    assert!(slowest_busy <= slowest, "{answers:?}");
    assert_alive(&mut server).await;
}
