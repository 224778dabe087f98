//! HTTP limits on every route: how often one client address may call, how
//! many requests the server works on at once, and how long one may take.
//!
//! - **Rate, per client address.** Every route shares one budget per
//!   address ([`HttpLimits::per_client_per_second`]). The routes a join link
//!   opens without signing in (`/api/invitations/check`, `/api/precall/*`)
//!   also draw on a smaller one ([`HttpLimits::join_per_second`]): they are
//!   the public face of the server, and the connection test starts a peer
//!   connection for each call. A refused call gets `429` with `Retry-After`.
//!   The budgets are generous, because a hospital's staff reach the server
//!   from one address. (Sign-in has its own, stricter limiter per login and
//!   address, in `auth::sessions`; WebSocket connections are capped in [`crate::guard`].)
//! - **In flight.** Past [`HttpLimits::max_in_flight`] requests at once the
//!   server answers `503` at once rather than queueing, so a flood cannot
//!   grow memory or latency for everyone.
//! - **Time.** A request not answered within
//!   [`HttpLimits::request_timeout_secs`] gets `503`; a document upload
//!   (`POST /api/acts/{id}/documents`, up to 50 MiB) within
//!   [`HttpLimits::upload_timeout_secs`]. (A WebSocket's upgrade is
//!   answered at once; its connection has its own idle timeout.)
//! - **WebSockets.** At most [`HttpLimits::websockets`] open, and
//!   [`HttpLimits::websockets_per_client`] from one address (counted in
//!   [`crate::guard`]).
//! - **Connections, before any request.** At most
//!   [`HttpLimits::connections`] TCP connections open, and
//!   [`HttpLimits::connections_per_client`] from one address ([`ConnCaps`]);
//!   one over either cap is closed at once, before its TLS handshake. A TLS
//!   handshake must end within [`HttpLimits::tls_handshake_secs`], and a
//!   request's head arrive within [`HttpLimits::header_read_secs`], so slow
//!   or silent clients (slowloris, half-open TLS) cannot hold connections.
//!   The listener itself is in `server::serve_on`.
//!
//! The algorithm is `governor`'s GCRA, keyed by address; the in-flight cap,
//! shedding and timeout are `tower`'s layers.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use tower::{BoxError, ServiceBuilder};

use crate::budget::BudgetLimits;
use crate::error::ApiError;

