//! A hostile OpenID provider: a local server that speaks the protocol correctly but whose ID
//! tokens are forged one flaw at a time (another issuer, another audience, `alg: none`, a key
//! not in its JWKS, a key swapped under a known `kid`, an HMAC keyed with the client secret,
//! expired, a replayed nonce, no ID token at all). Every forgery must end signed out on the
//! sign-in page with `oauth_failed` and no account; the untouched token must sign in (so the
//! refusals are the forgeries', not the harness's).

mod idp_support;

use auth_idp::{Idp, OAuthProvider};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use idp_support::{Jar, Kind, Server, TestDb, config, listener};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "template-app";
const CLIENT_SECRET: &str = "a-long-client-secret-for-the-forgery-tests";

/// What the next token response holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forgery {
    None,
    OtherIssuer,
    OtherAudience,
    AlgNone,
    UnknownKey,
    SwappedKey,
    HmacWithClientSecret,
    Expired,
    ReplayedNonce,
    NoIdToken,
}

struct Key {
    encoding: EncodingKey,
    jwk: Jwk,
    kid: String,
}

fn new_key(kid: &str) -> Key {
    let secret = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
    let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
    let encoding = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256).unwrap();
    jwk.common.key_id = Some(kid.to_owned());
    Key {
        encoding,
        jwk,
        kid: kid.to_owned(),
    }
}

struct Op {
    issuer: String,
    published: Key,
    unpublished: Key,
    forgery: Forgery,
    /// The nonce of the latest authorization request, and the one before it.
    nonces: Vec<String>,
}

type Shared = Arc<Mutex<Op>>;

async fn discovery(State(op): State<Shared>) -> impl IntoResponse {
    let issuer = op.lock().unwrap().issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
}

async fn jwks(State(op): State<Shared>) -> impl IntoResponse {
    let jwk = op.lock().unwrap().published.jwk.clone();
    axum::Json(JwkSet { keys: vec![jwk] })
}

/// Approves at once: back to the client with a code and the state.
async fn authorize(
    State(op): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    op.lock()
        .unwrap()
        .nonces
        .push(q.get("nonce").cloned().unwrap_or_default());
    let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
    back.query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", &q["state"]);
    Redirect::to(back.as_str())
}

async fn token(State(op): State<Shared>) -> impl IntoResponse {
    let op = op.lock().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let latest = op.nonces.last().cloned().unwrap_or_default();
    let mut claims = json!({
        "iss": op.issuer,
        "aud": CLIENT_ID,
        "sub": "forged-subject",
        "iat": now,
        "exp": now + 300,
        "nonce": latest,
        "email": "victim@example.test",
        "email_verified": true,
    });
    match op.forgery {
        Forgery::OtherIssuer => claims["iss"] = json!("https://accounts.example.com"),
        Forgery::OtherAudience => claims["aud"] = json!("another-app"),
        Forgery::Expired => {
            claims["iat"] = json!(now - 4000);
            claims["exp"] = json!(now - 3000);
        }
        Forgery::ReplayedNonce => {
            claims["nonce"] = json!(op.nonces.first().cloned().unwrap_or_default());
        }
        _ => {}
    }
    let sign = |key: &Key| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap()
    };
    let id_token = match op.forgery {
        Forgery::AlgNone => {
            let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let body = URL_SAFE_NO_PAD.encode(claims.to_string());
            Some(format!("{head}.{body}."))
        }
        Forgery::UnknownKey => Some(sign(&op.unpublished)),
        Forgery::SwappedKey => {
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(op.published.kid.clone());
            Some(jsonwebtoken::encode(&header, &claims, &op.unpublished.encoding).unwrap())
        }
        Forgery::HmacWithClientSecret => Some(
            jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(CLIENT_SECRET.as_bytes()),
            )
            .unwrap(),
        ),
        Forgery::NoIdToken => None,
        _ => Some(sign(&op.published)),
    };
    let mut body = json!({"access_token": "at", "token_type": "Bearer", "expires_in": 60});
    if let Some(id_token) = id_token {
        body["id_token"] = Value::String(id_token);
    }
    axum::Json(body)
}

