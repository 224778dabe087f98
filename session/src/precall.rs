//! The pre-call connection test: before the call, a participant's browser
//! connects to a test peer the server runs and reports which network paths
//! work, with their round-trip time and the bitrate it could send. The
//! result is recorded with the act, so a consultation that later goes badly
//! can be read against what the network allowed beforehand.
//!
//! The server does not trust the client's reading of its own figures: the
//! [`Verdict`] is computed here, from the paths.

use serde::{Deserialize, Serialize};

use crate::{Error, ParticipantId};

/// The ways a browser can reach the server's test peer, in the order the
/// browser tries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestPath {
    /// Peer to peer, no relay (host or server-reflexive candidates).
    Direct,
    /// Through the TURN relay over UDP.
    RelayUdp,
    /// Through the TURN relay over TCP.
    RelayTcp,
    /// Through the TURN relay over TLS.
    RelayTls,
}

impl TestPath {
    pub const ALL: [TestPath; 4] = [
        TestPath::Direct,
        TestPath::RelayUdp,
        TestPath::RelayTcp,
        TestPath::RelayTls,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TestPath::Direct => "direct",
            TestPath::RelayUdp => "relay_udp",
            TestPath::RelayTcp => "relay_tcp",
            TestPath::RelayTls => "relay_tls",
        }
    }
}

/// How one path fared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathStatus {
    /// Connected, and the figures were measured.
    Ok,
    /// Did not connect within the test's time.
    Failed,
    /// Not offered by this server (no relay, or no TLS listener).
    Unavailable,
}

/// One path's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathResult {
    pub path: TestPath,
    pub status: PathStatus,
    /// Median round trip of the echo messages, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// What the browser could send to the test peer, in kbit/s, as the
    /// test peer counted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_kbps: Option<f64>,
    /// Time to connect, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_ms: Option<f64>,
}

/// What the test means for the call, in the words shown to the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Video will work.
    Good,
    /// A path works but too slowly or too late for good video: expect
    /// audio only, or poor video.
    Limited,
    /// No path works: the call cannot carry media from this network (the
    /// professional should plan the phone route).
    Failed,
}

/// The recorded test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub participant: ParticipantId,
    pub paths: Vec<PathResult>,
    pub verdict: Verdict,
}

/// Below this upload rate, video is not worth trying (kbit/s).
pub const VIDEO_MIN_KBPS: f64 = 300.0;
/// Above this round trip, a conversation suffers (ms).
pub const RTT_LIMIT_MS: f64 = 400.0;
/// Below this upload rate, even audio (Opus ~32 kbit/s) is at risk.
pub const AUDIO_MIN_KBPS: f64 = 40.0;

impl ConnectionTest {
    /// Checks what a client sent and computes the verdict: each path at
    /// most once, figures only on paths that worked, and within sane
    /// bounds.
    pub fn new(participant: ParticipantId, mut paths: Vec<PathResult>) -> Result<Self, Error> {
        let bad = |m: String| Err(Error::InvalidInput(m));
        if paths.is_empty() {
            return bad("a connection test reports at least one path".into());
        }
        paths.sort_by_key(|p| p.path);
        if paths.windows(2).any(|w| w[0].path == w[1].path) {
            return bad("a connection test reports each path at most once".into());
        }
        for p in &paths {
            let figures = [
                ("rtt_ms", p.rtt_ms, 60_000.0),
                ("upload_kbps", p.upload_kbps, 10_000_000.0),
                ("connect_ms", p.connect_ms, 600_000.0),
            ];
            for (name, value, max) in figures {
                match value {
                    Some(v) if p.status != PathStatus::Ok => {
                        return bad(format!(
                            "{name} = {v} on path {} that did not connect",
                            p.path.as_str()
                        ));
                    }
                    Some(v) if !(v.is_finite() && (0.0..=max).contains(&v)) => {
                        return bad(format!(
                            "{name} on path {} must be between 0 and {max}",
                            p.path.as_str()
                        ));
                    }
                    _ => {}
                }
            }
        }
        let verdict = verdict(&paths);
        Ok(ConnectionTest {
            participant,
            paths,
            verdict,
        })
    }

    /// The path the call will most likely take: the first that worked, in
    /// the order ICE prefers them.
    pub fn best(&self) -> Option<&PathResult> {
        self.paths.iter().find(|p| p.status == PathStatus::Ok)
    }
}