/// The limits in force; every field has a default, and the settings file's
/// `[http]` table may change any of them.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpLimits {
    /// Requests per second one address may make, sustained, on any route.
    pub per_client_per_second: u32,
    /// Requests one address may make in a burst before the rate applies
    /// (a page load is about ten).
    pub per_client_burst: u32,
    /// Requests per second one address may make to the join-link routes.
    pub join_per_second: u32,
    /// The burst allowed on the join-link routes.
    pub join_burst: u32,
    /// Requests the server works on at once; more are refused with `503`.
    pub max_in_flight: usize,
    /// Seconds a request may take before it is answered `503`.
    pub request_timeout_secs: u64,
    /// Seconds a document upload may take (its body streams in, then is
    /// sealed and stored) before it is answered `503`: 50 MiB at about
    /// 1 Mbit/s.
    pub upload_timeout_secs: u64,
    /// Open WebSocket connections the server accepts at most.
    pub websockets: usize,
    /// Open WebSocket connections one address may hold. A hospital's
    /// staff share one address, and a load harness runs from one.
    pub websockets_per_client: usize,
    /// Open TCP connections (HTTP, WebSocket, still in TLS handshake) the
    /// server holds at most; more are closed on accept.
    pub connections: usize,
    /// Open TCP connections one client address may hold (so one address
    /// cannot take them all). At least `websockets_per_client`, since each
    /// WebSocket is a connection, with room for page loads.
    pub connections_per_client: usize,
    /// Seconds a TLS client has to finish its handshake.
    pub tls_handshake_secs: u64,
    /// Seconds a client has to send a request's head (line and headers)
    /// once it started one, or to send the first after connecting.
    pub header_read_secs: u64,
    /// Trace events one participant's WebSocket messages may add per
    /// minute, and over the act (see [`crate::budget`]); beyond, a message
    /// that records something is answered `error` `refused`.
    pub trace_events_per_participant_per_minute: u32,
    pub trace_events_per_participant: u32,
    /// The same for all participants of one act together.
    pub trace_events_per_act_per_minute: u32,
    pub trace_events_per_act: u32,
    /// Times one participant may join (`hello`) per minute, and per act;
    /// beyond, `hello` is answered `refused` and the connection closed.
    pub joins_per_participant_per_minute: u32,
    pub joins_per_participant: u32,
    /// Trace events one participant's exchange reports (`chat_digest`,
    /// `share`, `screen_share`) may add per minute, and over the act; a
    /// budget apart from the one above.
    pub exchange_events_per_participant_per_minute: u32,
    pub exchange_events_per_participant: u32,
    /// The same for all participants of one act together.
    pub exchange_events_per_act_per_minute: u32,
    pub exchange_events_per_act: u32,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            per_client_per_second: 50,
            per_client_burst: 200,
            join_per_second: 5,
            join_burst: 30,
            max_in_flight: 512,
            request_timeout_secs: 30,
            upload_timeout_secs: 600,
            websockets: 10_000,
            websockets_per_client: 256,
            connections: 16_384,
            connections_per_client: 512,
            tls_handshake_secs: 10,
            header_read_secs: 10,
            trace_events_per_participant_per_minute: BudgetLimits::default().participant_per_minute,
            trace_events_per_participant: BudgetLimits::default().participant_total,
            trace_events_per_act_per_minute: BudgetLimits::default().act_per_minute,
            trace_events_per_act: BudgetLimits::default().act_total,
            joins_per_participant_per_minute: BudgetLimits::default().joins_per_minute,
            joins_per_participant: BudgetLimits::default().joins_total,
            exchange_events_per_participant_per_minute: BudgetLimits::default().exchange_per_minute,
            exchange_events_per_participant: BudgetLimits::default().exchange_total,
            exchange_events_per_act_per_minute: BudgetLimits::default().exchange_act_per_minute,
            exchange_events_per_act: BudgetLimits::default().exchange_act_total,
        }
    }
}

impl HttpLimits {
    /// Why these limits cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            (
                "per_client_per_second",
                u64::from(self.per_client_per_second),
            ),
            ("per_client_burst", u64::from(self.per_client_burst)),
            ("join_per_second", u64::from(self.join_per_second)),
            ("join_burst", u64::from(self.join_burst)),
            ("max_in_flight", self.max_in_flight as u64),
            ("request_timeout_secs", self.request_timeout_secs),
            ("upload_timeout_secs", self.upload_timeout_secs),
            ("websockets", self.websockets as u64),
            ("websockets_per_client", self.websockets_per_client as u64),
            ("connections", self.connections as u64),
            ("connections_per_client", self.connections_per_client as u64),
            ("tls_handshake_secs", self.tls_handshake_secs),
            ("header_read_secs", self.header_read_secs),
            (
                "trace_events_per_participant_per_minute",
                u64::from(self.trace_events_per_participant_per_minute),
            ),
            (
                "trace_events_per_participant",
                u64::from(self.trace_events_per_participant),
            ),
            (
                "trace_events_per_act_per_minute",
                u64::from(self.trace_events_per_act_per_minute),
            ),
            ("trace_events_per_act", u64::from(self.trace_events_per_act)),
            (
                "joins_per_participant_per_minute",
                u64::from(self.joins_per_participant_per_minute),
            ),
            (
                "joins_per_participant",
                u64::from(self.joins_per_participant),
            ),
            (
                "exchange_events_per_participant_per_minute",
                u64::from(self.exchange_events_per_participant_per_minute),
            ),
            (
                "exchange_events_per_participant",
                u64::from(self.exchange_events_per_participant),
            ),
            (
                "exchange_events_per_act_per_minute",
                u64::from(self.exchange_events_per_act_per_minute),
            ),
            (
                "exchange_events_per_act",
                u64::from(self.exchange_events_per_act),
            ),
        ];
        match positive.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("http.{name} must be at least 1")),
            None => Ok(()),
        }
    }
}

