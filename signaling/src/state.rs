//! What every request handler shares: the trace store, keys, live rooms
//! and metrics.

use std::collections::HashMap;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use session::incident::{Detector, Thresholds};
use session::keys::DataKey;
use session::store::load_events;
use session::{Act, ActId, DataDir, TraceStore};

use crate::Error;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::hub::{CommandReply, RoomCmd, RoomHandle};
use crate::invitation::InvitationKeys;
use crate::metrics::Metrics;
use crate::protocol::IceServer;
use crate::relay_access::RelayAccess;
use crate::room::{ConnId, IceProvider, Room};

/// How many rooms a command is offered to before the route gives up: a
/// room may stop (idle) just as the command reaches it.
const ROOM_ATTEMPTS: usize = 4;

/// Document uploads the server reads at once (each is held in memory
/// until it is sealed and stored: 8 × 50 MiB at most).
pub const UPLOADS_AT_ONCE: usize = 8;

/// Settings the server runs with.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The base URL participants reach the server at, for join links.
    pub public_url: String,
    /// ICE servers handed to participants once media is allowed.
    pub ice_servers: Vec<IceServer>,
    /// How long join links work.
    pub link_ttl: Duration,
    /// The TURN relay, when the server runs one.
    pub relay: Option<RelayAccess>,
    /// How long a participant whose connection dropped during the
    /// performance may stay away before the act is marked interrupted.
    pub recovery_timeout: Duration,
    /// When clients' stats make an incident (issue defaults).
    pub incident_thresholds: Thresholds,
    /// Rate, in-flight and time limits on HTTP requests.
    pub http: crate::throttle::HttpLimits,
}

