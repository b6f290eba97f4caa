//! Signing keys in rotation and at rest, on SQLite and on PostgreSQL: staged rotation across two
//! instances and an external JWKS cache (no refusal window), concurrent rotations, keys encrypted
//! with `AUTH_KEY_ENCRYPTION_KEY`, and owner-only SQLite files.

mod idp_support;

use auth_idp::{Idp, IdpError, KeyEncryptionKey};
use auth_server::{AuthConfig, CacheConfig, ConfigError, KeyStore, RequireAuth, Verifier};
use axum::Router;
use axum::routing::get;
use base64::Engine;
use idp_support::{Jar, Kind, Server, TestDb, config, listener, random_suffix, verify};
use rand_core::RngCore;
use std::time::{Duration, Instant, SystemTime};

const PW: &str = "correct horse battery";
/// Short key timing so a rotation completes in seconds: activation delay = 1 s + 2 s.
const RELOAD: Duration = Duration::from_secs(1);
const JWKS_MAX_AGE: Duration = Duration::from_secs(2);

both_backends!(
    staged_rotation_has_no_refusal_window,
    concurrent_rotations_end_with_one_current_key,
    keys_are_encrypted_at_rest,
    plaintext_keys_are_encrypted_when_a_key_is_set,
);

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// An instance serving the provider's routes and `/api/me` (Bearer tokens verified by the
/// instance's own verifier, as an app's API does).
async fn instance(db: &TestDb, issuer: &str) -> Server {
    let (l, base) = listener().await;
    let idp = Idp::connect(
        config(db, &base)
            .with_issuer(issuer)
            .with_key_timing(RELOAD, JWKS_MAX_AGE),
    )
    .await
    .unwrap();
    let app = idp
        .stack(AuthConfig::embedded())
        .unwrap()
        .apply(Router::new().route(
            "/api/me",
            get(|a: RequireAuth| async move { a.user_id().to_string() }),
        ));
    Server::serve_app(idp, l, base, app)
}

/// A fresh session token minted by `s` (a sign-in over HTTP).
async fn mint(s: &Server, email: &str) -> String {
    let mut jar = Jar::default();
    let r = s.sign_in(email, PW, &mut jar).await;
    assert_eq!(r.status, 200, "{}", r.text);
    jar.cookies["__session"].clone()
}

