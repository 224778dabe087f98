//! Téléexpertise fixtures: a test server with sign-in, the requesting
//! professional, the expert, a professional who takes no part and an
//! administrator signed in; requests to the expertise and document
//! routes; small generated documents.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use serde_json::{Value, json};
use session::ActId;
use session::access::AccountRole;
use tower::ServiceExt;

use super::security::Secured;
use super::server::TIMEOUT;
use super::{DOCTOR, DOCTOR_RPPS, EXPERT, EXPERT_RPPS};

/// A third valid RPPS number: a professional the acts do not name.
pub const OUTSIDER_RPPS: &str = "10000000017";

/// What a route answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Bytes,
}

impl Answer {
    /// The body as JSON (null when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// The `code` of an error body.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_string()
    }

    pub fn header(&self, name: header::HeaderName) -> String {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii").to_string())
            .unwrap_or_default()
    }
}

/// A secured server with four signed-in people.
pub struct Expertise {
    pub s: Secured,
    /// Session cookies.
    pub requester: String,
    pub expert: String,
    pub outsider: String,
    pub admin: String,
}

impl Expertise {
    pub async fn start() -> Expertise {
        let s = Secured::start().await;
        let requester = s.add("requester", AccountRole::Professional, Some(DOCTOR_RPPS));
        let expert = s.add("expert", AccountRole::Professional, Some(EXPERT_RPPS));
        let outsider = s.add("outsider", AccountRole::Professional, Some(OUTSIDER_RPPS));
        let admin = s.add("admin", AccountRole::Administrator, None);
        let requester = s.sign_in(&requester).await;
        let expert = s.sign_in(&expert).await;
        let outsider = s.sign_in(&outsider).await;
        let admin = s.sign_in(&admin).await;
        Expertise {
            s,
            requester,
            expert,
            outsider,
            admin,
        }
    }

    /// One request through the router.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        auth: Option<&str>,
        body: Body,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        self.answer(req.body(body).expect("request")).await
    }

    /// Runs `req` through the router and reads the whole answer.
    async fn answer(&self, req: Request<Body>) -> Answer {
        let res = tokio::time::timeout(TIMEOUT, self.s.server.app().oneshot(req))
            .await
            .expect("the API answers in time")
            .expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("read the body");
        Answer {
            status,
            headers,
            bytes,
        }
    }

    pub async fn get(&self, path: &str, cookie: &str) -> Answer {
        self.send(Method::GET, path, Some(cookie), None, Body::empty())
            .await
    }

    /// A JSON POST with `cookie`.
    pub async fn post(&self, path: &str, cookie: &str, body: Value) -> Answer {
        let req = Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.answer(req).await
    }

    /// Uploads `bytes` as `name` to `act`, with `cookie`.
    pub async fn upload(&self, act: ActId, cookie: &str, name: &str, bytes: Vec<u8>) -> Answer {
        let path = format!("/api/acts/{act}/documents?name={}", query_escape(name));
        let req = Request::post(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, bytes.len())
            .body(Body::from(bytes))
            .expect("request");
        self.answer(req).await
    }

    /// Creates a téléexpertise as the requester: `extra` fields over a
    /// request without the patient, with a question.
    pub async fn create(&self, extra: Value) -> Answer {
        let mut body = json!({
            "kind": "teleexpertise",
            "professional": {"name": DOCTOR, "rpps": DOCTOR_RPPS},
            "expert": {"name": EXPERT, "rpps": EXPERT_RPPS},
            "patient_present": false,
            "question": "Lesion cutanee fictive du dos : avis sur la conduite a tenir ?",
        });
        for (k, v) in extra.as_object().expect("an object") {
            body[k] = v.clone();
        }
        self.post("/api/acts", &self.requester, body).await
    }

    /// A téléexpertise requested with `urgency`, consent attested: its id.
    pub async fn requested(&self, urgency: &str) -> ActId {
        self.requested_with_links(urgency).await.0
    }

    /// The same, with the join links the requester was given (their own
    /// and the patient's), by name.
    pub async fn requested_with_links(&self, urgency: &str) -> (ActId, Value) {
        let a = self
            .create(json!({"urgency": urgency, "attest_consent": {"text_sha256": attestation_sha256()}}))
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.json());
        let v = a.json();
        let id = v["id"].as_str().expect("id").parse().expect("act id");
        (id, v["links"].clone())
    }

    /// The act's event kinds, in order.
    pub fn kinds(&self, act: ActId) -> Vec<&'static str> {
        self.s.server.kinds(act)
    }
}

/// The SHA-256 of the attestation text the server shows.
pub fn attestation_sha256() -> String {
    signaling::api::expertise::attestation_texts()[0]
        .sha256
        .clone()
}

/// A small PDF (a fictitious report), `tag` making each one different.
pub fn pdf(tag: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% compte rendu fictif {tag}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

/// A small JPEG's bytes (SOI, a JFIF header, filler, EOI).
pub fn jpeg(tag: u8) -> Vec<u8> {
    let mut b = vec![
        0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00,
    ];
    b.extend((0..4096u32).map(|i| (i as u8) ^ tag));
    b.extend([0xff, 0xd9]);
    b
}

/// An ELF executable's first bytes, and more.
pub fn elf() -> Vec<u8> {
    let mut b = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00".to_vec();
    b.resize(2048, 0x90);
    b
}

/// Waits, within [`TIMEOUT`], until `done` holds.
pub async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still waiting, after {TIMEOUT:?}, until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// `s` percent-encoded for a query value.
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One HTTP/1.1 exchange over a raw TCP connection to `addr`: sends
/// `head` (the request line and headers, without the blank line), then
/// `body`, then closes its sending side when `close` and reads the answer
/// to its end (within [`TIMEOUT`]). Returns the answer as text (empty if
/// the server closed without one).
pub async fn raw_exchange(
    addr: std::net::SocketAddr,
    head: &str,
    body: &[u8],
    close: bool,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .expect("send the head");
    stream.write_all(body).await.expect("send the body");
    if close {
        stream.shutdown().await.expect("close the sending side");
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .expect("the server answers or closes in time");
    String::from_utf8_lossy(&answer).into_owned()
}