fn verdict(paths: &[PathResult]) -> Verdict {
    let working: Vec<&PathResult> = paths
        .iter()
        .filter(|p| p.status == PathStatus::Ok)
        .collect();
    let best_kbps = working
        .iter()
        .filter_map(|p| p.upload_kbps)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let best_rtt = working
        .iter()
        .filter_map(|p| p.rtt_ms)
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))));
    if working.is_empty() || best_kbps.is_some_and(|k| k < AUDIO_MIN_KBPS) {
        Verdict::Failed
    } else if best_kbps.is_none_or(|k| k < VIDEO_MIN_KBPS)
        || best_rtt.is_none_or(|r| r > RTT_LIMIT_MS)
    {
        Verdict::Limited
    } else {
        Verdict::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: TestPath, rtt: f64, kbps: f64) -> PathResult {
        PathResult {
            path,
            status: PathStatus::Ok,
            rtt_ms: Some(rtt),
            upload_kbps: Some(kbps),
            connect_ms: Some(120.0),
        }
    }

    fn down(path: TestPath, status: PathStatus) -> PathResult {
        PathResult {
            path,
            status,
            rtt_ms: None,
            upload_kbps: None,
            connect_ms: None,
        }
    }

    fn test(paths: Vec<PathResult>) -> Result<ConnectionTest, Error> {
        ConnectionTest::new(ParticipantId(3), paths)
    }

    #[test]
    fn a_fast_path_is_good_even_when_others_fail() {
        let t = test(vec![
            down(TestPath::RelayTls, PathStatus::Unavailable),
            down(TestPath::Direct, PathStatus::Failed),
            ok(TestPath::RelayTcp, 30.0, 2_000.0),
        ])
        .unwrap();
        assert_eq!(t.verdict, Verdict::Good);
        assert_eq!(t.best().unwrap().path, TestPath::RelayTcp);
        // Kept in ICE's order of preference, whatever order they came in.
        let order: Vec<TestPath> = t.paths.iter().map(|p| p.path).collect();
        assert_eq!(
            order,
            [TestPath::Direct, TestPath::RelayTcp, TestPath::RelayTls]
        );
    }

    #[test]
    fn slow_or_distant_paths_are_limited() {
        let slow = test(vec![ok(TestPath::Direct, 20.0, 150.0)]).unwrap();
        assert_eq!(slow.verdict, Verdict::Limited);
        let far = test(vec![ok(TestPath::Direct, 650.0, 5_000.0)]).unwrap();
        assert_eq!(far.verdict, Verdict::Limited);
        let unmeasured = test(vec![PathResult {
            rtt_ms: None,
            upload_kbps: None,
            ..ok(TestPath::Direct, 0.0, 0.0)
        }])
        .unwrap();
        assert_eq!(unmeasured.verdict, Verdict::Limited);
    }

    #[test]
    fn nothing_working_or_a_trickle_fails() {
        let none = test(vec![
            down(TestPath::Direct, PathStatus::Failed),
            down(TestPath::RelayUdp, PathStatus::Failed),
        ])
        .unwrap();
        assert_eq!(none.verdict, Verdict::Failed);
        assert!(none.best().is_none());
        let trickle = test(vec![ok(TestPath::Direct, 20.0, 12.0)]).unwrap();
        assert_eq!(trickle.verdict, Verdict::Failed);
    }

    #[test]
    fn malformed_reports_are_refused() {
        assert!(test(vec![]).is_err());
        assert!(
            test(vec![
                ok(TestPath::Direct, 1.0, 1.0),
                ok(TestPath::Direct, 1.0, 1.0)
            ])
            .is_err()
        );
        let figures_on_failed = PathResult {
            status: PathStatus::Failed,
            ..ok(TestPath::Direct, 10.0, 10.0)
        };
        assert!(test(vec![figures_on_failed]).is_err());
        for bad in [f64::NAN, -1.0, f64::INFINITY, 1e12] {
            assert!(test(vec![ok(TestPath::Direct, bad, 100.0)]).is_err());
            assert!(test(vec![ok(TestPath::Direct, 10.0, bad)]).is_err());
        }
    }

    #[test]
    fn the_wire_format_is_snake_case_and_strict() {
        let p: PathResult =
            serde_json::from_str(r#"{"path":"relay_tls","status":"ok","rtt_ms":12.5}"#).unwrap();
        assert_eq!(p.path, TestPath::RelayTls);
        assert!(
            serde_json::from_str::<PathResult>(r#"{"path":"direct","status":"ok","x":1}"#).is_err()
        );
    }
}
