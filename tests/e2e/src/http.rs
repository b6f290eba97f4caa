//! Plain-HTTP helpers for the attack suite (`tests/attacks/`): a client that neither follows
//! redirects nor keeps cookies, raw TCP requests (for bytes reqwest refuses to send), JWT forging
//! (with the server's own signing key read from its SQLite file, or a throw-away key), a listener
//! that counts the connections it gets, and sign-up / sign-in shortcuts.

use crate::AppServer;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The exact body of every 401 of the API (docs/protecting-routes.md).
pub const UNAUTHORIZED: &str = r#"{"error":"Unauthorized"}"#;
/// The exact body of every 403 (CSRF refusals included).
pub const FORBIDDEN: &str = r#"{"error":"Forbidden"}"#;

/// Header naming a made-up client address, different for every [`client`]. A server started with
/// `AUTH_TRUSTED_IP_HEADER` set to it sees each client as another address, so a test that needs
/// many failed sign-ins is not stopped by the per-address limit; other servers ignore it.
pub const CLIENT_ADDRESS_HEADER: &str = "x-e2e-client-address";

/// An HTTP client that never follows redirects and keeps no cookies: every request says exactly
/// what the test wrote (plus [`CLIENT_ADDRESS_HEADER`]).
pub fn client() -> reqwest::Client {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let address = std::net::Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff)).to_string();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        CLIENT_ADDRESS_HEADER,
        reqwest::header::HeaderValue::from_str(&address).expect("an address is a header value"),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("an HTTP client")
}

/// Unpadded base64url, as in JWTs.
pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url.
pub fn b64url_decode(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("valid base64url in a token the test made")
}

/// Unix seconds now.
pub fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).expect("a sane clock")
}

/// An ES256 private key and the `kid` tokens signed with it carry.
#[derive(Clone)]
pub struct Signer {
    /// The key id put in the header by [`Signer::sign`].
    pub kid: String,
    key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a PKCS#8 PEM P-256 private key.
    pub fn from_pem(kid: &str, pem: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            key: EncodingKey::from_ec_pem(pem.as_bytes()).expect("a P-256 PKCS#8 PEM key"),
        }
    }

    /// `claims` with the header `{"alg":"ES256","typ":"JWT","kid":…}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": self.kid });
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    /// Any header and payload text, signed with ES256 whatever the header claims: for headers
    /// and payloads no JSON library would write (duplicate keys, non-objects, broken JSON).
    pub fn sign_raw(&self, header: &str, payload: &str) -> String {
        sign_input(header, payload, |input| {
            jsonwebtoken::crypto::sign(input, &self.key, Algorithm::ES256).expect("ES256 signing")
        })
    }
}

/// `b64(header).b64(payload).sign(those two)`.
pub fn sign_input(header: &str, payload: &str, sign: impl FnOnce(&[u8]) -> String) -> String {
    let input = format!("{}.{}", b64url(header), b64url(payload));
    let signature = sign(input.as_bytes());
    format!("{input}.{signature}")
}

/// An HMAC-signed token (`alg` HS256/384/512) whose secret is `secret`: the algorithm-confusion
/// attack signs with the server's *public* key as the HMAC secret.
pub fn sign_hmac(alg: Algorithm, header: &Value, claims: &Value, secret: &[u8]) -> String {
    let key = EncodingKey::from_secret(secret);
    sign_input(&header.to_string(), &claims.to_string(), |input| {
        jsonwebtoken::crypto::sign(input, &key, alg).expect("HMAC signing")
    })
}