/// Cheap to clone; all clones share one state.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub store: Arc<dyn TraceStore>,
    pub data_key: DataKey,
    pub invitations: InvitationKeys,
    /// Bearer token for the operator API (creating acts over REST).
    pub api_token: String,
    pub config: ServerConfig,
    pub metrics: Metrics,
    /// Open WebSocket connections, capped in total and per client.
    pub connections: Arc<crate::guard::ConnectionLimits>,
    /// Document uploads streaming in at once, each held in memory (up to
    /// 50 MiB): at most [`UPLOADS_AT_ONCE`]; more are answered `503`.
    pub uploads: tokio::sync::Semaphore,
    /// Sign-in, accounts and the access log; set once by [`AppState::secure`].
    security: OnceLock<Arc<crate::access::Security>>,
    rooms: Mutex<HashMap<ActId, RoomHandle>>,
    /// Per act being rebuilt, the gate joins of that act queue on, so that
    /// one rebuild runs and the rest find its room.
    loading: Mutex<HashMap<ActId, Arc<tokio::sync::Mutex<()>>>>,
    next_conn: AtomicU64,
    /// The pre-call connection test peer, when the server runs one.
    probe: OnceLock<Arc<media::Probe>>,
    /// Set once the server is stopping: WebSockets still saying hello are
    /// closed, and no new one joins a room.
    stopping: tokio::sync::watch::Sender<bool>,
    /// The time the edges read; the wall clock unless a test set tokio's
    /// (see [`AppState::set_clock`]).
    clock: OnceLock<Clock>,
    /// The checkpointing and witnessing task's handle; set once by
    /// `server::build` (absent in a state a test assembles without it).
    witnessing: OnceLock<crate::witnessing::Witnessing>,
    /// Act ownership on Redis, with `--redis`; set once by `server::build`.
    /// Absent: this node is alone and owns every act it serves.
    cluster: OnceLock<Arc<crate::cluster::Cluster>>,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn TraceStore>,
        data_key: DataKey,
        invitations: InvitationKeys,
        api_token: String,
        config: ServerConfig,
    ) -> AppState {
        AppState(Arc::new(Inner {
            store,
            data_key,
            invitations,
            api_token,
            connections: Arc::new(crate::guard::ConnectionLimits::new(
                config.http.websockets,
                config.http.websockets_per_client,
            )),
            uploads: tokio::sync::Semaphore::new(UPLOADS_AT_ONCE),
            config,
            metrics: Metrics::new(),
            security: OnceLock::new(),
            rooms: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            probe: OnceLock::new(),
            stopping: tokio::sync::watch::Sender::new(false),
            clock: OnceLock::new(),
            witnessing: OnceLock::new(),
            cluster: OnceLock::new(),
        }))
    }

    /// Reads the time from `clock` instead of the wall clock (tests: one
    /// following paused tokio time). Set once, before serving; later calls
    /// are ignored.
    pub fn set_clock(&self, clock: Clock) {
        let _ = self.clock.set(clock);
    }

    /// The clock the edges read the time from.
    pub fn clock(&self) -> Clock {
        self.clock.get().copied().unwrap_or_default()
    }

    /// Submits the trace's checkpoints through `witnessing`. Set once, at
    /// start; later calls are ignored.
    pub fn set_witnessing(&self, witnessing: crate::witnessing::Witnessing) {
        let _ = self.witnessing.set(witnessing);
    }

    /// The checkpointing task's handle (the newest cosigned checkpoint, a
    /// nudge), or `None` when the server was not built by `server::build`.
    pub fn witnessing(&self) -> Option<&crate::witnessing::Witnessing> {
        self.witnessing.get()
    }

    /// Takes part in act ownership through `cluster`. Set once, at start,
    /// before serving; later calls are ignored.
    pub fn set_cluster(&self, cluster: Arc<crate::cluster::Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// Act ownership on Redis, when the server runs with `--redis`.
    pub fn cluster(&self) -> Option<&Arc<crate::cluster::Cluster>> {
        self.cluster.get()
    }

    /// Runs `probe` as the pre-call connection test peer. Set once, at
    /// start; later calls are ignored.
    pub fn set_probe(&self, probe: Arc<media::Probe>) {
        let _ = self.probe.set(probe);
    }

    pub fn probe(&self) -> Option<&media::Probe> {
        self.probe.get().map(|p| &**p)
    }

    /// Turns on professional sign-in and the trace routes. Once only.
    pub fn secure(&self, security: crate::access::Security) -> Result<(), Error> {
        self.security
            .set(Arc::new(security))
            .map_err(|_| Error::SecurityAlreadySet)
    }

    /// Sign-in and the access log, or 503 when the server runs without.
    pub fn security(&self) -> Result<&crate::access::Security, ApiError> {
        self.security.get().map(|s| &**s).ok_or(ApiError::SignInOff)
    }

    /// The data keys for opening the trace: current first, then retired.
    pub fn data_keys(&self) -> Vec<DataKey> {
        match self.security.get() {
            Some(s) if !s.data_keys.is_empty() => s.data_keys.clone(),
            _ => vec![self.data_key.clone()],
        }
    }

    /// Marks the server as stopping (see [`AppState::stopping`]).
    pub fn stop_serving(&self) {
        self.stopping.send_replace(true);
    }

    /// Whether the server is stopping, and a way to wait until it does.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn next_conn(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// The live room of `act`, rebuilt from the trace if none runs.
    ///
    /// The rebuild reads and replays the act's verified trace on a blocking
    /// thread, without holding the global rooms lock: other acts' joins go
    /// on meanwhile. Joins of the same act wait on that act's own gate, so
    /// they still share one room.
    pub async fn room(&self, act: ActId) -> Result<RoomHandle, session::Error> {
        if let Some(h) = self.live_room(act) {
            return Ok(h);
        }
        let gate = self
            .loading
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(act)
            .or_default()
            .clone();
        // Drops the act's gate from `loading` however this future ends,
        // a join given up half-way (its client gone) included: the map
        // holds only acts being loaded now.
        let _cleanup = GateCleanup {
            loading: &self.loading,
            act,
            gate: gate.clone(),
        };
        let _turn = gate.lock().await;
        match self.live_room(act) {
            Some(h) => Ok(h),
            None => self.rebuild(act).await,
        }
    }

    fn live_room(&self, act: ActId) -> Option<RoomHandle> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms.get(&act).filter(|h| !h.tx.is_closed()).cloned()
    }

    /// Loads `act` off the async workers and starts its room; the caller
    /// holds the act's gate.
    async fn rebuild(&self, act: ActId) -> Result<RoomHandle, session::Error> {
        let store = self.store.clone();
        let keys = self.data_keys();
        let (state, stored, left) = tokio::task::spawn_blocking(move || {
            let events = load_events(&*store, act, &keys)?;
            let left = crate::room::LeftConnected::from_events(&events);
            Ok::<_, session::Error>((Act::replay(act, &events)?, events.len() as u64, left))
        })
        .await
        .map_err(|_| session::Error::StoreClosed)??;
        let statics = self.config.ice_servers.clone();
        let relay = self.config.relay.clone();
        let ice: IceProvider = Arc::new(move |act, participant| {
            let mut servers = statics.clone();
            servers.extend(relay.as_ref().and_then(|r| r.ice_server(act, participant)));
            servers
        });
        let detector = Detector::new(self.config.incident_thresholds.clone())?;
        let room = Room::with_ice_provider(state, ice)
            .with_left_connected(left)
            .with_detector(detector)
            .with_recovery_timeout(self.config.recovery_timeout)
            .with_budget(self.config.http.trace_budget());
        // Under the rooms lock, so that a room is either among those
        // `close_rooms` tells to stop or never started: once the server is
        // stopping, none starts (the caller tells its client to come back).
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if *self.stopping.borrow() {
            return Err(session::Error::StoreClosed);
        }
        let handle = RoomHandle::spawn(self.clone(), room, stored);
        rooms.insert(act, handle.clone());
        Ok(handle)
    }

    /// Runs `command` on `act` through its room, the act's one writer
    /// (started if none runs), with `document` for an attachment; returns
    /// the act as it then stands and the kinds of the events recorded,
    /// once durable. A room that stops before handling it (it went idle,
    /// or the store failed it) gives it back, and it goes to the next one.
    pub async fn act_command(
        &self,
        act: ActId,
        command: session::act::Command,
        document: Option<session::document::Upload>,
    ) -> Result<(session::Act, Vec<&'static str>), ApiError> {
        let mut pending = (command, document);
        for _ in 0..ROOM_ATTEMPTS {
            let room = match self.room(act).await {
                Ok(room) => room,
                Err(_) if *self.stopping.borrow() => return Err(ApiError::RoomRestarting),
                Err(e) => return Err(e.into()),
            };
            let (done, answer) = tokio::sync::oneshot::channel();
            let (command, document) = pending;
            if let Err(refused) = room
                .tx
                .send(RoomCmd::Command {
                    command,
                    document,
                    done,
                })
                .await
            {
                let RoomCmd::Command {
                    command, document, ..
                } = refused.0
                else {
                    unreachable!("the command just sent");
                };
                pending = (command, document);
                continue;
            }
            match answer.await {
                Ok(CommandReply::Done { act, recorded }) => return Ok((*act, recorded)),
                Ok(CommandReply::Refused(e)) => return Err(e.into()),
                Ok(CommandReply::NotHandled { command, document }) => {
                    pending = (command, document);
                }
                Err(_) => return Err(ApiError::RoomRestarting),
            }
        }
        Err(ApiError::RoomRestarting)
    }

    /// How many rooms run now.
    pub fn live_rooms(&self) -> usize {
        self.rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .filter(|h| !h.tx.is_closed())
            .count()
    }

    /// Tells every live room that the server is stopping (each closes its
    /// connections with `server_shutdown`), and waits until each has
    /// stopped taking commands.
    pub async fn close_rooms(&self) {
        let handles: Vec<RoomHandle> = self
            .rooms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for h in &handles {
            let _ = h.tx.send(RoomCmd::Shutdown).await;
        }
        for h in &handles {
            h.tx.closed().await;
        }
    }

    /// Called by a room's task when it stops.
    pub fn forget_room(&self, act: ActId) {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if rooms.get(&act).is_some_and(|h| h.tx.is_closed()) {
            rooms.remove(&act);
        }
    }
}

