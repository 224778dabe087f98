//! The signaling protocol: typed JSON messages over one WebSocket per
//! participant. Documented in `docs/PROTOCOL.md`; this module is the truth.
//!
//! Every frame is one JSON object with a `type`. Text frames only, at most
//! [`MAX_FRAME_BYTES`]. A client sends `hello` first; anything it sends that
//! does not decode gets an `error` frame, and the connection stays up until
//! too many have come (see the room's limits).

use serde::{Deserialize, Serialize};
use session::act::{MediaRoute, Phase};
use session::conclusion::PrescriptionKind;
use session::document::DocumentType;
use session::incident::{IceState, IncidentKind, Metrics, PeerConnectionState, Sample};
use session::mode::{MediaMode, ModeCause};
use session::participant::Role;
use session::{ActKind, CancelReason, MessageId, Sha256, ShareId};

/// The protocol version this server speaks.
pub const VERSION: u32 = 1;
/// Largest frame accepted, in bytes. An SDP offer with four tracks is
/// about 10 KiB; a report can be longer, and has its own limit in the act.
pub const MAX_FRAME_BYTES: usize = 96 * 1024;

/// What a client sends.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on a connection. A reconnect with the same invitation
    /// resumes the same participant.
    Hello {
        v: u32,
        /// The invitation token from the join link. Sent here rather than
        /// in the URL so it never appears in request logs.
        token: String,
        #[serde(default)]
        user_agent: Option<String>,
    },
    /// The patient's (or companion's) answer on the consent screen.
    /// `text_sha256` is the SHA-256 of the text as shown, in `language`.
    Consent {
        accept: bool,
        language: String,
        text_sha256: String,
    },
    /// A requesting professional attests the absent patient's consent.
    AttestConsent { text_sha256: String },
    /// The patient withdraws consent: media stops at once.
    WithdrawConsent {},
    /// A professional lets a waiting participant in.
    Admit { participant: u32 },
    /// WebRTC negotiation for another participant, relayed as is.
    Signal { to: u32, data: SignalData },
    /// What the client's media connection settled on.
    MediaPath {
        route: MediaRoute,
        candidate_types: Vec<String>,
        codecs: Vec<String>,
    },
    /// A professional ends the act with the report and prescriptions.
    Conclude {
        report: String,
        #[serde(default)]
        prescriptions: Vec<PrescriptionInput>,
    },
    /// A professional cancels the act.
    Cancel { reason: CancelReason },
    /// The client's media stats, every few seconds while media flows;
    /// the server detects incidents from them.
    Stats(StatsReport),
    /// The client changes a participant's mode: its own (`participant`
    /// absent), automatically (`cause: automatic`, from its measured
    /// bandwidth or loss) or by hand; a professional may also switch
    /// another participant, and only a professional may choose `phone`.
    Mode {
        mode: MediaMode,
        cause: ModeCause,
        #[serde(default)]
        participant: Option<u32>,
    },
    /// The patient (or companion) leaves a call-back number at join, for
    /// the phone route. Digits, spaces, dots, dashes and a leading `+`.
    CallbackNumber { number: String },
    /// One end of a chat message reports its digest, SHA-256(salt ‖ UTF-8
    /// text): the sender when it sends (`sender` is itself), each receiver
    /// when it receives. The text and the salt travel peer to peer only.
    ChatDigest {
        message: MessageId,
        sender: u32,
        digest: Sha256,
    },
    /// A file shared peer to peer: offered by its sender (answered
    /// `share_recorded` once durable, before any byte leaves), received by
    /// each receiver with the digest it computed, or cancelled by either.
    Share(ShareReport),
    /// The client started (`true`) or stopped (`false`) sharing its screen.
    ScreenShare { active: bool },
    /// The client leaves on purpose.
    Leave {},
    /// Keeps the connection alive; answered with `pong`.
    Ping {},
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionInput {
    pub kind: PrescriptionKind,
    pub text: String,
}

/// What a `share` message says of one file share, by its `state`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShareReport {
    /// The sender offers the file: its SHA-256, size, type (`null` for a
    /// file of another type than a document's) and name.
    Offered {
        share: ShareId,
        digest: Sha256,
        size: u64,
        #[serde(default)]
        media_type: Option<DocumentType>,
        name: String,
    },
    /// A receiver got the whole file from `sender` and computed `digest`.
    Received {
        share: ShareId,
        sender: u32,
        digest: Sha256,
    },
    /// The sender or a receiver stopped the share.
    Cancelled { share: ShareId },
}