/// The embedded identity provider's current signing key, read from the server's SQLite file
/// (`signing_keys`, see crates/auth-server/src/idp/keys.rs). Lets the suite forge tokens that
/// carry a *valid* signature, so only the claim under test is wrong.
pub async fn server_signer(server: &AppServer) -> Signer {
    use sqlx::{ConnectOptions, Row, sqlite::SqliteConnectOptions};
    let path = server.data_dir().join("app.db");
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .read_only(true)
        .connect()
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let row = sqlx::query(
        "SELECT kid, private_key_pem FROM signing_keys WHERE current_marker = 1 AND alg = 'ES256'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("the server's current signing key");
    let kid: String = row.get("kid");
    let pem: String = row.get("private_key_pem");
    Signer::from_pem(&kid, &pem)
}

/// A fresh P-256 key pair: the attacker's own key, or the trusted key of a server started with
/// `AUTH_PROVIDER=jwks` + `AUTH_PUBLIC_KEY`.
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// Signs with the private half.
    pub signer: Signer,
    /// SPKI PEM of the public half.
    pub public_pem: String,
    /// The public half as a JWK (with `kid`, `alg`, `use`).
    pub jwk: Value,
}

impl KeyPair {
    /// A new random key with this `kid`.
    pub fn generate(kid: &str) -> Self {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let secret = p256::SecretKey::random(&mut rand_core::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .expect("PKCS#8 encoding");
        let public = secret.public_key();
        let public_pem = public
            .to_public_key_pem(LineEnding::LF)
            .expect("SPKI encoding");
        let point = public.to_encoded_point(false);
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": b64url(point.x().expect("uncompressed point")),
            "y": b64url(point.y().expect("uncompressed point")),
        });
        Self {
            signer: Signer::from_pem(kid, &pem),
            public_pem,
            jwk,
        }
    }
}

/// The ways an attacker can spell an EC public JWK as an HMAC secret: SPKI PEM (LF, CRLF,
/// without the final newline), DER, the SEC1 point (uncompressed), `x‖y`, and the JWK JSON.
pub fn public_key_spellings(jwk: &Value) -> Vec<(&'static str, Vec<u8>)> {
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    let x = b64url_decode(jwk["x"].as_str().expect("JWK x"));
    let y = b64url_decode(jwk["y"].as_str().expect("JWK y"));
    let sec1 = [&[0x04][..], &x, &y].concat();
    let public = p256::PublicKey::from_sec1_bytes(&sec1).expect("a P-256 point");
    let pem_lf = public.to_public_key_pem(LineEnding::LF).expect("PEM");
    let pem_crlf = public.to_public_key_pem(LineEnding::CRLF).expect("PEM");
    let der = public.to_public_key_der().expect("DER");
    vec![
        ("pem", pem_lf.clone().into_bytes()),
        ("pem-crlf", pem_crlf.into_bytes()),
        (
            "pem-no-final-newline",
            pem_lf.trim_end().as_bytes().to_vec(),
        ),
        ("der", der.as_bytes().to_vec()),
        ("sec1", sec1),
        ("x-y", [x, y].concat()),
        ("jwk-json", jwk.to_string().into_bytes()),
        (
            "jwks-json",
            json!({ "keys": [jwk] }).to_string().into_bytes(),
        ),
    ]
}

