//! The server's settings file (TOML). Every key is optional; command-line
//! flags and environment variables override the file.
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! public_url = "https://teleconsultation.example.org"
//! cert = "/etc/teleconsult/cert.pem"
//! key = "/etc/teleconsult/key.pem"
//! insecure_http = false
//! link_ttl_hours = 24
//! relay_port = 3478        # TURN over UDP and TCP; TLS on 3479
//! no_relay = false
//! recovery_timeout_secs = 30  # a lost participant's grace before "interrupted"
//! shutdown_grace_secs = 10    # Ctrl-C/SIGTERM: time to close rooms and flush
//! log_origin = "teleconsult.localhost/trace"  # the trace log's name in its checkpoints
//! witness_interval_secs = 2   # checkpoints submitted this often while the tree grows
//! store = "postgres://teleconsult@db.example.org/teleconsult"  # default: DATA/trace.db
//! redis = "redis://127.0.0.1:6379"  # act ownership among nodes (issue 16)
//! node_id = "tc-1"            # this node's name among them; default: the host name
//! advertise = "https://10.0.0.5:8443"  # where the other nodes reach it; default: the listen address
//!
//! [[witness]]                 # repeatable; see docs/WITNESS.md
//! url = "https://witness.example.org"
//! key = "witness.example.org+1a2b3c4d+BA..."  # optional: keep only its valid cosignatures
//!
//! [relay]
//! # Peers the relay may reach although they are loopback, private,
//! # link-local or the server's own addresses (refused by default).
//! allow_peers = ["10.20.0.0/16"]
//!
//! [[ice_servers]]
//! urls = ["stun:stun.example.org:3478"]
//!
//! [http]                      # limits per client address and in flight
//! per_client_per_second = 50  # any route, sustained
//! per_client_burst = 200
//! join_per_second = 5         # invitation check and connection test
//! join_burst = 30
//! max_in_flight = 512         # more at once are answered 503
//! request_timeout_secs = 30
//! upload_timeout_secs = 600   # a document upload (up to 50 MiB)
//! websockets = 10000          # open WebSocket connections at most
//! websockets_per_client = 256
//! connections = 16384         # open TCP connections at most (closed on accept beyond)
//! connections_per_client = 512
//! tls_handshake_secs = 10     # a TLS handshake not done by then is dropped
//! header_read_secs = 10       # a request head not received by then is dropped
//! trace_events_per_participant_per_minute = 30  # events a participant's messages
//! trace_events_per_participant = 300            # may record; beyond: `refused`
//! trace_events_per_act_per_minute = 120
//! trace_events_per_act = 1000
//! joins_per_participant_per_minute = 20         # hello (join, rejoin) per participant
//! joins_per_participant = 200
//! exchange_events_per_participant_per_minute = 120  # chat digests, file and screen
//! exchange_events_per_participant = 6000            # shares: a budget of their own
//! exchange_events_per_act_per_minute = 300
//! exchange_events_per_act = 12000
//!
//! [incidents]                 # thresholds; durations in ms (defaults shown)
//! loss_pct = 5.0              # loss above this share...
//! loss_sustain_ms = 5000      # ...for this long
//! freeze_after_ms = 2000      # no decoded frame while the video is on
//! rtt_ms = 400.0
//! rtt_sustain_ms = 2000
//! bitrate_ratio = 0.2         # below this share of the recent median...
//! bitrate_sustain_ms = 5000   # ...for this long
//! clear_after_ms = 3000       # clear this long before an incident closes
//! relay_silence_ms = 3000     # no datagram through the relay
//! relay_in_use_packets = 50
//!
//! [oidc]                      # sign-in with Pro Santé Connect (see docs/SECURITY.md)
//! issuer = "https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet"
//! client_id = "..."
//! client_secret = "..."
//! scopes = ["openid", "scope_all"]
//! acr_values = "eidas1"
//! rpps_claim = "SubjectNameID"
//! rpps_prefix = "8"
//! create_accounts = false
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use session::incident::Thresholds;