impl ShareReport {
    /// The share it concerns.
    pub fn share(&self) -> ShareId {
        match self {
            ShareReport::Offered { share, .. }
            | ShareReport::Received { share, .. }
            | ShareReport::Cancelled { share } => *share,
        }
    }
}

/// One stats report, from the browser's `getStats` (or the same from a
/// `webrtc` crate client), summed over the inbound streams. Every field is
/// optional and fixed-size, so a report is small whatever it says; see
/// [`session::incident::detector`] for how each is judged.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatsReport {
    /// `iceConnectionState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ice: Option<IceState>,
    /// `connectionState`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_connection: Option<PeerConnectionState>,
    /// Inbound RTP `packetsReceived`, cumulative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets_received: Option<u64>,
    /// Inbound RTP `packetsLost`, cumulative. Signed as in `getStats`
    /// (duplicates can make it negative); below zero counts as zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets_lost: Option<i64>,
    /// Inbound video `framesDecoded`, cumulative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames_decoded: Option<u64>,
    /// Whether the remote video track is on (not muted, not disabled).
    #[serde(default)]
    pub video_on: bool,
    /// `currentRoundTripTime` of the selected candidate pair, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    /// Inbound bitrate over the last interval, in kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<f64>,
    /// The selected candidate pair's route: `relay` when either candidate
    /// is a relay candidate, else `direct`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<MediaRoute>,
}

impl StatsReport {
    /// What the incident detector judges.
    pub fn to_sample(&self) -> Sample {
        Sample {
            ice: self.ice,
            peer_connection: self.peer_connection,
            packets_received: self.packets_received,
            packets_lost: self.packets_lost.map(|n| u64::try_from(n).unwrap_or(0)),
            frames_decoded: self.frames_decoded,
            video_on: self.video_on,
            rtt_ms: self.rtt_ms,
            bitrate_kbps: self.bitrate_kbps,
            route: self.route,
        }
    }
}

/// The WebRTC payloads the server relays between participants without
/// reading them.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SignalData {
    Offer {
        sdp: String,
    },
    Answer {
        sdp: String,
    },
    Candidate {
        candidate: String,
        #[serde(default)]
        sdp_mid: Option<String>,
        #[serde(default)]
        sdp_m_line_index: Option<u16>,
    },
}

/// What the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to `hello`: who you are in this act.
    Welcome {
        v: u32,
        participant: u32,
        role: Role,
        act: ActView,
        /// The consent text to show, per language, with its SHA-256.
        consent_texts: Vec<ConsentText>,
    },
    /// The room changed: phase, who is here, consent.
    State(RoomView),
    /// ICE servers to use. Sent only once media is allowed.
    IceServers {
        servers: Vec<IceServer>,
    },
    /// Negotiation from another participant.
    Signal {
        from: u32,
        data: SignalData,
    },
    /// Media must stop now (consent withdrawn, act ended).
    StopMedia {
        reason: String,
    },
    /// The act is over for this participant; the server closes next.
    Ended {
        reason: String,
    },
    Pong,
    /// An incident opened or closed. Sent to professionals only.
    Incident(IncidentView),
    /// A participant's mode changed. Sent to everyone, so the participant
    /// concerned stops or restarts its video.
    ModeChanged {
        participant: u32,
        mode: MediaMode,
        cause: ModeCause,
    },
    /// The professional switched to the phone route: the number to call.
    /// Sent to professionals only.
    PhoneRoute {
        participant: u32,
        number: String,
    },
    /// The sender's `share` `offered` is recorded: its page may now send
    /// the file (a refused offer gets an `error` instead).
    ShareRecorded {
        share: ShareId,
    },
    /// The two ends of a chat message or file share reported different
    /// digests: what one sent is not what the other got. Sent to both
    /// ends (the professionals also get the incident).
    ExchangeMismatch {
        kind: ExchangeKind,
        id: String,
    },
    /// A message was refused. `code` is stable; `message` is for people.
    Error {
        code: ErrorCode,
        message: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not a message of this protocol.
    Malformed,
    /// The frame is larger than [`MAX_FRAME_BYTES`].
    TooLarge,
    /// Too many messages too fast.
    RateLimited,
    /// The first message must be `hello` with a supported version.
    HelloFirst,
    UnsupportedVersion,
    /// Your role may not do this.
    Forbidden,
    /// The act's rules refuse it now (phase, consent...).
    Refused,
    /// The server could not record it; try again.
    Unavailable,
    /// Another node runs this consultation (act ownership on Redis, issue
    /// 16); no node is named. The connection closes with 4010
    /// `act_elsewhere`: reconnect with the same link (a later version
    /// forwards instead).
    ActElsewhere,
    /// This node cannot prove it owns the consultation now (Redis does not
    /// answer, or the ownership lease is being claimed or was lost). The
    /// connection closes with 4011 `retry_after:SECONDS`: reconnect then.
    OwnershipUnavailable,
}