/// Whether `s`'s own verifier accepts `token` as a Bearer token (no cookie to fall back on).
async fn accepted_by(s: &Server, token: &str) -> bool {
    let r = s
        .http
        .get(s.url("/api/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    match r.status().as_u16() {
        200 => true,
        401 => false,
        other => panic!("unexpected status {other}"),
    }
}

/// Two instances on one database, each verifying through its own verifier, and an external
/// verifier that caches instance A's JWKS for its `max-age`. A rotation on A publishes the next
/// key first; every token minted by either instance during and after the transition verifies
/// everywhere, and the new key signs from the computed activation time on, on both instances.
async fn staged_rotation_has_no_refusal_window(kind: Kind) {
    let db = TestDb::new(kind).await;
    let issuer = "https://app.example.test";
    let a = instance(&db, issuer).await;
    let b = instance(&db, issuer).await;
    let delay = a.idp.config().key_activation_delay();
    assert_eq!(delay, RELOAD + JWKS_MAX_AGE);
    // The JWKS says how long it may be cached, which the activation delay accounts for.
    let r = a.get("/.well-known/jwks.json", &mut Jar::default()).await;
    assert_eq!(r.header("cache-control"), Some("public, max-age=2"));
    // An external verifier (another service) fed by A's JWKS over HTTP, cached for max-age and
    // refetching an unknown key at most once per max-age.
    let external = Verifier::new(
        &AuthConfig::embedded().with_issuer(issuer),
        KeyStore::jwks_url(
            a.url("/.well-known/jwks.json"),
            CacheConfig {
                ttl: JWKS_MAX_AGE,
                cooldown: JWKS_MAX_AGE,
                ..CacheConfig::default()
            },
        ),
    )
    .unwrap();
    let email = "rot@example.com";
    assert_eq!(a.sign_up(email, PW, &mut Jar::default()).await.status, 201);
    let old_token = mint(&a, email).await;
    let old_kid = kid_of(&old_token);
    assert!(external.verify(&old_token).await.is_ok());

    let rotated_at = SystemTime::now();
    let started = Instant::now();
    let rotation = a.idp.rotate_keys().await.unwrap();
    assert!(!rotation.already_pending);
    assert_ne!(rotation.kid, old_kid);
    let wait = rotation.signs_from.duration_since(rotated_at).unwrap();
    assert!(
        wait >= delay && wait <= delay + Duration::from_secs(1),
        "signs {wait:?} after the rotation (delay {delay:?}, rounded up to a second)"
    );
    // Published at once on A (JWKS, own verifier), not signing yet.
    assert!(a.idp.jwks().find(&rotation.kid).is_some());
    assert_eq!(kid_of(&mint(&a, email).await), old_kid);

    let (mut minted, mut refusals, mut off_schedule, mut new_kid_seen_at) =
        (0, Vec::new(), Vec::new(), None);
    let end = rotation.signs_from + Duration::from_secs(2);
    while SystemTime::now() < end {
        for (name, minter) in [("A", &a), ("B", &b)] {
            let before = SystemTime::now();
            let token = mint(minter, email).await;
            let kid = kid_of(&token);
            minted += 1;
            if kid == rotation.kid {
                if before + Duration::from_millis(50) < rotation.signs_from {
                    off_schedule.push(format!("{name} signed with the new key early"));
                }
                new_kid_seen_at.get_or_insert(started.elapsed());
            } else {
                assert_eq!(kid, old_kid);
                // An instance switches at the activation time by its own clock (B has loaded
                // the next key within the reload interval, long before).
                if before > rotation.signs_from + Duration::from_millis(500) {
                    off_schedule.push(format!("{name} signed with the old key late"));
                }
            }
            for (verifier, ok) in [
                ("A", accepted_by(&a, &token).await),
                ("B", accepted_by(&b, &token).await),
                ("external", external.verify(&token).await.is_ok()),
            ] {
                if !ok {
                    refusals.push(format!(
                        "{verifier} refused a token of {name} (kid {kid}) at {:?}",
                        started.elapsed()
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let switched_after = new_kid_seen_at.expect("the new key signed");
    eprintln!(
        "rotation: {minted} tokens minted over {:?}, each verified by 3 verifiers; new key signing \
         {switched_after:?} after the rotation (delay {delay:?}); refusals: {}",
        started.elapsed(),
        refusals.len()
    );
    assert!(refusals.is_empty(), "{refusals:#?}");
    assert!(off_schedule.is_empty(), "{off_schedule:#?}");
    assert!(switched_after >= delay - Duration::from_millis(100));
    // Both instances sign with the new key now.
    assert_eq!(kid_of(&mint(&a, email).await), rotation.kid);
    assert_eq!(kid_of(&mint(&b, email).await), rotation.kid);
    // The old key stays published (its tokens have not expired) and verifies everywhere.
    let jwks = b.idp.reload_keys().await.unwrap();
    assert!(jwks.find(&old_kid).is_some() && jwks.find(&rotation.kid).is_some());
    assert!(accepted_by(&b, &old_token).await);
    assert!(external.verify(&old_token).await.is_ok());
    // The switch is recorded: exactly one current key, no next key, the old one retired as of
    // the activation time.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE next_marker = 1")
            .await,
        0
    );
    let signs_from = rotation
        .signs_from
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(
        db.scalar(&format!(
            "SELECT retired_at FROM signing_keys WHERE kid = '{old_kid}'"
        ))
        .await,
        signs_from
    );
}

/// Instances starting and rotating at the same moment end with one current key and one next
/// key; after the activation time, instances recording the switch at once still leave exactly one
/// current key.
async fn concurrent_rotations_end_with_one_current_key(kind: Kind) {
    let db = TestDb::new(kind).await;
    let (_, base) = listener().await;
    let cfg = || config(&db, &base).with_key_timing(Duration::from_millis(100), Duration::ZERO);
    let (a, b) = tokio::join!(Idp::connect(cfg()), Idp::connect(cfg()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (c, ra, rb) = tokio::join!(Idp::connect(cfg()), a.rotate_keys(), b.rotate_keys());
    let (c, ra, rb) = (c.unwrap(), ra.unwrap(), rb.unwrap());
    assert_eq!(ra.kid, rb.kid, "one rotation, one next key");
    assert!(ra.already_pending != rb.already_pending, "{ra:?} {rb:?}");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM signing_keys").await, 2);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE next_marker = 1")
            .await,
        1
    );
    let wait = ra
        .signs_from
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    let (ja, jb, jc) = tokio::join!(a.reload_keys(), b.reload_keys(), c.reload_keys());
    for jwks in [ja.unwrap(), jb.unwrap(), jc.unwrap()] {
        assert_eq!(jwks.keys.len(), 2, "old key still published");
    }
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1 AND kid = '{}'",
            ra.kid
        ))
        .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1 OR next_marker = 1")
            .await,
        1
    );
    // A second rotation right after: a new next key, still one current key.
    let (r1, r2) = tokio::join!(a.rotate_keys(), c.rotate_keys());
    let waiting = r1.unwrap().kid;
    assert_eq!(waiting, r2.unwrap().kid);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1")
            .await,
        1
    );
    // `rotate-keys --now` while a key waits: the new key signs at once, the waiting one retires
    // (still published, like the old current key), nothing is left waiting.
    let (now_kid, _) = tokio::join!(a.rotate_keys_now(), b.reload_keys());
    let now_kid = now_kid.unwrap();
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1 AND kid = '{now_kid}'"
        ))
        .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE current_marker = 1 OR next_marker = 1")
            .await,
        1
    );
    let jwks = a.jwks();
    assert!(jwks.find(&waiting).is_some() && jwks.find(&ra.kid).is_some());
}

