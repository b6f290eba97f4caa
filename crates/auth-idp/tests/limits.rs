//! Rate limits and the hashing queue over real loopback HTTP: client addresses read from the
//! right of `X-Forwarded-For`, IPv6 grouped by /64, (account, address) lockout, sign-up limits,
//! and 503 past the hashing queue's bound.

mod idp_support;

use auth_idp::{IdpConfig, PasswordParams, RateLimitConfig, TrustedProxies};
use idp_support::{Jar, Kind, Resp, Server, TestDb};
use std::time::{Duration, Instant};

const PW: &str = "correct horse battery";

fn from(address: &str) -> Jar {
    let mut jar = Jar::default();
    jar.extra.push(("x-forwarded-for", address.to_owned()));
    jar
}

fn retry_after(r: &Resp) -> u64 {
    r.header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("whole seconds")
}

/// One proxy hop in front of the app, and small budgets.
fn behind_one_proxy(c: IdpConfig) -> IdpConfig {
    c.with_trusted_proxies(TrustedProxies::Hops(1))
        .with_rate_limit(RateLimitConfig {
            max_failures: 3,
            address_max_failures: 5,
            ..RateLimitConfig::default()
        })
}

/// The leftmost `X-Forwarded-For` values are the client's own: rotating them buys nothing, the
/// proxy's entry (the rightmost) is the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftmost_forwarded_for_does_not_escape_the_limit() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start_with(&db, behind_one_proxy).await;
    for i in 0..5 {
        let mut jar = from(&format!("10.{i}.0.1, 198.51.100.7"));
        let r = s
            .sign_in(
                &format!("sprayed{i}@example.com"),
                "wrong password!",
                &mut jar,
            )
            .await;
        assert_eq!(r.status, 401, "attempt {i}: {}", r.text);
    }
    let mut jar = from("192.0.2.99, 198.51.100.7");
    let r = s
        .sign_in("another@example.com", "wrong password!", &mut jar)
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.error(), "Too many attempts, try again later");
    assert!((1..=16 * 60).contains(&retry_after(&r)));
    // Control: another client address behind the same proxy is not limited.
    let r = s
        .sign_in(
            "another@example.com",
            "wrong password!",
            &mut from("198.51.100.8"),
        )
        .await;
    assert_eq!(r.status, 401);
}

/// Every address of one IPv6 /64 is one client for the limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_rotation_within_a_64_does_not_escape_the_limit() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start_with(&db, behind_one_proxy).await;
    for i in 0..5 {
        let mut jar = from(&format!("2001:db8:1:2:{i:x}::{:x}", i * 7 + 1));
        let r = s
            .sign_in(&format!("v6-{i}@example.com"), "wrong password!", &mut jar)
            .await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = s
        .sign_in(
            "v6-next@example.com",
            "wrong password!",
            &mut from("2001:db8:1:2:ffff:ffff:ffff:ffff"),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    let r = s
        .sign_in(
            "v6-next@example.com",
            "wrong password!",
            &mut from("2001:db8:1:3::1"),
        )
        .await;
    assert_eq!(r.status, 401, "another /64 is another client");
}

/// A stranger's bad guesses lock the stranger's (account, address) pair, not the owner: the
/// owner signs in from the owner's address with the default limits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_lock_the_owner_out() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start_with(&db, |c| {
        c.with_trusted_proxies(TrustedProxies::Hops(1))
            .with_rate_limit(RateLimitConfig::default())
    })
    .await;
    let r = s
        .sign_up("owner@example.com", PW, &mut from("198.51.100.1"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    for i in 0..10 {
        let r = s
            .sign_in(
                "owner@example.com",
                &format!("guess {i:04}!"),
                &mut from("203.0.113.66"),
            )
            .await;
        assert_eq!(r.status, 401, "guess {i}");
    }
    // The stranger is refused, even with the right password…
    let r = s
        .sign_in("owner@example.com", PW, &mut from("203.0.113.66"))
        .await;
    assert_eq!(r.status, 429);
    assert!((1..=16 * 60).contains(&retry_after(&r)));
    // …the owner, from the owner's address, is not.
    let mut owner = from("198.51.100.1");
    let r = s.sign_in("owner@example.com", PW, &mut owner).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["email"], "owner@example.com");
}

/// The per-account ceiling still holds against strangers spread over many addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_ceiling_holds_across_addresses() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start_with(&db, |c| {
        c.with_trusted_proxies(TrustedProxies::Hops(1))
            .with_rate_limit(RateLimitConfig {
                account_max_failures: 6,
                ..RateLimitConfig::default()
            })
    })
    .await;
    for i in 0..6 {
        let r = s
            .sign_in(
                "target@example.com",
                "wrong password!",
                &mut from(&format!("203.0.113.{i}")),
            )
            .await;
        assert_eq!(r.status, 401, "attempt {i}");
    }
    let r = s
        .sign_in(
            "target@example.com",
            "wrong password!",
            &mut from("203.0.113.200"),
        )
        .await;
    assert_eq!(r.status, 429);
    assert!((1..=65 * 60).contains(&retry_after(&r)), "{:?}", r.headers);
}