impl HttpLimits {
    /// The budgets of trace events these settings give each act.
    pub fn trace_budget(&self) -> BudgetLimits {
        BudgetLimits {
            participant_per_minute: self.trace_events_per_participant_per_minute,
            participant_total: self.trace_events_per_participant,
            act_per_minute: self.trace_events_per_act_per_minute,
            act_total: self.trace_events_per_act,
            joins_per_minute: self.joins_per_participant_per_minute,
            joins_total: self.joins_per_participant,
            exchange_per_minute: self.exchange_events_per_participant_per_minute,
            exchange_total: self.exchange_events_per_participant,
            exchange_act_per_minute: self.exchange_events_per_act_per_minute,
            exchange_act_total: self.exchange_events_per_act,
        }
    }
}

/// Open TCP connections, in total and per client address, against the
/// caps of [`HttpLimits::connections`] and
/// [`HttpLimits::connections_per_client`]. No IO: the listener asks
/// [`ConnCaps::admit`] for each accepted connection and keeps the returned
/// [`ConnSlot`] as long as the connection lives.
#[derive(Debug)]
pub struct ConnCaps {
    total: usize,
    per_client: usize,
    open: std::sync::Mutex<ConnCounts>,
}

#[derive(Debug, Default)]
struct ConnCounts {
    total: usize,
    by_client: std::collections::HashMap<IpAddr, usize>,
    refused: u64,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnSlot {
    caps: Arc<ConnCaps>,
    client: IpAddr,
}

impl ConnCaps {
    pub fn new(limits: &HttpLimits) -> Arc<ConnCaps> {
        Arc::new(ConnCaps {
            total: limits.connections.max(1),
            per_client: limits.connections_per_client.max(1),
            open: Default::default(),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, ConnCounts> {
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A place for a new connection from `client`, or `None` when it is
    /// over a cap (the connection is then closed, and counted).
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Option<ConnSlot> {
        let mut c = self.counts();
        let mine = c.by_client.get(&client).copied().unwrap_or(0);
        if c.total >= self.total || mine >= self.per_client {
            c.refused += 1;
            return None;
        }
        c.total += 1;
        c.by_client.insert(client, mine + 1);
        Some(ConnSlot {
            caps: self.clone(),
            client,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts().total
    }

    /// Connections closed on accept because of a cap, since start.
    pub fn refused(&self) -> u64 {
        self.counts().refused
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = self.caps.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                c.by_client.remove(&self.client);
            }
        }
    }
}

/// Wraps `routes` in the limits: rate per address outermost, then the
/// in-flight cap and the timeout.
pub fn apply(routes: Router, limits: &HttpLimits) -> Router {
    let rates = Arc::new(Rates::new(limits));
    let deadlines = Deadlines {
        request: Duration::from_secs(limits.request_timeout_secs.max(1)),
        upload: Duration::from_secs(limits.upload_timeout_secs.max(1)),
    };
    routes
        .layer(middleware::from_fn_with_state(deadlines, limit_time))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(refused))
                .load_shed()
                .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                    limits.max_in_flight.max(1),
                )),
        )
        .layer(middleware::from_fn_with_state(rates, limit_rate))
}

/// How long a request may take: a document upload, or any other.
#[derive(Clone, Copy, Debug)]
struct Deadlines {
    request: Duration,
    upload: Duration,
}

/// Whether `req` uploads a document (`POST /api/acts/{id}/documents`).
fn is_upload(req: &Request) -> bool {
    req.method() == axum::http::Method::POST
        && req
            .uri()
            .path()
            .strip_prefix("/api/acts/")
            .and_then(|rest| rest.strip_suffix("/documents"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// Answers `503` to a request not answered within its deadline.
async fn limit_time(State(d): State<Deadlines>, req: Request, next: Next) -> Response {
    let limit = if is_upload(&req) { d.upload } else { d.request };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => ApiError::TimedOut.into_response(),
    }
}

/// The answer when the in-flight cap or the timeout refuses a request.
async fn refused(err: BoxError) -> ApiError {
    if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::Busy
    } else if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::TimedOut
    } else {
        ApiError::Layer(err)
    }
}

/// Budgets per client address.
#[derive(Debug)]
struct Rates {
    any: DefaultKeyedRateLimiter<IpAddr>,
    join: DefaultKeyedRateLimiter<IpAddr>,
    /// Calls seen, to forget idle addresses now and then.
    calls: AtomicU64,
}

/// Every this many calls, addresses whose budget is full again are
/// forgotten, so the tables stay as small as the set of active clients.
const FORGET_EVERY: u64 = 4096;

impl Rates {
    fn new(l: &HttpLimits) -> Rates {
        let quota = |per_second: u32, burst: u32| {
            Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
                .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
        };
        Rates {
            any: RateLimiter::keyed(quota(l.per_client_per_second, l.per_client_burst)),
            join: RateLimiter::keyed(quota(l.join_per_second, l.join_burst)),
            calls: AtomicU64::new(0),
        }
    }

