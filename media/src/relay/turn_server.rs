//! The one file that speaks to the `turn` crate (0.17.2, pinned) and to
//! the `webrtc_util::Conn` interface it reads from: the rest of the relay
//! uses its own types ([`Datagrams`], [`Allocator`], [`TurnCredentials`]).
//!
//! - [`TurnConn`] puts one of our sockets behind `webrtc_util::Conn`.
//! - [`ListenerAuth`] is `turn`'s auth handler: TURN REST API
//!   credentials, checked on every authenticated request.
//! - [`Generator`] is `turn`'s relay-address generator: it opens the
//!   relayed socket through our [`Allocator`], within the quotas.
//! - [`TurnServer`] is one listener's `turn::server::Server`.
//!
//! `turn` 0.17 gives the relay-address generator no username, so each
//! listener has its own `turn::Server`, whose auth handler notes the last
//! username it accepted in a slot ([`LastUser`]) that the listener's
//! generator reads. This is exact because a `turn` server handles the
//! requests of a listener one at a time, in its read loop, and the Allocate
//! handler authenticates (calls the auth handler) just before it asks the
//! generator for a relayed socket, with no other request in between. The
//! `turn` version is pinned (`=0.17.2`) for that reason.
//!
//! The slot is read, not taken: for an Allocate with EVEN-PORT, `turn`
//! first calls the generator to find a free port and drops that socket
//! unused, then calls it again for the allocation. Such a probe holds a
//! quota slot only while `turn` holds it, and is not counted as created
//! (see `relayed`).
//!
//! A new transport for the relay is a new [`Datagrams`] socket handed to
//! [`TurnServer::start`]; nothing else here changes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::RelayStats;
use super::credentials::TurnCredentials;
use super::relayed::Allocator;
use super::socket::Datagrams;
use crate::Error;

/// An error of the `turn` server itself, opaque so that `media`'s API does
/// not name the `turn` crate.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct TurnError(#[from] turn::Error);

impl From<turn::Error> for Error {
    fn from(e: turn::Error) -> Self {
        Error::Turn(TurnError(e))
    }
}

/// The STUN long-term key `MD5(username:realm:password)` that
/// MESSAGE-INTEGRITY is computed with.
pub(crate) fn long_term_key(username: &str, realm: &str, password: &str) -> Vec<u8> {
    turn::auth::generate_auth_key(username, realm, password)
}

/// One listener's `turn` server.
pub(crate) struct TurnServer(turn::server::Server);

impl TurnServer {
    /// Starts `turn`'s read loop on `socket`, with its own auth handler
    /// and relay-address generator sharing a username slot.
    pub(crate) async fn start<S: Datagrams>(
        socket: Arc<S>,
        realm: String,
        credentials: Arc<TurnCredentials>,
        allocator: Arc<Allocator>,
        stats: Arc<RelayStats>,
    ) -> Result<TurnServer, Error> {
        let last_user = LastUser::default();
        let generator = Generator {
            allocator,
            last_user: Arc::clone(&last_user),
        };
        let auth = ListenerAuth {
            credentials,
            last_user,
            stats,
        };
        let config = turn::server::config::ServerConfig {
            conn_configs: vec![turn::server::config::ConnConfig {
                conn: Arc::new(TurnConn(socket)),
                relay_addr_generator: Box::new(generator),
            }],
            realm,
            auth_handler: Arc::new(auth),
            channel_bind_timeout: Duration::ZERO, // the default, 10 minutes
            alloc_close_notify: None,
        };
        Ok(TurnServer(turn::server::Server::new(config).await?))
    }

    /// Deletes every allocation made with `username`.
    pub(crate) async fn delete_allocations_of(&self, username: &str) -> Result<(), Error> {
        Ok(self
            .0
            .delete_allocations_by_username(username.to_owned())
            .await?)
    }

    /// Closes every allocation and ends the read loop.
    pub(crate) async fn close(&self) -> Result<(), Error> {
        Ok(self.0.close().await?)
    }
}

/// The last username the auth handler of one listener accepted.
type LastUser = Arc<Mutex<Option<String>>>;

/// The `turn` auth handler of one listener: TURN REST API credentials.
struct ListenerAuth {
    credentials: Arc<TurnCredentials>,
    last_user: LastUser,
    stats: Arc<RelayStats>,
}

