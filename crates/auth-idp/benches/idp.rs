//! The embedded identity provider's costs with the production argon2id parameters
//! (m = 19456 KiB, t = 2, p = 1): one hash, one verify, one sign-in over HTTP on loopback (known
//! and unknown email: both pay one hash, so timing does not reveal which emails exist), and
//! sign-in throughput with 8 concurrent requests.
//!
//! `cargo bench -p auth-server --bench idp`

use auth_idp::fuzzing::Passwords;
use auth_idp::{Idp, IdpConfig, PasswordParams, RateLimitConfig};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;

const PW: &str = "correct horse battery";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("argon2id");
    group.sample_size(20);
    let passwords = rt
        .block_on(Passwords::new(PasswordParams::default(), 2))
        .unwrap();
    group.bench_function("hash", |b| {
        b.iter(|| rt.block_on(passwords.hash(PW.to_owned())).unwrap())
    });
    let hash = rt.block_on(passwords.hash(PW.to_owned())).unwrap();
    group.bench_function("verify", |b| {
        b.iter(|| {
            let ok = rt.block_on(passwords.verify(PW.to_owned(), Some(hash.clone())));
            assert!(ok.unwrap());
        })
    });
    group.finish();

    let (base, _dir) = rt.block_on(start_server());
    let http = reqwest::Client::new();
    let sign_in = |email: &'static str| {
        let http = http.clone();
        let url = format!("{base}/auth/sign-in");
        async move {
            http.post(url)
                .json(&json!({ "email": email, "password": PW }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let up = rt.block_on(
        http.post(format!("{base}/auth/sign-up"))
            .json(&json!({ "email": "bench@example.com", "password": PW }))
            .send(),
    );
    assert_eq!(up.unwrap().status(), 201);

    let mut group = c.benchmark_group("sign-in");
    group.sample_size(20);
    group.bench_function("known email", |b| {
        b.iter(|| assert_eq!(rt.block_on(sign_in("bench@example.com")), 200))
    });
    group.bench_function("unknown email", |b| {
        b.iter(|| assert_eq!(rt.block_on(sign_in("nobody@example.com")), 401))
    });
    group.throughput(Throughput::Elements(8));
    group.bench_function("8 concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut all = tokio::task::JoinSet::new();
                for _ in 0..8 {
                    all.spawn(sign_in("bench@example.com"));
                }
                while let Some(status) = all.join_next().await {
                    assert_eq!(black_box(status.unwrap()), 200);
                }
            })
        })
    });
    group.finish();
}

/// The provider alone on a fresh SQLite file, rate limit out of the way.
async fn start_server() -> (String, TempDir) {
    let dir = TempDir(std::env::temp_dir().join(format!("idp-bench-{}", std::process::id())));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let url = format!("sqlite://{}/app.db?mode=rwc", dir.0.display());
    let config = IdpConfig::new(url, &base)
        .unwrap()
        .with_rate_limit(RateLimitConfig {
            max_failures: u32::MAX,
            window: Duration::from_secs(1),
            account_max_failures: u32::MAX,
            account_window: Duration::from_secs(1),
            address_max_failures: u32::MAX,
            ..RateLimitConfig::default()
        });
    let idp = Idp::connect(config).await.unwrap();
    let app = idp
        .stack(auth_server::AuthConfig::embedded())
        .unwrap()
        .apply(axum::Router::new());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, dir)
}

/// Removes the bench database when done.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
