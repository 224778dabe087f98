//! Sign-in fixtures: a test server with the security layer on, accounts
//! for a professional who takes part, one who does not, and an
//! administrator, and requests carrying their session cookies.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use session::access::{AccessEntry, AccessStore, AccountRole, AccountSecrets, NewAccount};
use session::{Pii, Timestamp};
use signaling::auth::{password, totp};
use tower::ServiceExt;

use super::server::{TIMEOUT, TestServer};
use super::{DOCTOR_RPPS, EXPERT_RPPS};

pub const PASSWORD: &str = "fictitious-password-1";

/// A test account and its TOTP secret.
pub struct TestAccount {
    pub login: String,
    pub totp: Vec<u8>,
}

pub struct Secured {
    pub server: TestServer,
    pub access: Arc<AccessStore>,
}

impl Secured {
    /// A server whose state has sign-in and the access log on.
    pub async fn start() -> Secured {
        Secured::start_with(|_| {}).await
    }

    /// The same, with other settings changed too.
    pub async fn start_with(configure: impl FnOnce(&mut signaling::server::Settings)) -> Secured {
        let server = TestServer::start_with(|s| {
            s.sign_in = true;
            configure(s);
        })
        .await;
        let access = server
            .state
            .security()
            .expect("sign-in is on")
            .access
            .clone();
        Secured { server, access }
    }

    /// Adds an account with [`PASSWORD`].
    pub fn add(&self, login: &str, role: AccountRole, rpps: Option<&str>) -> TestAccount {
        let secret = totp::new_secret().expect("secret");
        self.access
            .add_account(
                NewAccount {
                    login: login.into(),
                    role,
                    password_hash: password::hash(PASSWORD).expect("hash"),
                    secrets: AccountSecrets {
                        name: Pii::new(format!("Dr {login}")),
                        rpps: rpps.map(|r| Pii::new(r.parse().expect("rpps"))),
                        totp_secret: Pii::new(secret.clone()),
                    },
                },
                Timestamp::now(),
            )
            .expect("add account");
        TestAccount {
            login: login.into(),
            totp: secret,
        }
    }

    /// The doctor of `new_teleconsultation`, a professional who is not
    /// in it, and an administrator.
    pub fn standard_accounts(&self) -> (TestAccount, TestAccount, TestAccount) {
        (
            self.add("doctor", AccountRole::Professional, Some(DOCTOR_RPPS)),
            self.add("outsider", AccountRole::Professional, Some(EXPERT_RPPS)),
            self.add("admin", AccountRole::Administrator, None),
        )
    }

    /// `POST /api/session`; returns the status, body and session cookie.
    pub async fn sign_in_with(
        &self,
        login: &str,
        password: &str,
        code: &str,
    ) -> (StatusCode, Value, Option<String>) {
        let req = Request::post("/api/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"login": login, "password": password, "totp": code}).to_string(),
            ))
            .expect("request");
        let res = tokio::time::timeout(TIMEOUT, self.server.app().oneshot(req))
            .await
            .expect("in time")
            .expect("infallible");
        let status = res.status();
        let cookie = res
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().expect("ascii").to_string());
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body, cookie)
    }

    /// `POST /api/session` as if from the client address `from`; returns
    /// the status.
    pub async fn sign_in_from(
        &self,
        from: std::net::IpAddr,
        login: &str,
        password: &str,
        code: &str,
    ) -> StatusCode {
        let mut req = Request::post("/api/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"login": login, "password": password, "totp": code}).to_string(),
            ))
            .expect("request");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                from, 40000,
            )));
        let res = tokio::time::timeout(TIMEOUT, self.server.app().oneshot(req))
            .await
            .expect("in time")
            .expect("infallible");
        res.status()
    }

    /// Signs `account` in and returns its `Cookie` header value.
    pub async fn sign_in(&self, account: &TestAccount) -> String {
        let code = totp::code_at(&account.totp, Timestamp::now()).expect("code");
        let (status, body, cookie) = self.sign_in_with(&account.login, PASSWORD, &code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let set = cookie.expect("a session cookie");
        set.split(';').next().expect("name=value").to_string()
    }

    /// A GET with an optional cookie and Authorization header.
    pub async fn get(
        &self,
        path: &str,
        cookie: Option<&str>,
        auth: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::get(path);
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        self.server
            .rest(req.body(Body::empty()).expect("request"))
            .await
    }

    /// The access log's audit of reads, exports and sign-ins, as stored:
    /// without the entries the account store writes itself (actor
    /// `accounts`: each account's role and state, which sign-in checks;
    /// `self.access.entries()` has everything).
    pub fn entries(&self) -> Vec<AccessEntry> {
        self.access
            .entries()
            .expect("access log")
            .into_iter()
            .filter(|e| e.actor != "accounts")
            .collect()
    }
}
