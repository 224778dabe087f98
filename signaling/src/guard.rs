//! Connection limits for the WebSocket: at most so many open at once, and
//! so many from one address, so one client cannot hold all the server's
//! sockets. The figures are the settings' `[http]` table
//! ([`crate::throttle::HttpLimits`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Counts open connections, in total and per client address.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_client: usize,
    open: Mutex<Open>,
    /// Woken when the last connection closes (for the server's shutdown).
    none_open: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// Held for as long as a connection is open; frees its slot on drop.
#[derive(Debug)]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    client: Option<IpAddr>,
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    ServerFull,
    ClientFull,
}

impl ConnectionLimits {
    pub fn new(max_total: usize, max_per_client: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_total,
            max_per_client,
            open: Mutex::new(Open::default()),
            none_open: tokio::sync::Notify::new(),
        }
    }

    /// Takes a slot for a connection from `client` (unknown in tests that
    /// call the router without a socket).
    pub fn acquire(self: &Arc<Self>, client: Option<IpAddr>) -> Result<ConnectionPermit, Refused> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.max_total {
            return Err(Refused::ServerFull);
        }
        if let Some(ip) = client {
            let n = open.by_client.entry(ip).or_insert(0);
            if *n >= self.max_per_client {
                return Err(Refused::ClientFull);
            }
            *n += 1;
        }
        open.total += 1;
        Ok(ConnectionPermit {
            limits: self.clone(),
            client,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }

    /// Returns once no connection is open.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.none_open.notified();
            tokio::pin!(notified);
            // Registered before the count is read, so a close in between
            // is not missed.
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self
            .limits
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total = open.total.saturating_sub(1);
        if open.total == 0 {
            self.limits.none_open.notify_waiters();
        }
        if let Some(ip) = self.client
            && let Some(n) = open.by_client.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                open.by_client.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_client_and_in_total_and_frees_on_drop() {
        let l = Arc::new(ConnectionLimits::new(3, 2));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let p1 = l.acquire(Some(a)).unwrap();
        let _p2 = l.acquire(Some(a)).unwrap();
        assert_eq!(l.acquire(Some(a)).unwrap_err(), Refused::ClientFull);
        let _p3 = l.acquire(Some(b)).unwrap();
        assert_eq!(l.acquire(Some(b)).unwrap_err(), Refused::ServerFull);
        assert_eq!(l.open(), 3);
        drop(p1);
        assert_eq!(l.open(), 2);
        assert!(l.acquire(Some(a)).is_ok(), "a slot came back");
    }
}