/// What an [`ServerMessage::ExchangeMismatch`] concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExchangeKind {
    Chat,
    Share,
}

/// One incident as the professional's page lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    /// The incident's number in the act, the same in the trace.
    pub incident: u32,
    pub kind: IncidentKind,
    /// Whose connection it concerns, if one participant's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub participant: Option<u32>,
    /// When it opened, RFC 3339 UTC.
    pub opened_at: String,
    /// When it closed, once it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The metrics snapshot of the opening or closing (loss %, RTT ms...).
    pub metrics: Metrics,
}

/// What a participant may know of the act.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActView {
    pub id: String,
    pub kind: ActKind,
    pub patient_present: bool,
}

/// The room as one participant sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomView {
    pub phase: Phase,
    pub participants: Vec<ParticipantView>,
    /// Whether the patient's consent to the act currently stands.
    pub consent_given: bool,
    /// Whether this participant may send and receive media now.
    pub media_allowed: bool,
    /// A participant lost during the performance stayed away longer than
    /// the server waits: the act is interrupted until they are back (the
    /// professional may switch to the phone, or conclude).
    #[serde(default)]
    pub interrupted: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParticipantView {
    pub id: u32,
    pub role: Role,
    /// A professional's name, shown to everyone; the patient's alias,
    /// shown to professionals only; otherwise absent.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display_name: Option<String>,
    pub connected: bool,
    pub admitted: bool,
    /// The verdict of their latest pre-call connection test; shown to
    /// professionals only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connection: Option<session::precall::Verdict>,
    /// Their connection dropped and they are expected back: peers keep
    /// their peer connection for them (an ICE restart follows).
    #[serde(default)]
    pub reconnecting: bool,
    /// They are sharing their screen (their video shows it).
    #[serde(default)]
    pub screen_sharing: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConsentText {
    pub language: String,
    pub text: String,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
}

/// Why a frame could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    TooLarge(usize),
    Malformed(String),
}

/// Decodes one text frame, refusing oversized ones before parsing.
pub fn decode(frame: &str) -> Result<ClientMessage, DecodeError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::TooLarge(frame.len()));
    }
    serde_json::from_str(frame).map_err(|e| {
        // serde's own message can quote the frame's values (which may be
        // personal data), so only the kind and position are kept.
        let what = match e.classify() {
            serde_json::error::Category::Syntax => "not valid JSON",
            serde_json::error::Category::Eof => "truncated JSON",
            serde_json::error::Category::Data => "not a message of this protocol",
            serde_json::error::Category::Io => "unreadable",
        };
        DecodeError::Malformed(format!("{what} (line {}, column {})", e.line(), e.column()))
    })
}