fn random_kek() -> (String, KeyEncryptionKey) {
    let mut bytes = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut bytes);
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let key = KeyEncryptionKey::from_base64(&b64).unwrap();
    (b64, key)
}

fn assert_kek_error(result: Result<Idp, IdpError>) {
    let err = result.expect_err("the provider must not start");
    assert!(
        matches!(
            &err,
            IdpError::Config(ConfigError::Invalid {
                var: "AUTH_KEY_ENCRYPTION_KEY",
                ..
            })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("AUTH_KEY_ENCRYPTION_KEY"), "{err}");
}

async fn pem_rows(db: &TestDb) -> i64 {
    db.scalar("SELECT COUNT(*) FROM signing_keys WHERE private_key_pem LIKE '%PRIVATE KEY%'")
        .await
}

/// With a key-encryption key, no private key is stored as PEM; the provider signs and verifies
/// after a restart; a wrong or missing key stops the start with an error naming the variable,
/// and creates no new key (which would sign everyone out).
async fn keys_are_encrypted_at_rest(kind: Kind) {
    let db = TestDb::new(kind).await;
    let (_, kek) = random_kek();
    let (l, base) = listener().await;
    let encrypted = || config(&db, &base).with_key_encryption_key(kek.clone());
    let s = Server::serve(Idp::connect(encrypted()).await.unwrap(), l, base.clone());
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("enc@example.com", PW, &mut jar).await.status, 201);
    let token = jar.cookies["__session"].clone();
    s.idp.rotate_keys().await.unwrap(); // the next key is encrypted too
    assert_eq!(db.scalar("SELECT COUNT(*) FROM signing_keys").await, 2);
    assert_eq!(pem_rows(&db).await, 0, "no PEM text in the database");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM signing_keys WHERE private_key_pem LIKE 'aes256gcm:v1:%'")
            .await,
        2
    );
    let jwks = serde_json::to_value(s.idp.jwks()).unwrap();
    s.idp.close().await;
    drop(s);

    // Restart with the same key: same keys, old token verifies, new tokens are signed.
    let (l2, base2) = listener().await;
    let again = Idp::connect(encrypted()).await.unwrap();
    assert_eq!(serde_json::to_value(again.jwks()).unwrap(), jwks);
    assert!(verify(&again, &token).await.is_some());
    let s2 = Server::serve(again, l2, base2);
    let mut jar2 = Jar::default();
    assert_eq!(
        s2.sign_in("enc@example.com", PW, &mut jar2).await.status,
        200
    );
    assert!(verify(&s2.idp, &jar2.cookies["__session"]).await.is_some());
    s2.idp.close().await;
    drop(s2);

    // A wrong key, or none: a clear error, and nothing regenerated.
    let (_, wrong) = random_kek();
    assert_kek_error(Idp::connect(config(&db, &base).with_key_encryption_key(wrong)).await);
    assert_kek_error(Idp::connect(config(&db, &base)).await);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM signing_keys").await, 2);
    assert_eq!(pem_rows(&db).await, 0);
    // The variable is read and validated by the settings loader.
    let (b64, _) = random_kek();
    let from_env = auth_idp::IdpConfig::from_lookup(|name| match name {
        "AUTH_KEY_ENCRYPTION_KEY" => Some(b64.clone()),
        "DATABASE_URL" => Some(db.url.clone()),
        _ => None,
    })
    .unwrap();
    assert_kek_error(Idp::connect(from_env).await);
}