use crate::Error;
use crate::auth::oidc::OidcSettings;
use crate::protocol::IceServer;
use crate::throttle::HttpLimits;
use crate::witnessing::WitnessConfig;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub insecure_http: Option<bool>,
    pub link_ttl_hours: Option<u32>,
    /// UDP/TCP port of the TURN relay (TLS on the next one).
    pub relay_port: Option<u16>,
    /// Run without the relay.
    pub no_relay: Option<bool>,
    /// Seconds a participant whose connection dropped during the
    /// performance may stay away before the act is marked interrupted.
    pub recovery_timeout_secs: Option<u32>,
    /// Seconds a shutdown (Ctrl-C, SIGTERM) may take to close rooms and
    /// connections and flush the trace before the server stops anyway.
    pub shutdown_grace_secs: Option<u32>,
    #[serde(default)]
    pub ice_servers: Vec<IceServer>,
    /// Rate, in-flight and time limits on HTTP requests.
    #[serde(default)]
    pub http: HttpLimits,
    /// When what clients and the relay report becomes an incident.
    #[serde(default)]
    pub incidents: IncidentSettings,
    /// The TURN relay's peer policy.
    #[serde(default)]
    pub relay: RelaySettings,
    /// Professional sign-in over OpenID Connect (Pro Santé Connect); see
    /// `auth::oidc::settings` for its keys.
    #[serde(default)]
    pub oidc: Option<OidcSettings>,
    /// The trace log's origin (its name in checkpoints), default
    /// `teleconsult.localhost/trace`.
    pub log_origin: Option<String>,
    /// Seconds between checkpoint submissions while the tree grows.
    pub witness_interval_secs: Option<u32>,
    /// The witnesses checkpoints are submitted to (`[[witness]]`).
    #[serde(default)]
    pub witness: Vec<WitnessSetting>,
    /// Where the trace lives, as `--store` takes it (see
    /// [`crate::store::StoreSetting::parse`]); `--store` and
    /// `TELECONSULT_STORE` override it.
    pub store: Option<String>,
    /// The Redis that nodes share act ownership through (`redis://` or
    /// `rediss://`); `--redis` and `TELECONSULT_REDIS` override it.
    pub redis: Option<String>,
    /// This node's name among the nodes sharing the store (see
    /// [`crate::node::NodeId`]); `--node-id` and `TELECONSULT_NODE_ID`
    /// override it.
    pub node_id: Option<String>,
    /// The URL other nodes reach this one at (see
    /// [`crate::cluster::check_advertise`]); `--advertise` and
    /// `TELECONSULT_ADVERTISE` override it.
    pub advertise: Option<String>,
}

/// One `[[witness]]` entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WitnessSetting {
    /// The witness's base URL.
    pub url: String,
    /// Its C2SP verifier key (`name+id+base64`, as `teleconsult witness
    /// key` prints it); when given, only cosignatures that verify with it
    /// are kept.
    pub key: Option<String>,
}

impl FileConfig {
    /// The `[[witness]]` entries, checked; an error names the entry.
    pub fn witnesses(&self) -> Result<Vec<WitnessConfig>, String> {
        self.witness
            .iter()
            .enumerate()
            .map(|(i, w)| {
                WitnessConfig::new(&w.url, w.key.as_deref())
                    .map_err(|e| format!("witness entry {}: {e}", i + 1))
            })
            .collect()
    }

    /// The log origin, checked: non-empty, no spaces, no `+` (a signed-note
    /// key name).
    pub fn checked_log_origin(&self) -> Result<(), String> {
        match &self.log_origin {
            Some(o) if !is_log_origin(o) => Err(format!(
                "log_origin {o:?}: non-empty, without spaces or '+'"
            )),
            _ => Ok(()),
        }
    }
}

/// Whether `origin` may name the trace log (a signed-note key name).
pub fn is_log_origin(origin: &str) -> bool {
    !origin.is_empty() && !origin.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The `[relay]` table.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelaySettings {
    /// Ranges (`ADDRESS/PREFIX`) the relay may relay to although they are
    /// loopback, private, link-local or the server's own: the operator's
    /// explicit opt-in, range by range.
    #[serde(default)]
    pub allow_peers: Vec<String>,
}

impl RelaySettings {
    /// The relay's peer policy; an error names the bad range.
    pub fn peer_policy(&self) -> Result<media::PeerPolicy, String> {
        media::PeerPolicy::allowing(&self.allow_peers)
            .map_err(|e| format!("relay.allow_peers: {e}"))
    }
}

/// The `[incidents]` table: each key, when present, replaces the default
/// of the same threshold ([`Thresholds`], whose docs say what each means).
/// Durations are in milliseconds.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct IncidentSettings {
    pub loss_pct: Option<f64>,
    pub loss_sustain_ms: Option<u64>,
    pub freeze_after_ms: Option<u64>,
    pub rtt_ms: Option<f64>,
    pub rtt_sustain_ms: Option<u64>,
    pub bitrate_ratio: Option<f64>,
    pub bitrate_sustain_ms: Option<u64>,
    pub clear_after_ms: Option<u64>,
    pub relay_silence_ms: Option<u64>,
    pub relay_in_use_packets: Option<u64>,
}