/// Encodes a server message as a text frame.
pub fn encode(msg: &ServerMessage) -> String {
    serde_json::to_string(msg).unwrap_or_else(|_| {
        r#"{"type":"error","code":"unavailable","message":"encoding failed"}"#.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_client_message() {
        let cases = [
            r#"{"type":"hello","v":1,"token":"v1.x","user_agent":"Mozilla/5.0"}"#,
            r#"{"type":"hello","v":1,"token":"v1.x"}"#,
            r#"{"type":"consent","accept":true,"language":"fr","text_sha256":"ab"}"#,
            r#"{"type":"attest_consent","text_sha256":"ab"}"#,
            r#"{"type":"withdraw_consent"}"#,
            r#"{"type":"admit","participant":2}"#,
            r#"{"type":"signal","to":2,"data":{"kind":"offer","sdp":"v=0"}}"#,
            r#"{"type":"signal","to":1,"data":{"kind":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_m_line_index":0}}"#,
            r#"{"type":"media_path","route":"relay","candidate_types":["relay","host"],"codecs":["opus","VP8"]}"#,
            r#"{"type":"conclude","report":"RAS","prescriptions":[{"kind":"medication","text":"x"}]}"#,
            r#"{"type":"cancel","reason":"patient_absent"}"#,
            r#"{"type":"leave"}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"mode","mode":"audio_only","cause":"automatic"}"#,
            r#"{"type":"mode","mode":"phone","cause":"manual","participant":2}"#,
            r#"{"type":"callback_number","number":"+33 6 00 00 00 01"}"#,
            r#"{"type":"stats"}"#,
            r#"{"type":"chat_digest","message":"00112233445566778899aabbccddeeff","sender":1,"digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"offered","digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":20971520,"media_type":"image/png","name":"genou.png"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"offered","digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":3,"media_type":null,"name":"notes.txt"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"received","sender":1,"digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"cancelled"}"#,
            r#"{"type":"screen_share","active":true}"#,
            r#"{"type":"stats","ice":"connected","peer_connection":"connected","packets_received":1200,"packets_lost":-2,"frames_decoded":300,"video_on":true,"rtt_ms":42.5,"bitrate_kbps":950,"route":"direct"}"#,
        ];
        for c in cases {
            let m = decode(c).unwrap_or_else(|e| panic!("{c}: {e:?}"));
            // And back: what a client library would send.
            let again: ClientMessage =
                serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            assert_eq!(again, m);
        }
    }

    #[test]
    fn refuses_bad_frames_with_a_reason() {
        for bad in [
            "",
            "null",
            "[]",
            r#"{"type":"nope"}"#,
            r#"{"type":"admit"}"#,
            r#"{"type":"admit","participant":-1}"#,
            r#"{"type":"admit","participant":2,"extra":1}"#,
            r#"{"type":"stats","jitter":3}"#,
            r#"{"type":"stats","ice":"sideways"}"#,
            r#"{"type":"stats","packets_received":-1}"#,
            r#"{"type":"stats","rtt_ms":"fast"}"#,
            r#"{"type":"mode","mode":"hologram","cause":"manual"}"#,
            r#"{"type":"mode","mode":"video"}"#,
            r#"{"type":"callback_number"}"#,
            r#"{"v":1}"#,
            // Ids of 16 bytes and digests of 32, in hex.
            r#"{"type":"chat_digest","message":"0011","sender":1,"digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#,
            r#"{"type":"chat_digest","message":"00112233445566778899aabbccddeeff","sender":1,"digest":"zz7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}"#,
            r#"{"type":"chat_digest","message":"00112233445566778899aabbccddeeff","sender":1,"digest":"ba78"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"sent"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"cancelled","extra":1}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"offered","digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":3,"media_type":"text/html","name":"x.html"}"#,
            r#"{"type":"share","share":"00112233445566778899aabbccddeeff","state":"offered","digest":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":-3,"name":"x"}"#,
            r#"{"type":"screen_share","active":"yes"}"#,
        ] {
            assert!(
                matches!(decode(bad), Err(DecodeError::Malformed(_))),
                "{bad}"
            );
        }
        let big = format!(
            r#"{{"type":"conclude","report":"{}"}}"#,
            "a".repeat(MAX_FRAME_BYTES)
        );
        assert!(matches!(decode(&big), Err(DecodeError::TooLarge(_))));
    }

    #[test]
    fn malformed_message_does_not_echo_values() {
        let Err(DecodeError::Malformed(why)) =
            decode(r#"{"type":"admit","participant":"Jeanne Fictive"}"#)
        else {
            panic!("should not decode");
        };
        assert!(!why.contains("Jeanne"), "{why}");
    }

    #[test]
    fn stats_become_detector_samples() {
        let Ok(ClientMessage::Stats(report)) = decode(
            r#"{"type":"stats","packets_received":10,"packets_lost":-3,"video_on":true,"route":"relay"}"#,
        ) else {
            panic!("a stats report");
        };
        let sample = report.to_sample();
        assert_eq!(sample.packets_lost, Some(0), "negative loss counts as none");
        assert_eq!(sample.packets_received, Some(10));
        assert!(sample.video_on);
        assert_eq!(sample.route, Some(MediaRoute::Relay));
        assert_eq!(sample.rtt_ms, None);
    }
}
