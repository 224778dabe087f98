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