impl turn::auth::AuthHandler for ListenerAuth {
    /// Returns the long-term key `MD5(username:realm:password)` of a
    /// usable username; `turn` then checks the request's
    /// MESSAGE-INTEGRITY with it (a wrong password fails there).
    fn auth_handle(
        &self,
        username: &str,
        realm: &str,
        src_addr: SocketAddr,
    ) -> Result<Vec<u8>, turn::Error> {
        let mut last = self.last_user.lock().unwrap_or_else(|e| e.into_inner());
        match self.credentials.check_username(username) {
            Ok(_) => {
                *last = Some(username.to_owned());
                let password = self.credentials.password_for(username);
                Ok(long_term_key(username, realm, &password))
            }
            Err(err) => {
                *last = None;
                self.stats.auth_refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%src_addr, %err, "TURN credentials refused");
                // `turn` takes its own error type; the message is all it
                // keeps of ours.
                Err(turn::Error::Other(err.to_string()))
            }
        }
    }
}

/// The relay's auth handler on its own, as every listener's `turn` server
/// runs it: for the fuzz target `turn_stream` (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub fn auth_handler(
    credentials: Arc<TurnCredentials>,
) -> Arc<dyn turn::auth::AuthHandler + Send + Sync> {
    Arc::new(ListenerAuth {
        credentials,
        last_user: LastUser::default(),
        stats: Arc::default(),
    })
}

/// The relay-address generator of one listener: the relayed socket of the
/// username its auth handler last accepted, from the relay's [`Allocator`].
struct Generator {
    allocator: Arc<Allocator>,
    last_user: LastUser,
}

#[async_trait]
impl turn::relay::RelayAddressGenerator for Generator {
    fn validate(&self) -> Result<(), turn::Error> {
        Ok(())
    }

    async fn allocate_conn(
        &self,
        use_ipv4: bool,
        requested_port: u16,
    ) -> Result<(Arc<dyn webrtc_util::Conn + Send + Sync>, SocketAddr), turn::Error> {
        let username = self
            .last_user
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (conn, relayed) = self
            .allocator
            .open(use_ipv4, requested_port, username.as_deref())
            .await
            // `turn` takes its own error type; the message is all it keeps.
            .map_err(|e| turn::Error::Other(e.to_string()))?;
        Ok((Arc::new(TurnConn(Arc::new(conn))), relayed))
    }
}

/// One of our sockets as the `webrtc_util::Conn` that `turn` reads from
/// and writes to. `turn` only receives from, sends to an address, asks
/// the local address of, and closes its sockets.
struct TurnConn<S>(Arc<S>);

impl<S> std::fmt::Debug for TurnConn<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnConn").finish_non_exhaustive()
    }
}

#[async_trait]
impl<S: Datagrams> webrtc_util::Conn for TurnConn<S> {
    async fn connect(&self, _addr: SocketAddr) -> Result<(), webrtc_util::Error> {
        Err(webrtc_util::Error::Other(
            "the relay's sockets are not connected".to_owned(),
        ))
    }

    async fn recv(&self, buf: &mut [u8]) -> Result<usize, webrtc_util::Error> {
        self.recv_from(buf).await.map(|(n, _)| n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), webrtc_util::Error> {
        Ok(self.0.recv_from(buf).await?)
    }

    async fn send(&self, _buf: &[u8]) -> Result<usize, webrtc_util::Error> {
        Err(webrtc_util::Error::Other(
            "send without an address on a relay socket".to_owned(),
        ))
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> Result<usize, webrtc_util::Error> {
        Ok(self.0.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> Result<SocketAddr, webrtc_util::Error> {
        Ok(self.0.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        None
    }

    async fn close(&self) -> Result<(), webrtc_util::Error> {
        self.0.close();
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    /// The `turn` crate (and the `webrtc_util::Conn` it reads from) is
    /// spoken to in this file only: the rest of the crate uses our types.
    #[test]
    fn no_other_file_names_the_turn_crate() {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut others = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("relay/turn_server.rs")
                {
                    let text = std::fs::read_to_string(&path).unwrap();
                    if text.contains("turn::") || text.contains("webrtc_util") {
                        others.push(path);
                    }
                }
            }
        }
        assert!(others.is_empty(), "{others:?} name the turn crate");
    }
}