    /// `Err(wait)` when `client` must wait before calling `path`.
    fn check(&self, client: IpAddr, path: &str) -> Result<(), Duration> {
        if self.calls.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.any.retain_recent();
            self.join.retain_recent();
        }
        let now = DefaultClock::default().now();
        self.any
            .check_key(&client)
            .map_err(|n| n.wait_time_from(now))?;
        if is_join_route(path) {
            self.join
                .check_key(&client)
                .map_err(|n| n.wait_time_from(now))?;
        }
        Ok(())
    }
}

/// The routes a join link opens without signing in.
fn is_join_route(path: &str) -> bool {
    path == "/api/invitations/check" || path.starts_with("/api/precall/")
}

/// Refuses a call over its address's budget. A request with no address
/// (an in-process call, as tests make with `oneshot`) is not counted: the
/// server always serves with the peer's address.
async fn limit_rate(State(rates): State<Arc<Rates>>, req: Request, next: Next) -> Response {
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(client) = client
        && let Err(wait) = rates.check(client, req.uri().path())
    {
        return ApiError::TooManyRequests(wait.as_secs().max(1)).into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    fn from(ip: [u8; 4], path: &str) -> Request<Body> {
        let mut req = Request::get(path).body(Body::empty()).unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
        req
    }

    fn small() -> HttpLimits {
        HttpLimits {
            per_client_per_second: 1,
            per_client_burst: 4,
            join_per_second: 1,
            join_burst: 2,
            ..HttpLimits::default()
        }
    }

    fn routes() -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/api/invitations/check", get(|| async { "checked" }))
            .route("/api/precall/start", get(|| async { "started" }))
    }

    #[tokio::test]
    async fn one_address_over_its_budget_waits_and_others_do_not() {
        let app = apply(routes(), &small());
        for _ in 0..4 {
            let res = app.clone().oneshot(from([10, 0, 0, 1], "/healthz")).await;
            assert_eq!(res.unwrap().status(), StatusCode::OK);
        }
        let res = app
            .clone()
            .oneshot(from([10, 0, 0, 1], "/healthz"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=2).contains(&wait), "Retry-After {wait}");
        let res = app.oneshot(from([10, 0, 0, 2], "/healthz")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "another address is not held");
    }

    #[tokio::test]
    async fn join_routes_share_a_smaller_budget() {
        let app = apply(routes(), &small());
        let ok = |p| from([10, 0, 0, 3], p);
        let status = |r: Result<Response, _>| r.map(|r: Response| r.status()).unwrap();
        assert_eq!(
            status(app.clone().oneshot(ok("/api/invitations/check")).await),
            StatusCode::OK
        );
        assert_eq!(
            status(app.clone().oneshot(ok("/api/precall/start")).await),
            StatusCode::OK
        );
        assert_eq!(
            status(app.clone().oneshot(ok("/api/invitations/check")).await),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            status(app.clone().oneshot(ok("/healthz")).await),
            StatusCode::OK,
            "other routes keep the general budget"
        );
    }

    #[tokio::test]
    async fn calls_without_an_address_are_not_counted() {
        let app = apply(routes(), &small());
        for _ in 0..10 {
            let req = Request::get("/healthz").body(Body::empty()).unwrap();
            assert_eq!(
                app.clone().oneshot(req).await.unwrap().status(),
                StatusCode::OK
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_request_is_answered_503_at_the_timeout() {
        let limits = HttpLimits {
            request_timeout_secs: 2,
            ..HttpLimits::default()
        };
        let slow = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        );
        let app = apply(slow, &limits);
        let started = tokio::time::Instant::now();
        let req = Request::get("/slow").body(Body::empty()).unwrap();
        let res = app.oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("took too long"));
    }

    #[tokio::test(start_paused = true)]
    async fn an_upload_has_its_own_deadline() {
        let limits = HttpLimits {
            request_timeout_secs: 2,
            upload_timeout_secs: 5,
            ..HttpLimits::default()
        };
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(4)).await;
            "stored"
        };
        let routes = Router::new()
            .route("/api/acts/{id}/documents", axum::routing::post(slow))
            .route("/api/acts/{id}/answer", axum::routing::post(slow));
        let app = apply(routes, &limits);
        let post = |path: &str| Request::post(path).body(Body::empty()).unwrap();
        let res = app.clone().oneshot(post("/api/acts/a/documents")).await;
        assert_eq!(res.unwrap().status(), StatusCode::OK);
        let res = app.oneshot(post("/api/acts/a/answer")).await;
        assert_eq!(res.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(is_upload(&post("/api/acts/x/documents")));
        for other in [
            "/api/acts/x/documents/ab",
            "/api/acts//documents",
            "/api/acts/x/y/documents",
        ] {
            assert!(!is_upload(&post(other)), "{other}");
        }
        assert!(!is_upload(
            &Request::get("/api/acts/x/documents")
                .body(Body::empty())
                .unwrap()
        ));
    }

    #[tokio::test]
    async fn past_the_in_flight_cap_requests_are_shed_at_once() {
        let limits = HttpLimits {
            max_in_flight: 1,
            ..HttpLimits::default()
        };
        let release = Arc::new(Notify::new());
        let held = release.clone();
        let entered = Arc::new(Notify::new());
        let entering = entered.clone();
        let routes = Router::new().route(
            "/hold",
            get(move || {
                let (held, entering) = (held.clone(), entering.clone());
                async move {
                    entering.notify_one();
                    held.notified().await;
                    "done"
                }
            }),
        );
        let app = apply(routes, &limits);
        let first = tokio::spawn(
            app.clone()
                .oneshot(Request::get("/hold").body(Body::empty()).unwrap()),
        );
        entered.notified().await;
        let second = app
            .clone()
            .oneshot(Request::get("/hold").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(second.into_body(), 1024)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("busy"));
        release.notify_one();
        assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::OK);
        let third = app.oneshot(Request::get("/hold").body(Body::empty()).unwrap());
        let (third, ()) = tokio::join!(third, async { release.notify_one() });
        assert_eq!(
            third.unwrap().status(),
            StatusCode::OK,
            "the slot is free again"
        );
    }

    #[test]
    fn connections_are_capped_per_address_and_in_total() {
        let caps = ConnCaps::new(&HttpLimits {
            connections: 3,
            connections_per_client: 2,
            ..HttpLimits::default()
        });
        let a = IpAddr::from([10, 0, 0, 1]);
        let b = IpAddr::from([10, 0, 0, 2]);
        let c = IpAddr::from([10, 0, 0, 3]);
        let a1 = caps.admit(a).expect("first from a");
        let _a2 = caps.admit(a).expect("second from a");
        assert!(caps.admit(a).is_none(), "third from a is over its cap");
        let _b1 = caps.admit(b).expect("b has its own");
        assert!(caps.admit(c).is_none(), "the total is reached");
        assert_eq!((caps.open(), caps.refused()), (3, 2));
        drop(a1);
        assert_eq!(caps.open(), 2);
        let _c1 = caps.admit(c).expect("a freed place is reused");
        assert!(caps.admit(a).is_none());
    }

    #[test]
    fn zero_limits_are_refused_by_name() {
        let l = HttpLimits {
            join_burst: 0,
            ..HttpLimits::default()
        };
        assert_eq!(l.check().unwrap_err(), "http.join_burst must be at least 1");
        assert!(HttpLimits::default().check().is_ok());
    }
}
