//! A signaling client for tests that drive the protocol by hand: one task
//! owns the WebSocket, reads it all the time (so the server's pings are
//! answered and the connection is never taken as lost) and sends `ping`
//! every 2 s, as the page does.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use signaling::protocol::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The longest a test waits for one expected message.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Ws {
    out: mpsc::UnboundedSender<ClientMessage>,
    inbox: mpsc::UnboundedReceiver<ServerMessage>,
}

impl Ws {
    /// Connects and says hello with `token`.
    pub async fn join(url: &str, token: &str) -> Ws {
        let (ws, _) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(url))
            .await
            .expect("the WebSocket upgrade answers in time")
            .expect("the WebSocket upgrade succeeds");
        let (mut sink, mut stream) = ws.split();
        let (out, mut outgoing) = mpsc::unbounded_channel::<ClientMessage>();
        let (deliver, inbox) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut keepalive = tokio::time::interval(Duration::from_secs(2));
            loop {
                let msg = tokio::select! {
                    msg = outgoing.recv() => match msg {
                        Some(msg) => msg,
                        None => break,
                    },
                    _ = keepalive.tick() => ClientMessage::Ping {},
                    frame = stream.next() => match frame {
                        Some(Ok(Message::Text(t))) => {
                            let msg: ServerMessage = serde_json::from_str(t.as_str())
                                .unwrap_or_else(|e| panic!("not a server message ({e}): {t}"));
                            let _ = deliver.send(msg);
                            continue;
                        }
                        Some(Ok(_)) => continue,
                        Some(Err(_)) | None => break,
                    },
                };
                let text = serde_json::to_string(&msg).expect("encode");
                if sink.send(Message::text(text)).await.is_err() {
                    break;
                }
            }
        });
        let ws = Ws { out, inbox };
        ws.send(ClientMessage::Hello {
            v: signaling::protocol::VERSION,
            token: token.to_string(),
            user_agent: Some("integration-test".into()),
        });
        ws
    }

    pub fn send(&self, msg: ClientMessage) {
        self.out.send(msg).expect("the connection task runs");
    }

    /// Waits for the first message `pick` accepts, skipping others.
    pub async fn expect<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ServerMessage) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.inbox.recv())
                .await
                .unwrap_or_else(|_| panic!("no {what} within {TIMEOUT:?}"))
                .unwrap_or_else(|| panic!("the connection ended while waiting for {what}"));
            if let ServerMessage::Error { code, message } = &msg {
                panic!("error {code:?} while waiting for {what}: {message}");
            }
            if let Some(t) = pick(&msg) {
                return t;
            }
        }
    }
}

/// The ICE servers of an `ice_servers` message, for [`Ws::expect`].
pub fn ice(m: &ServerMessage) -> Option<Vec<signaling::protocol::IceServer>> {
    match m {
        ServerMessage::IceServers { servers } => Some(servers.clone()),
        _ => None,
    }
}

/// The UDP TURN username and password among `servers`.
pub fn turn_credentials(servers: &[signaling::protocol::IceServer]) -> (String, String) {
    let s = servers
        .iter()
        .find(|s| s.urls.iter().any(|u| u.starts_with("turn:")))
        .expect("a TURN server is offered");
    (
        s.username.clone().expect("username"),
        s.credential.clone().expect("password"),
    )
}

/// A consultation's professional and patient, both joined and welcomed.
pub struct Pair {
    pub pro: Ws,
    pub patient: Ws,
    /// The patient's participant number, for `admit`.
    pub patient_id: u32,
    /// The SHA-256 of the consent text the patient was shown.
    pub consent_sha: String,
}

impl Pair {
    /// Joins the professional, then the patient, and waits for both
    /// welcomes.
    pub async fn join(ws_url: &str, pro_token: &str, patient_token: &str) -> Pair {
        let mut pro = Ws::join(ws_url, pro_token).await;
        pro.expect("welcome", |m| {
            matches!(m, ServerMessage::Welcome { .. }).then_some(())
        })
        .await;
        let mut patient = Ws::join(ws_url, patient_token).await;
        let (patient_id, consent_sha) = patient
            .expect("welcome", |m| match m {
                ServerMessage::Welcome {
                    participant,
                    consent_texts,
                    ..
                } => Some((*participant, consent_texts[0].sha256.clone())),
                _ => None,
            })
            .await;
        Pair {
            pro,
            patient,
            patient_id,
            consent_sha,
        }
    }

    /// The patient's acceptance of the text they were shown.
    pub fn consent(&self) -> ClientMessage {
        ClientMessage::Consent {
            accept: true,
            language: "fr".into(),
            text_sha256: self.consent_sha.clone(),
        }
    }

    /// The patient consents, the professional sees it and admits them;
    /// returns the ICE servers the patient is then given.
    pub async fn consent_and_admit(&mut self) -> Vec<signaling::protocol::IceServer> {
        self.patient.send(self.consent());
        self.pro
            .expect("consent", |m| match m {
                ServerMessage::State(v) if v.consent_given => Some(()),
                _ => None,
            })
            .await;
        self.pro.send(ClientMessage::Admit {
            participant: self.patient_id,
        });
        self.patient.expect("ice_servers", ice).await
    }
}