/// A loopback HTTP listener that counts every connection it accepts and answers each with
/// `body` (JSON). Put its URL in `jku`/`x5u`/… headers: the server must never connect.
#[derive(Debug)]
pub struct CountingListener {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingListener {
    /// Starts listening on a free loopback port.
    pub async fn start(body: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback listener");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 8192];
                    let _ = stream.read(&mut buf).await;
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            connections,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What came back on a raw TCP request.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code, `None` when the server closed the connection without an answer.
    pub status: Option<u16>,
    /// Status line and headers.
    pub head: String,
    /// Everything after the headers (as sent, chunked or not).
    pub body: String,
}

/// Sends `request` byte for byte over a new connection and reads until the server closes it
/// (send `Connection: close`). A server that hangs up mid-write is not an error: the status is
/// then whatever it answered first, or `None`.
pub async fn raw_request(base_url: &str, request: &[u8]) -> RawResponse {
    let address = base_url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .unwrap_or_else(|e| panic!("connect to {address}: {e}"));
    let _ = stream.write_all(request).await;
    let mut received = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server neither answered nor closed within 30 s"),
        }
    }
    let text = String::from_utf8_lossy(&received).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    RawResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

/// The cookies a response sets: name → value (an empty value for a removal).
pub fn set_cookies(response: &reqwest::Response) -> BTreeMap<String, String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| {
            let pair = v.split(';').next()?;
            let (name, value) = pair.split_once('=')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// A signed-in browser's cookie jar (`__session` + `__refresh`) and the answer that set it.
#[derive(Debug, Clone)]
pub struct Session {
    /// Cookie name → value.
    pub cookies: BTreeMap<String, String>,
    /// The JSON answer of the sign-up / sign-in.
    pub body: Value,
}

impl Session {
    /// The `Cookie` header a browser would send.
    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The session JWT.
    pub fn token(&self) -> &str {
        self.cookies
            .get("__session")
            .expect("a __session cookie")
            .as_str()
    }

    /// The refresh secret.
    pub fn refresh(&self) -> &str {
        self.cookies
            .get("__refresh")
            .expect("a __refresh cookie")
            .as_str()
    }

    /// The user id of the answer.
    pub fn user_id(&self) -> String {
        self.body["user"]["id"]
            .as_str()
            .expect("user.id in the answer")
            .to_owned()
    }
}

/// A same-origin JSON `POST` (the `Origin` a browser on the app would send), with optional
/// cookies.
pub async fn post_json(
    server: &AppServer,
    path: &str,
    body: &Value,
    cookies: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(server.url(path))
        .header("origin", &server.base_url)
        .json(body);
    if let Some(cookies) = cookies {
        request = request.header("cookie", cookies);
    }
    request.send().await.expect("the server answers")
}

/// A same-origin form `POST` (`application/x-www-form-urlencoded`), as the prebuilt forms send
/// before the wasm has loaded.
pub async fn post_form(
    server: &AppServer,
    path: &str,
    fields: &[(&str, &str)],
    cookies: Option<&str>,
) -> reqwest::Response {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    let mut request = client()
        .post(server.url(path))
        .header("origin", &server.base_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookies) = cookies {
        request = request.header("cookie", cookies);
    }
    request.send().await.expect("the server answers")
}

/// Signs up over JSON; panics unless the answer is 201 with both cookies.
pub async fn sign_up(server: &AppServer, email: &str, password: &str, name: &str) -> Session {
    let response = post_json(
        server,
        "/auth/sign-up",
        &json!({ "email": email, "password": password, "name": name }),
        None,
    )
    .await;
    into_session(response, 201, "sign-up").await
}

/// Signs in over JSON; panics unless the answer is 200 with both cookies.
pub async fn sign_in(server: &AppServer, email: &str, password: &str) -> Session {
    let response = post_json(
        server,
        "/auth/sign-in",
        &json!({ "email": email, "password": password }),
        None,
    )
    .await;
    into_session(response, 200, "sign-in").await
}

/// The session a successful sign-up / sign-in answer established.
pub async fn into_session(response: reqwest::Response, status: u16, what: &str) -> Session {
    let got = response.status().as_u16();
    let cookies = set_cookies(&response);
    let text = response.text().await.unwrap_or_default();
    assert_eq!(got, status, "{what} answered {got}: {text}");
    assert!(
        cookies.get("__session").is_some_and(|v| !v.is_empty())
            && cookies.get("__refresh").is_some_and(|v| !v.is_empty()),
        "{what} set no session cookies: {cookies:?}"
    );
    Session {
        cookies,
        body: serde_json::from_str(&text).expect("a JSON answer"),
    }
}

/// Undoes HTML escaping (`&lt;`, `&#60;`, `&#x3c;`, …) so a test can check that text is present
/// *as text*.
pub fn html_unescape(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What `/auth/session` answers a request carrying `cookies` (a `Cookie` header value): the
/// auth state and the public user.
pub async fn session(server: &AppServer, cookies: &str) -> Value {
    reqwest::Client::new()
        .get(server.url("/auth/session"))
        .header("cookie", cookies)
        .send()
        .await
        .expect("GET /auth/session")
        .json()
        .await
        .expect("/auth/session answers JSON")
}