impl crate::hub::RoomHost for AppState {
    fn store(&self) -> &dyn TraceStore {
        &*self.store
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn relay(&self) -> Option<&RelayAccess> {
        self.config.relay.as_ref()
    }

    fn forget_room(&self, act: ActId) {
        AppState::forget_room(self, act);
    }

    fn clock(&self) -> Clock {
        AppState::clock(self)
    }

    fn act_ended(&self) {
        if let Some(w) = self.witnessing() {
            w.nudge();
        }
    }

    fn claim(&self, act: ActId) -> Option<ownership::ActLease> {
        self.cluster().map(|c| c.claim(act))
    }
}

/// Removes an act's loading gate when the [`AppState::room`] call that
/// made or used it ends, unless a newer gate replaced it.
struct GateCleanup<'a> {
    loading: &'a Mutex<HashMap<ActId, Arc<tokio::sync::Mutex<()>>>>,
    act: ActId,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl Drop for GateCleanup<'_> {
    fn drop(&mut self) {
        let mut loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        if loading
            .get(&self.act)
            .is_some_and(|g| Arc::ptr_eq(g, &self.gate))
        {
            loading.remove(&self.act);
        }
    }
}

/// The invitation key and the operator API token of a data directory,
/// created (mode 0600) on first use. They live beside the trace's keys.
pub fn server_secrets(data: &DataDir) -> Result<(InvitationKeys, String), Error> {
    let dir = data.key_dir().path().to_path_buf();
    let invite = read_or_create(&dir.join("invite.key"), || {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(Error::Randomness)?;
        Ok(hex::encode(k))
    })?;
    let key: [u8; 32] = hex::decode(invite.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::MalformedKey {
            path: dir.join("invite.key"),
        })?;
    let token = read_or_create(&dir.join("api.token"), || {
        let mut k = [0u8; 24];
        getrandom::fill(&mut k).map_err(Error::Randomness)?;
        Ok(hex::encode(k))
    })?;
    Ok((
        InvitationKeys::new(key, retired_invitation_keys(&dir)?),
        token.trim().to_string(),
    ))
}