impl IncidentSettings {
    /// The thresholds in force: the defaults, with these keys over them.
    pub fn thresholds(&self) -> Result<Thresholds, String> {
        let mut t = Thresholds::default();
        let ms = Duration::from_millis;
        if let Some(v) = self.loss_pct {
            t.loss_pct = v;
        }
        if let Some(v) = self.loss_sustain_ms {
            t.loss_sustain = ms(v);
        }
        if let Some(v) = self.freeze_after_ms {
            t.freeze_after = ms(v);
        }
        if let Some(v) = self.rtt_ms {
            t.rtt_ms = v;
        }
        if let Some(v) = self.rtt_sustain_ms {
            t.rtt_sustain = ms(v);
        }
        if let Some(v) = self.bitrate_ratio {
            t.bitrate_ratio = v;
        }
        if let Some(v) = self.bitrate_sustain_ms {
            t.bitrate_sustain = ms(v);
        }
        if let Some(v) = self.clear_after_ms {
            t.clear_after = ms(v);
        }
        if let Some(v) = self.relay_silence_ms {
            t.relay_silence = ms(v);
        }
        if let Some(v) = self.relay_in_use_packets {
            t.relay_in_use_packets = v;
        }
        t.validate().map_err(|e| e.to_string())?;
        Ok(t)
    }
}

