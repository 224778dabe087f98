//! The Redis side: the scripts behind the lease and heartbeat requests, the
//! owner lookup, the node list, on the `redis` crate's connection manager
//! (one multiplexed connection, reconnected in the background).
//!
//! Every call is bounded by [`RedisConfig::command_timeout`]: the sans-IO
//! cores need an answer or a [`crate::lease::NoAnswer`], never a wait.
//! The scripts run on one Redis instance (not Redis Cluster: the list
//! script reads node keys it does not declare). Keys and values are in
//! docs/OWNERSHIP.md.

use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use session::ActId;

use crate::error::Error;
use crate::fence::{FencingToken, LeaseValue};
use crate::keys::Keys;
use crate::lease::{Op, Reply};
use crate::node::NodeId;
use crate::registry::{BeatRequest, NodeEntry, check_address};

/// Where Redis is and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://HOST:PORT[/DB]` (`--redis`).
    pub url: String,
    /// Prefix of every key ([`Keys::DEFAULT_PREFIX`] in production).
    pub prefix: String,
    /// Longest wait for one command's answer.
    pub command_timeout: Duration,
    /// Longest wait for a TCP connection to Redis.
    pub connect_timeout: Duration,
}

impl RedisConfig {
    /// Production defaults for `url`: the `teleconsult:` prefix, 1 s
    /// timeouts.
    pub fn new(url: &str) -> Self {
        RedisConfig {
            url: url.to_owned(),
            prefix: Keys::DEFAULT_PREFIX.to_owned(),
            command_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

/// The claim: restart guard, then, if no lease is held, the act's counter
/// (seeded with Redis's time in µs when missing) is incremented and the
/// lease set with `SET NX PX` holding `v1:TOKEN:NODE`, in one atomic step.
/// Answers `{"claimed", TOKEN}`, `{"taken", VALUE}` or `{"warming", MS}`.
///
/// Not `INCR` then `SET NX` from the client: a node delayed between the two
/// could win after a later claimant with a *lower* token, and tokens must
/// grow from one holder to the next.
pub const CLAIM_LUA: &str = r#"
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_str = t[1] .. string.format('%06d', tonumber(t[2]))
local ttl_ms = tonumber(ARGV[2])
local since = redis.call('GET', KEYS[3])
if (not since) or tonumber(since) > now_us then
  redis.call('SET', KEYS[3], now_str)
  return {'warming', tostring(ttl_ms)}
end
local waited_ms = math.floor((now_us - tonumber(since)) / 1000)
if waited_ms < ttl_ms then
  return {'warming', tostring(ttl_ms - waited_ms)}
end
local owner = redis.call('GET', KEYS[1])
if owner then
  return {'taken', owner}
end
redis.call('SET', KEYS[2], now_str, 'NX')
redis.call('INCR', KEYS[2])
local token = redis.call('GET', KEYS[2])
redis.call('SET', KEYS[1], 'v1:' .. token .. ':' .. ARGV[1], 'NX', 'PX', ARGV[2])
return {'claimed', token}
"#;

/// Compare-and-pexpire: extends the lease only if it still holds our value.
pub const RENEW_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// Compare-and-delete: deletes the lease only if it still holds our value.
pub const RELEASE_LUA: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

/// The heartbeat: the node key with its TTL, the node's score (Redis time,
/// ms) in the set of nodes, and the restart guard's start if missing.
pub const BEAT_LUA: &str = r#"
local t = redis.call('TIME')
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[3])
redis.call('SET', KEYS[3], t[1] .. string.format('%06d', tonumber(t[2])), 'NX')
return 1
"#;

/// The live nodes: members of the set whose key still exists, as
/// `{id, value, score, ...}`; members whose key expired are removed.
pub const LIST_LUA: &str = r#"
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  local v = redis.call('GET', ARGV[1] .. ids[i])
  if v then
    table.insert(out, ids[i])
    table.insert(out, v)
    table.insert(out, ids[i + 1])
  else
    redis.call('ZREM', KEYS[1], ids[i])
  end
end
return out
"#;

static CLAIM: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM_LUA));
static RENEW: LazyLock<Script> = LazyLock::new(|| Script::new(RENEW_LUA));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE_LUA));
static BEAT: LazyLock<Script> = LazyLock::new(|| Script::new(BEAT_LUA));
static LIST: LazyLock<Script> = LazyLock::new(|| Script::new(LIST_LUA));

/// The value of a node key: `v1:ADDRESS`.
pub fn node_value(address: &str) -> String {
    format!("v1:{address}")
}

