//! This server's place among several (issue 16): its node id and the
//! Redis it will coordinate act ownership through. Parsed and checked at
//! start (`--node-id`, `--redis`; environment `TELECONSULT_NODE_ID`,
//! `TELECONSULT_REDIS`; settings keys `node_id`, `redis`); for now only
//! logged at start, the Redis password masked.

use std::fmt;

use crate::Error;

/// The most characters a node id has.
pub const NODE_ID_MAX: usize = 64;

/// A node's name among the nodes sharing a store: 1 to 64 characters of
/// `A-Z a-z 0-9 . _ -`, so that it fits a Redis key and a log line as is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Checks `id`.
    pub fn new(id: &str) -> Result<NodeId, Error> {
        let ok = (1..=NODE_ID_MAX).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(NodeId(id.to_owned()))
        } else {
            Err(Error::NodeId(id.chars().take(NODE_ID_MAX + 1).collect()))
        }
    }

    /// The default: the machine's host name, its other characters made
    /// `-` and cut to 64; `node` if it has none.
    pub fn from_hostname() -> NodeId {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_default();
        NodeId::sanitized(name.trim())
    }

    /// `name` made a node id (see [`NodeId::from_hostname`]).
    fn sanitized(name: &str) -> NodeId {
        let id: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .take(NODE_ID_MAX)
            .collect();
        if id.is_empty() {
            NodeId("node".into())
        } else {
            NodeId(id)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Redis URL (`redis://[USER:PASSWORD@]HOST[:PORT][/DB]`, `rediss://`
/// for TLS), checked for a host; displayed with its password masked.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    /// As given, password included: only for connecting.
    url: String,
    /// With the password replaced by `***`: for messages.
    shown: String,
}

impl RedisUrl {
    /// Checks `url`: scheme `redis` or `rediss`, a host, a port (if any)
    /// from 1 to 65535.
    pub fn parse(url: &str) -> Result<RedisUrl, Error> {
        let lower = url.get(..9).unwrap_or(url).to_ascii_lowercase();
        let rest = if lower.starts_with("redis://") {
            &url[8..]
        } else if lower.starts_with("rediss://") {
            &url[9..]
        } else {
            return Err(Error::RedisUrl);
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => (h, Some(p)),
            _ => (host_port, None),
        };
        if host.is_empty() || port.is_some_and(|p| !p.parse::<u16>().is_ok_and(|p| p > 0)) {
            return Err(Error::RedisUrl);
        }
        let scheme = &url[..url.len() - rest.len()];
        let shown = match userinfo {
            Some(u) => {
                let user = u.split_once(':').map_or("", |(user, _)| user);
                format!("{scheme}{user}:***@{host_port}{tail}")
            }
            None => url.to_owned(),
        };
        Ok(RedisUrl {
            url: url.to_owned(),
            shown,
        })
    }

    /// The URL with its password, to connect with. Never print it.
    pub fn connection_string(&self) -> &str {
        &self.url
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RedisUrl").field(&self.shown).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_checked() {
        for ok in ["a", "node-1", "tc.eu_west-2", &"x".repeat(64)] {
            assert_eq!(NodeId::new(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "has space", "é", "a/b", "a:b", &"x".repeat(65)] {
            let e = NodeId::new(bad).unwrap_err();
            assert!(matches!(e, Error::NodeId(_)), "{bad}");
            assert!(e.to_string().contains("1 to 64"), "{e}");
        }
    }

    #[test]
    fn a_host_name_becomes_a_node_id() {
        assert_eq!(
            NodeId::sanitized("web-1.example.org").as_str(),
            "web-1.example.org"
        );
        assert_eq!(NodeId::sanitized("my host").as_str(), "my-host");
        assert_eq!(NodeId::sanitized("").as_str(), "node");
        assert_eq!(NodeId::sanitized(&"h".repeat(80)).as_str().len(), 64);
        let id = NodeId::from_hostname();
        assert!(NodeId::new(id.as_str()).is_ok(), "{id}");
    }

    #[test]
    fn redis_urls_are_checked_and_their_password_masked() {
        for ok in [
            "redis://127.0.0.1:6379",
            "redis://cache",
            "rediss://cache.example.org:6380/2",
            "REDIS://[::1]:6379",
        ] {
            let url = RedisUrl::parse(ok).unwrap();
            assert_eq!(url.to_string(), ok);
            assert_eq!(url.connection_string(), ok);
        }
        for bad in [
            "",
            "127.0.0.1:6379",
            "http://cache",
            "redis://",
            "redis://:pw@",
            "redis://cache:0",
            "redis://cache:port",
            "redis://cache:70000",
        ] {
            assert!(
                matches!(RedisUrl::parse(bad), Err(Error::RedisUrl)),
                "{bad}"
            );
        }
        let url = RedisUrl::parse("redis://:hunter2@cache:6379/0").unwrap();
        assert_eq!(url.to_string(), "redis://:***@cache:6379/0");
        assert!(!format!("{url:?}").contains("hunter2"));
        let url = RedisUrl::parse("rediss://tc:hunter2@cache").unwrap();
        assert_eq!(url.to_string(), "rediss://tc:***@cache");
        assert!(url.connection_string().contains("hunter2"));
    }
}