impl FileConfig {
    /// Reads and checks a settings file; errors name the file and the line.
    pub fn load(path: &Path) -> Result<FileConfig, Error> {
        let text = std::fs::read_to_string(path).map_err(|cause| Error::ConfigRead {
            path: path.to_path_buf(),
            cause,
        })?;
        let config: FileConfig = toml::from_str(&text).map_err(|cause| Error::ConfigSyntax {
            path: path.to_path_buf(),
            cause,
        })?;
        if let Some(h) = config.link_ttl_hours
            && !(1..=24 * 30).contains(&h)
        {
            return Err(Error::ConfigValue {
                path: path.to_path_buf(),
                problem: "link_ttl_hours must be between 1 and 720".into(),
            });
        }
        if let Some(s) = config.witness_interval_secs
            && !(1..=3600).contains(&s)
        {
            return Err(Error::ConfigValue {
                path: path.to_path_buf(),
                problem: "witness_interval_secs must be between 1 and 3600".into(),
            });
        }
        config
            .http
            .check()
            .and(config.incidents.thresholds().map(|_| ()))
            .and(config.relay.peer_policy().map(|_| ()))
            .and(config.oidc.as_ref().map_or(Ok(()), OidcSettings::check))
            .and(config.witnesses().map(|_| ()))
            .and(config.checked_log_origin())
            .map_err(|problem| Error::ConfigValue {
                path: path.to_path_buf(),
                problem,
            })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teleconsult.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\npublic_url = \"https://x.test\"\nlink_ttl_hours = 2\n\n[[ice_servers]]\nurls = [\"stun:127.0.0.1:3478\"]\n",
        )
        .unwrap();
        let c = FileConfig::load(&path).unwrap();
        assert_eq!(c.listen.unwrap().port(), 9000);
        assert_eq!(c.link_ttl_hours, Some(2));
        assert_eq!(c.ice_servers[0].urls, ["stun:127.0.0.1:3478"]);
    }

    #[test]
    fn http_limits_default_and_can_be_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teleconsult.toml");
        std::fs::write(&path, "[http]\njoin_burst = 10\n").unwrap();
        let c = FileConfig::load(&path).unwrap();
        assert_eq!(c.http.join_burst, 10);
        assert_eq!(c.http.max_in_flight, HttpLimits::default().max_in_flight);
        std::fs::write(&path, "[http]\nmax_in_flight = 0\n").unwrap();
        let e = FileConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("http.max_in_flight must be at least 1"), "{e}");
        std::fs::write(&path, "[http]\nper_client = 3\n").unwrap();
        let e = FileConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("per_client"), "{e}");
    }

    #[test]
    fn incident_thresholds_can_be_changed_and_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teleconsult.toml");
        std::fs::write(
            &path,
            "[incidents]\nrtt_ms = 300.0\nloss_sustain_ms = 8000\n",
        )
        .unwrap();
        let t = FileConfig::load(&path)
            .unwrap()
            .incidents
            .thresholds()
            .unwrap();
        assert_eq!(t.rtt_ms, 300.0);
        assert_eq!(t.loss_sustain, Duration::from_secs(8));
        assert_eq!(t.freeze_after, Thresholds::default().freeze_after);
        std::fs::write(&path, "[incidents]\nloss_pct = 150.0\n").unwrap();
        let e = FileConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("teleconsult.toml") && e.contains("loss_pct"),
            "{e}"
        );
        std::fs::write(&path, "[incidents]\nrtt = 3\n").unwrap();
        assert!(FileConfig::load(&path).is_err());
    }

    #[test]
    fn relay_peer_ranges_are_opted_in_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teleconsult.toml");
        std::fs::write(&path, "").unwrap();
        let none = FileConfig::load(&path)
            .unwrap()
            .relay
            .peer_policy()
            .unwrap();
        assert!(!none.allows("127.0.0.1".parse().unwrap()));
        std::fs::write(
            &path,
            "[relay]\nallow_peers = [\"127.0.0.0/8\", \"10.77.0.0/16\"]\n",
        )
        .unwrap();
        let p = FileConfig::load(&path)
            .unwrap()
            .relay
            .peer_policy()
            .unwrap();
        assert!(p.allows("127.0.0.1".parse().unwrap()));
        assert!(p.allows("10.77.1.2".parse().unwrap()));
        assert!(!p.allows("192.168.0.1".parse().unwrap()));
        std::fs::write(&path, "[relay]\nallow_peers = [\"127.0.0.0/40\"]\n").unwrap();
        let e = FileConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("teleconsult.toml")
                && e.contains("relay.allow_peers")
                && e.contains("127.0.0.0/40"),
            "{e}"
        );
    }

    #[test]
    fn oidc_settings_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teleconsult.toml");
        let psc = "[oidc]\nissuer = \"https://auth.esw.esante.gouv.fr/auth/realms/esante-wallet\"\nclient_id = \"c\"\nclient_secret = \"s\"\nscopes = [\"openid\", \"scope_all\"]\nacr_values = \"eidas1\"\n";
        std::fs::write(&path, psc).unwrap();
        let oidc = FileConfig::load(&path).unwrap().oidc.unwrap();
        assert_eq!(oidc.rpps_claim, "SubjectNameID");
        assert!(!oidc.create_accounts);
        std::fs::write(&path, psc.replace("https://auth", "http://auth")).unwrap();
        let e = FileConfig::load(&path).unwrap_err().to_string();
        assert!(
            e.contains("teleconsult.toml") && e.contains("oidc.issuer"),
            "{e}"
        );
        std::fs::write(&path, format!("{psc}create_accounts = \"yes\"\n")).unwrap();
        let e = FileConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("create_accounts"), "{e}");
        std::fs::write(&path, "").unwrap();
        assert!(
            FileConfig::load(&path).unwrap().oidc.is_none(),
            "off unless configured"
        );
    }

    #[test]
    fn witnesses_and_the_log_origin_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teleconsult.toml");
        let key = witness::WitnessKey::from_seed("w.example/w1", [1; 32])
            .unwrap()
            .verifier_key();
        std::fs::write(
            &path,
            format!("log_origin = \"care.example/trace\"\nwitness_interval_secs = 5\n\n[[witness]]\nurl = \"http://127.0.0.1:7380\"\n\n[[witness]]\nurl = \"https://w.example/\"\nkey = \"{key}\"\n"),
        )
        .unwrap();
        let c = FileConfig::load(&path).unwrap();
        assert_eq!(c.log_origin.as_deref(), Some("care.example/trace"));
        let w = c.witnesses().unwrap();
        assert_eq!(w[0].url, "http://127.0.0.1:7380");
        assert_eq!(w[1].url, "https://w.example");
        assert_eq!(w[1].key.as_deref(), Some(key.as_str()));
        for (text, says) in [
            (
                "[[witness]]\nurl = \"ftp://w.example\"\n",
                "witness entry 1: witness \"ftp://w.example\": not an http",
            ),
            (
                "[[witness]]\nurl = \"http://a\"\n[[witness]]\nurl = \"http://b\"\nkey = \"b+1+2\"\n",
                "witness entry 2: witness http://b: invalid verifier key",
            ),
            ("[[witness]]\nurl = \"http://a\"\nkye = \"x\"\n", "kye"),
            ("log_origin = \"a b\"\n", "log_origin \"a b\""),
            (
                "witness_interval_secs = 0\n",
                "witness_interval_secs must be between 1 and 3600",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let e = FileConfig::load(&path).unwrap_err().to_string();
            assert!(e.contains("teleconsult.toml") && e.contains(says), "{e}");
        }
    }

    #[test]
    fn bad_files_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "lisen = \"x\"\n").unwrap();
        let e = FileConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("lisen"), "{e}");
        std::fs::write(&path, "listen = \"not an address\"\n").unwrap();
        assert!(FileConfig::load(&path).is_err());
        std::fs::write(&path, "link_ttl_hours = 0\n").unwrap();
        assert!(
            FileConfig::load(&path)
                .unwrap_err()
                .to_string()
                .contains("between 1 and 720")
        );
        let missing = FileConfig::load(&dir.path().join("none.toml"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("cannot read"), "{missing}");
    }
}