async fn start_op() -> Shared {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let op = Arc::new(Mutex::new(Op {
        issuer,
        published: new_key("published"),
        unpublished: new_key("unpublished"),
        forgery: Forgery::None,
        nonces: Vec::new(),
    }));
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        // A discovery document under another path that names the main issuer: a provider
        // configured with `<base>/mixup` must refuse it.
        .route("/mixup/.well-known/openid-configuration", get(discovery))
        .with_state(op.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    op
}

/// One whole flow through the hostile provider: where the callback sends the browser.
async fn flow(s: &Server, jar: &mut Jar) -> String {
    let r = s.get("/auth/oauth/evil?redirect_url=/home", jar).await;
    assert_eq!(r.status, 303, "{r:?}");
    let at_op = r.header("location").unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let back = http.get(&at_op).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    let path = callback.strip_prefix(&s.base).unwrap().to_owned();
    let r = s.get(&path, jar).await;
    assert_eq!(r.status, 303, "{r:?}");
    r.header("location").unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_id_tokens_sign_no_one_in() {
    let db = TestDb::new(Kind::Sqlite).await;
    let op = start_op().await;
    let issuer = op.lock().unwrap().issuer.clone();
    let vars = HashMap::from([
        ("AUTH_OAUTH_PROVIDERS", "evil".to_owned()),
        ("AUTH_OAUTH_EVIL_CLIENT_ID", CLIENT_ID.to_owned()),
        ("AUTH_OAUTH_EVIL_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("AUTH_OAUTH_EVIL_ISSUER", issuer),
    ]);
    let (listener, base) = listener().await;
    let mut config = config(&db, &base);
    config.oauth_providers = OAuthProvider::from_lookup(|n| vars.get(n).cloned()).unwrap();
    let s = Server::serve(Idp::connect(config).await.unwrap(), listener, base);

    // A first flow, only to have a nonce to replay (refused: another issuer).
    op.lock().unwrap().forgery = Forgery::OtherIssuer;
    let mut jar = Jar::default();
    let landed = flow(&s, &mut jar).await;
    assert!(
        landed.starts_with("/sign-in?error=oauth_failed"),
        "{landed}"
    );

    for forgery in [
        Forgery::OtherAudience,
        Forgery::AlgNone,
        Forgery::UnknownKey,
        Forgery::SwappedKey,
        Forgery::HmacWithClientSecret,
        Forgery::Expired,
        Forgery::ReplayedNonce,
        Forgery::NoIdToken,
    ] {
        op.lock().unwrap().forgery = forgery;
        let mut jar = Jar::default();
        let landed = flow(&s, &mut jar).await;
        assert!(
            landed.starts_with("/sign-in?error=oauth_failed"),
            "{forgery:?}: {landed}"
        );
        assert!(!jar.cookies.contains_key("__session"), "{forgery:?}");
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM users").await,
            0,
            "{forgery:?} created an account"
        );
    }

    // The same provider, token untouched: signed in. The refusals above were the forgeries'.
    op.lock().unwrap().forgery = Forgery::None;
    let mut jar = Jar::default();
    assert_eq!(flow(&s, &mut jar).await, "/home");
    let session = s.get("/auth/session", &mut jar).await.body;
    assert_eq!(session["user"]["email"], "victim@example.test", "{session}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_document_for_another_issuer_and_too_many_starts_are_refused() {
    let db = TestDb::new(Kind::Sqlite).await;
    let op = start_op().await;
    let issuer = op.lock().unwrap().issuer.clone();
    let vars = HashMap::from([
        ("AUTH_OAUTH_PROVIDERS", "evil,mixup".to_owned()),
        ("AUTH_OAUTH_EVIL_CLIENT_ID", CLIENT_ID.to_owned()),
        ("AUTH_OAUTH_EVIL_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("AUTH_OAUTH_EVIL_ISSUER", issuer.clone()),
        ("AUTH_OAUTH_MIXUP_CLIENT_ID", CLIENT_ID.to_owned()),
        ("AUTH_OAUTH_MIXUP_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("AUTH_OAUTH_MIXUP_ISSUER", format!("{issuer}/mixup")),
    ]);
    let (listener, base) = listener().await;
    let mut config = config(&db, &base);
    config.oauth_providers = OAuthProvider::from_lookup(|n| vars.get(n).cloned()).unwrap();
    let s = Server::serve(Idp::connect(config).await.unwrap(), listener, base);

    let mut jar = Jar::default();
    let r = s.get("/auth/oauth/mixup?redirect_url=/", &mut jar).await;
    assert_eq!(r.status, 303, "{r:?}");
    assert!(
        r.header("location")
            .unwrap()
            .starts_with("/sign-in?error=oauth_unavailable"),
        "{r:?}"
    );
    assert!(
        op.lock().unwrap().nonces.is_empty(),
        "the browser never went there"
    );

    // Each start writes a row: 60 per client address per 15 minutes (the refused one above did
    // not count: it was refused after the count).
    let mut started = 0;
    let refused = loop {
        let r = s
            .get("/auth/oauth/evil?redirect_url=/", &mut Jar::default())
            .await;
        let location = r.header("location").unwrap_or_default().to_owned();
        if location.starts_with(&issuer) {
            started += 1;
            assert!(started <= 60, "more than 60 starts from one address");
        } else {
            break location;
        }
    };
    assert!(
        refused.starts_with("/sign-in?error=rate_limited"),
        "{refused}"
    );
    assert_eq!(started, 59, "60 starts in all, counting the refused mix-up");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM oauth_flows").await, 59);
}