/// The cluster secret node link tokens are signed with
/// (`keys/cluster.key`, mode 0600), created on first use: every node of a
/// cluster holds the same file, as it holds the same keys.
pub fn cluster_secret(data: &DataDir) -> Result<ownership::ClusterSecret, Error> {
    let path = data.key_dir().path().join("cluster.key");
    let text = read_or_create(&path, || {
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(Error::Randomness)?;
        Ok(hex::encode(k))
    })?;
    let bytes = parse_key(&text, &path).map_err(|_| Error::ClusterSecret(path.clone()))?;
    ownership::ClusterSecret::new(bytes.to_vec()).map_err(|_| Error::ClusterSecret(path))
}

fn parse_key(text: &str, path: &Path) -> Result<[u8; 32], Error> {
    hex::decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::MalformedKey {
            path: path.to_path_buf(),
        })
}

/// Earlier invitation keys (`keys/retired/invite-*.key`): links they
/// signed keep working until they expire.
fn retired_invitation_keys(dir: &Path) -> Result<Vec<[u8; 32]>, Error> {
    let Ok(entries) = std::fs::read_dir(dir.join("retired")) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("invite-") && n.ends_with(".key"))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            session::keys::check_private_file(p)?;
            let text = std::fs::read_to_string(p).map_err(|e| Error::file("read", p, e))?;
            parse_key(&text, p)
        })
        .collect()
}

/// Replaces the invitation key, keeping the old one under
/// `keys/retired/`. Returns the old and new key fingerprints.
pub fn rotate_invitation_key(data: &DataDir) -> Result<(String, String), Error> {
    let dir = data.key_dir().path().to_path_buf();
    server_secrets(data)?;
    let path = dir.join("invite.key");
    let old_text = std::fs::read_to_string(&path).map_err(|e| Error::file("read", &path, e))?;
    let old = parse_key(&old_text, &path)?;
    let fp = |k: &[u8; 32]| {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(k)[..4])
    };
    let retired = dir.join("retired");
    std::fs::create_dir_all(&retired).map_err(|e| Error::file("create", &retired, e))?;
    let kept = retired.join(format!("invite-{}.key", fp(&old)));
    match session::keys::write_new(&kept, &hex::encode(old), 0o600) {
        Ok(()) => {}
        Err(session::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let mut new = [0u8; 32];
    getrandom::fill(&mut new).map_err(Error::Randomness)?;
    let tmp = dir.join("invite.key.new");
    let _ = std::fs::remove_file(&tmp);
    session::keys::write_new(&tmp, &hex::encode(new), 0o600)?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::file("replace", &path, e))?;
    Ok((fp(&old), fp(&new)))
}

fn read_or_create(
    path: &Path,
    make: impl FnOnce() -> Result<String, Error>,
) -> Result<String, Error> {
    session::keys::check_private_file(path)?;
    match std::fs::read_to_string(path) {
        Ok(s) => return Ok(s),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(Error::file("read", path, e));
        }
        Err(_) => {}
    }
    let value = make()?;
    match session::keys::write_new(path, &value, 0o600) {
        Ok(()) => Ok(value),
        // Another process created it first: use theirs.
        Err(session::Error::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            std::fs::read_to_string(path).map_err(|e| Error::file("read", path, e))
        }
        Err(e) => Err(e.into()),
    }
}