/// A connection to the cluster's Redis. Cheap to clone (one shared
/// multiplexed connection).
#[derive(Clone)]
pub struct Redis {
    conn: ConnectionManager,
    keys: Keys,
    addr: String,
    timeout: Duration,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("addr", &self.addr)
            .field("prefix", &self.keys.prefix())
            .finish_non_exhaustive()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl Redis {
    /// Connects and checks that Redis answers (`PING`): a Redis down at
    /// start is [`Error::Unreachable`], naming its host:port.
    pub async fn connect(config: &RedisConfig) -> Result<Self, Error> {
        let client = redis::Client::open(config.url.as_str()).map_err(Error::Url)?;
        let addr = client.get_connection_info().addr().to_string();
        let manager_config = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(config.connect_timeout)
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout));
        let budget = config.connect_timeout * 4 + config.command_timeout;
        let unreachable = |source| Error::Unreachable {
            addr: addr.clone(),
            source,
        };
        let conn = match tokio::time::timeout(
            budget,
            ConnectionManager::new_with_config(client, manager_config),
        )
        .await
        {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Err(unreachable(e)),
            Err(_) => {
                return Err(unreachable(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "connection timed out",
                ))));
            }
        };
        let redis = Redis {
            conn,
            keys: Keys::new(&config.prefix),
            addr: addr.clone(),
            timeout: config.command_timeout,
        };
        redis.ping().await.map_err(|e| match e {
            Error::Command { source, .. } => unreachable(source),
            other => other,
        })?;
        Ok(redis)
    }

    /// The key names this driver uses.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// host:port, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn bounded<T>(
        &self,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(source)) => Err(Error::Command {
                addr: self.addr.clone(),
                source,
            }),
            Err(_) => Err(Error::Timeout {
                addr: self.addr.clone(),
                timeout_ms: self.timeout.as_millis(),
            }),
        }
    }

    /// Whether Redis answers now (for `/healthz`).
    pub async fn ping(&self) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let pong: String = self
            .bounded(redis::cmd("PING").query_async(&mut conn))
            .await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(Error::Protocol {
                addr: self.addr.clone(),
                script: "PING",
            })
        }
    }

    /// Carries out a lease request of act `act` (see [`crate::lease::Op`]).
    pub async fn lease_op(&self, act: &ActId, op: &Op) -> Result<Reply, Error> {
        let mut conn = self.conn.clone();
        let lease = self.keys.lease(act);
        match op {
            Op::Claim { node, ttl } => {
                let (kind, arg): (String, String) = self
                    .bounded(
                        CLAIM
                            .key(&lease)
                            .key(self.keys.fence(act))
                            .key(self.keys.since())
                            .arg(node.as_str())
                            .arg(ms(*ttl))
                            .invoke_async(&mut conn),
                    )
                    .await?;
                let bad = || Error::Protocol {
                    addr: self.addr.clone(),
                    script: "claim",
                };
                match kind.as_str() {
                    "claimed" => Ok(Reply::Claimed(FencingToken(
                        arg.parse().map_err(|_| bad())?,
                    ))),
                    "taken" => Ok(Reply::Taken(LeaseValue::decode(&arg).ok())),
                    "warming" => Ok(Reply::WarmingUp {
                        retry_after: Duration::from_millis(arg.parse().map_err(|_| bad())?)
                            .min(*ttl),
                    }),
                    _ => Err(bad()),
                }
            }
            Op::Renew { value, ttl } => {
                let done: i64 = self
                    .bounded(
                        RENEW
                            .key(&lease)
                            .arg(value.encode())
                            .arg(ms(*ttl))
                            .invoke_async(&mut conn),
                    )
                    .await?;
                Ok(Reply::Renewed(done == 1))
            }
            Op::Release { value } => {
                let done: i64 = self
                    .bounded(
                        RELEASE
                            .key(&lease)
                            .arg(value.encode())
                            .invoke_async(&mut conn),
                    )
                    .await?;
                Ok(Reply::Released(done == 1))
            }
        }
    }

    /// Who holds act `act`'s lease now, if anyone (`GET`).
    pub async fn owner(&self, act: &ActId) -> Result<Option<LeaseValue>, Error> {
        let mut conn = self.conn.clone();
        let value: Option<String> = self.bounded(conn.get(self.keys.lease(act))).await?;
        Ok(value.map(|v| LeaseValue::decode(&v)).transpose()?)
    }

    /// Where node `node` said peers reach it, if its heartbeat is current
    /// (`GET` of its node key, which expires with its heartbeat).
    pub async fn node_address(&self, node: &NodeId) -> Result<Option<String>, Error> {
        let mut conn = self.conn.clone();
        let value: Option<String> = self.bounded(conn.get(self.keys.node(node))).await?;
        value
            .map(|v| {
                v.strip_prefix("v1:")
                    .map(str::to_owned)
                    .ok_or_else(|| Error::Protocol {
                        addr: self.addr.clone(),
                        script: "node",
                    })
            })
            .transpose()
    }

    /// Sends one heartbeat.
    pub async fn beat(&self, req: &BeatRequest) -> Result<(), Error> {
        check_address(&req.address)?;
        let mut conn = self.conn.clone();
        let _: i64 = self
            .bounded(
                BEAT.key(self.keys.node(&req.node))
                    .key(self.keys.nodes())
                    .key(self.keys.since())
                    .arg(node_value(&req.address))
                    .arg(ms(req.ttl))
                    .arg(req.node.as_str())
                    .invoke_async(&mut conn),
            )
            .await?;
        Ok(())
    }

    /// Removes a node from the list at once (a clean stop).
    pub async fn deregister(&self, node: &NodeId) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(self.keys.node(node))
            .ignore()
            .zrem(self.keys.nodes(), node.as_str())
            .ignore();
        self.bounded(pipe.query_async::<()>(&mut conn)).await
    }

    /// The live nodes (those whose heartbeat key has not expired), by name.
    pub async fn nodes(&self) -> Result<Vec<NodeEntry>, Error> {
        let mut conn = self.conn.clone();
        let flat: Vec<String> = self
            .bounded(
                LIST.key(self.keys.nodes())
                    .arg(format!("{}node:", self.keys.prefix()))
                    .invoke_async(&mut conn),
            )
            .await?;
        let bad = || Error::Protocol {
            addr: self.addr.clone(),
            script: "list",
        };
        let mut out = Vec::with_capacity(flat.len() / 3);
        for entry in flat.chunks(3) {
            let [id, value, score] = entry else {
                return Err(bad());
            };
            let address = value.strip_prefix("v1:").ok_or_else(bad)?.to_owned();
            out.push(NodeEntry {
                node: NodeId::new(id)?,
                address,
                last_beat_ms: score.parse::<f64>().map_err(|_| bad())? as u64,
            });
        }
        out.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(out)
    }
}