/// Keys written before `AUTH_KEY_ENCRYPTION_KEY` was set still load, and are encrypted in place
/// at the first start with it; tokens they signed keep verifying.
async fn plaintext_keys_are_encrypted_when_a_key_is_set(kind: Kind) {
    let db = TestDb::new(kind).await;
    let (l, base) = listener().await;
    let s = Server::serve(
        Idp::connect(config(&db, &base)).await.unwrap(),
        l,
        base.clone(),
    );
    let mut jar = Jar::default();
    assert_eq!(s.sign_up("old@example.com", PW, &mut jar).await.status, 201);
    let token = jar.cookies["__session"].clone();
    assert_eq!(pem_rows(&db).await, 1, "unencrypted without the variable");
    s.idp.close().await;
    drop(s);

    let (_, kek) = random_kek();
    let idp = Idp::connect(config(&db, &base).with_key_encryption_key(kek.clone()))
        .await
        .unwrap();
    assert_eq!(pem_rows(&db).await, 0, "encrypted at start");
    assert!(verify(&idp, &token).await.is_some());
    idp.close().await;
    let again = Idp::connect(config(&db, &base).with_key_encryption_key(kek))
        .await
        .unwrap();
    assert!(verify(&again, &token).await.is_some());
}

/// The SQLite folder is created 0700 and the database file, its `-wal` and `-shm` 0600; an
/// existing file readable by others is narrowed.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let root = std::env::temp_dir().join(format!("idp-perm-{}", random_suffix()));
    let folder = root.join("data");
    let file = folder.join("app.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let (_, base) = listener().await;
    let idp = Idp::connect(
        auth_idp::IdpConfig::new(url.clone(), &base)
            .unwrap()
            .with_password_params(idp_support::FAST_HASH),
    )
    .await
    .unwrap();
    idp.rotate_keys().await.unwrap(); // a write: the WAL is in use
    let wal = folder.join("app.db-wal");
    let shm = folder.join("app.db-shm");
    assert_eq!(mode(&root), 0o700, "created folders are owner-only");
    assert_eq!(mode(&folder), 0o700);
    assert_eq!(mode(&file), 0o600);
    assert!(wal.exists() && shm.exists());
    assert_eq!(mode(&wal), 0o600);
    assert_eq!(mode(&shm), 0o600);
    idp.close().await;

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let idp = Idp::connect(auth_idp::IdpConfig::new(url, &base).unwrap())
        .await
        .unwrap();
    assert_eq!(mode(&file), 0o600, "narrowed at start");
    idp.close().await;
    let _ = std::fs::remove_dir_all(&root);
}
