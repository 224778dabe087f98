//! The address a node advertises to its peers (`--advertise`), checked
//! before it is stored in Redis.

use crate::Error;

/// Checks an advertised address (`--advertise`): an `http://` or
/// `https://` URL with a host, 1 to 256 printable characters (it is stored
/// in Redis as is).
pub fn check_advertise(url: &str) -> Result<(), Error> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host_ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with(['/', ':']));
    if host_ok && ownership::registry::check_address(url).is_ok() {
        Ok(())
    } else {
        Err(Error::Advertise)
    }
}

/// The default advertised address: the listen address, as `https://` (or
/// `http://` without TLS). A node listening on every address (`0.0.0.0`,
/// `[::]`) has no address its peers could use: it must be told one
/// (`--advertise`).
pub fn default_advertise(listen: std::net::SocketAddr, tls: bool) -> Result<String, Error> {
    if listen.ip().is_unspecified() {
        return Err(Error::AdvertiseNeeded(listen));
    }
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{listen}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertised_addresses_are_checked() {
        for ok in [
            "https://10.0.0.5:8443",
            "http://127.0.0.1:8080",
            "https://tc-1.internal",
        ] {
            check_advertise(ok).unwrap();
        }
        for bad in [
            "",
            "10.0.0.5:8443",
            "ftp://x",
            "https://",
            "https://a b",
            "http:///x",
        ] {
            assert!(
                matches!(check_advertise(bad), Err(Error::Advertise)),
                "{bad}"
            );
        }
        let long = format!("https://{}", "a".repeat(300));
        assert!(check_advertise(&long).is_err());
    }

    #[test]
    fn the_default_advertised_address_is_the_listen_address() {
        let listen: std::net::SocketAddr = "127.0.0.1:8443".parse().unwrap();
        assert_eq!(
            default_advertise(listen, true).unwrap(),
            "https://127.0.0.1:8443"
        );
        assert_eq!(
            default_advertise(listen, false).unwrap(),
            "http://127.0.0.1:8443"
        );
        check_advertise(&default_advertise(listen, true).unwrap()).unwrap();
        for everywhere in ["0.0.0.0:443", "[::]:443"] {
            let listen: std::net::SocketAddr = everywhere.parse().unwrap();
            assert!(
                matches!(
                    default_advertise(listen, true),
                    Err(Error::AdvertiseNeeded(_))
                ),
                "{everywhere}"
            );
        }
    }
}