/// A sign-up flood from one address gets 429 with `Retry-After` (JSON and form), another
/// address still signs up, and past the global budget every address is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_flood_gets_429_with_retry_after() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start_with(&db, |c| {
        c.with_trusted_proxies(TrustedProxies::Hops(1))
            .with_rate_limit(RateLimitConfig {
                sign_up_per_address: 3,
                sign_up_global: 6,
                ..RateLimitConfig::default()
            })
    })
    .await;
    for i in 0..3 {
        let r = s
            .sign_up(
                &format!("flood{i}@example.com"),
                PW,
                &mut from("192.0.2.50"),
            )
            .await;
        assert_eq!(r.status, 201, "sign-up {i}: {}", r.text);
    }
    // A taken email counts too (it reached the limit); invalid input does not.
    let r = s.sign_up("not an email", PW, &mut from("192.0.2.51")).await;
    assert_eq!(r.status, 422);
    let r = s
        .sign_up("flood3@example.com", PW, &mut from("192.0.2.50"))
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.text, r#"{"error":"Too many attempts, try again later"}"#);
    let wait = retry_after(&r);
    assert!((1..=65 * 60).contains(&wait), "{wait}");
    assert!(r.set_cookies().is_empty());
    let r = s
        .post_form(
            "/auth/sign-up",
            &[
                ("email", "flood4@example.com"),
                ("password", PW),
                ("name", "Flood"),
            ],
            &mut from("192.0.2.50"),
        )
        .await;
    assert_eq!(r.status, 303);
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-up?error=rate_limited"),
        "{:?}",
        r.header("location")
    );
    assert!(r.header("retry-after").is_some());
    // The leftmost value does not make another client.
    let r = s
        .sign_up("flood5@example.com", PW, &mut from("6.6.6.6, 192.0.2.50"))
        .await;
    assert_eq!(r.status, 429);
    // Another address: fine, until the global budget (6) is used up.
    for i in 0..3 {
        let r = s
            .sign_up(
                &format!("other{i}@example.com"),
                PW,
                &mut from(&format!("198.51.100.{i}")),
            )
            .await;
        assert_eq!(r.status, 201, "other {i}: {}", r.text);
    }
    let r = s
        .sign_up("late@example.com", PW, &mut from("198.51.100.99"))
        .await;
    assert_eq!(r.status, 429, "global budget: {}", r.text);
    assert!(r.header("retry-after").is_some());
    // Sign-in is not affected by the sign-up limits.
    let r = s
        .sign_in("flood0@example.com", PW, &mut from("192.0.2.50"))
        .await;
    assert_eq!(r.status, 200);
}

/// A hash slow enough (~100 ms or more) that requests pile up behind it.
const SLOW_HASH: PasswordParams = PasswordParams {
    memory_kib: 8 * 1024,
    iterations: 12,
    parallelism: 1,
};

/// Past the hashing queue's bound a sign-up (or sign-in) is answered 503 with `Retry-After` at
/// once, not after a wait; the requests within the bound all succeed; a refused sign-up is not
/// counted against its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_hashing_queue_answers_503_at_once() {
    let db = TestDb::new(Kind::Sqlite).await;
    let s = Server::start_with(&db, |mut c| {
        c.max_concurrent_hashes = 1;
        c.with_password_params(SLOW_HASH)
            .with_max_queued_hashes(1)
            .with_rate_limit(RateLimitConfig {
                sign_up_per_address: 7,
                ..RateLimitConfig::default()
            })
    })
    .await;
    // How long one hash takes here.
    let started = Instant::now();
    let r = s
        .sign_up("first@example.com", PW, &mut Jar::default())
        .await;
    assert_eq!(r.status, 201);
    let one_hash = started.elapsed();

    let mut burst = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (http, url) = (s.http.clone(), s.url("/auth/sign-up"));
        burst.spawn(async move {
            let started = Instant::now();
            let body = serde_json::json!({
                "email": format!("burst{i}@example.com"), "password": PW, "name": "Burst",
            });
            let r = http.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            let retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            (status, retry, r.text().await.unwrap(), started.elapsed())
        });
    }
    let answers = burst.join_all().await;
    let created = answers.iter().filter(|a| a.0 == 201).count();
    let busy: Vec<_> = answers.iter().filter(|a| a.0 == 503).collect();
    assert_eq!(created + busy.len(), answers.len(), "{answers:?}");
    assert!(created >= 2, "one running, one queued: {created}");
    assert!(
        !busy.is_empty(),
        "6 at once with room for 2 (hash: {one_hash:?})"
    );
    for (_, retry, text, took) in &busy {
        assert_eq!(text, r#"{"error":"Service unavailable"}"#);
        assert_eq!(retry.as_deref(), Some("1"));
        assert!(
            *took < one_hash + Duration::from_millis(50),
            "refused at once, not after a wait: {took:?} (a hash takes {one_hash:?})"
        );
    }
    // The refused sign-ups were not counted: the address (the loopback peer) still has room for
    // them (7 in all).
    for i in 0..busy.len() {
        let r = s
            .sign_up(&format!("retry{i}@example.com"), PW, &mut Jar::default())
            .await;
        assert_eq!(r.status, 201, "retry {i}: {}", r.text);
    }
}
