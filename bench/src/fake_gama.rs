//! A lean fake gama-server: the relay under test connects to it as it would to GAMA.
//!
//! It answers like GAMA's desktop server (protocol.md §3.1-3.3) just enough for a relay to consider
//! an experiment live: `ConnectionSuccessful` first, then `SimulationStatus` `RUNNING`, and every
//! command answered `CommandExecutedSuccessfully` with the request echoed raw under `command` (our
//! relay matches replies by the `relay_seq` it adds; the SIMPLE webplatform ignores them). The
//! `cycle` probe gets a growing number, so a relay that probes also concludes "running". No model
//! is loaded: the benchmark's output is addressed to the connected player ids directly.
//!
//! Asks are stamped by the headsets; their latency is measured here, the moment the frame is read.
//! Like the desktop server, only the most recent connection receives simulation output.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::measure::{AskSink, now_ns};
use crate::payload::Request;
use crate::ws;

/// The connection simulation output goes to.
#[derive(Debug, Clone)]
struct Current {
    serial: u64,
    tx: mpsc::Sender<Message>,
    commands: Arc<AtomicU64>,
}

/// The fake gama-server, listening for the whole run of the benchmark.
#[derive(Debug)]
pub struct FakeGama {
    addr: SocketAddr,
    current: Mutex<Option<Current>>,
    serials: AtomicU64,
    cycle: AtomicU64,
    /// Where the headsets' asks are measured.
    pub asks: Arc<AskSink>,
}

impl FakeGama {
    /// Listens on `listen` (port 0 for any free port) and serves connections in the background.
    pub async fn start(listen: SocketAddr) -> anyhow::Result<Arc<FakeGama>> {
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("the fake GAMA cannot listen on {listen}"))?;
        let gama = Arc::new(FakeGama {
            addr: listener.local_addr()?,
            current: Mutex::new(None),
            serials: AtomicU64::new(0),
            cycle: AtomicU64::new(0),
            asks: Arc::new(AskSink::new(0)),
        });
        let server = gama.clone();
        ws::accept_loop(listener, move |stream| server.clone().serve(stream));
        Ok(gama)
    }

    /// Where the relay must connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn current(&self) -> Option<Current> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Number of the current connection (0: none yet).
    pub fn serial(&self) -> u64 {
        self.current().map_or(0, |c| c.serial)
    }

    /// The queue of the connection that receives simulation output.
    pub fn sender(&self) -> Option<mpsc::Sender<Message>> {
        self.current().map(|c| c.tx)
    }

    /// Waits until a connection newer than `after` is up and, if `probed`, has sent a command (our
    /// relay probes the server's state right after connecting; other relays may not).
    pub async fn wait_connection(
        &self,
        after: u64,
        probed: bool,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(c) = self.current() {
                if c.serial > after && (!probed || c.commands.load(Ordering::Relaxed) > 0) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "no relay connected to the fake GAMA at {} within {} s",
                    self.addr,
                    timeout.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn serve(self: Arc<Self>, stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, Some(ws::config())).await
        else {
            return;
        };
        let (sink, mut stream) = ws.split();
        let (tx, rx) = mpsc::channel(ws::QUEUE_FRAMES);
        tokio::spawn(ws::write_loop(sink, rx));
        let serial = self.serials.fetch_add(1, Ordering::Relaxed) + 1;
        let hello = format!(
            "{{\"type\":\"ConnectionSuccessful\",\"content\":\"{}\"}}",
            1_000_000 + serial
        );
        let running = "{\"type\":\"SimulationStatus\",\"content\":\"RUNNING\",\"exp_id\":\"0\"}";
        if tx.send(Message::text(hello)).await.is_err()
            || tx.send(Message::text(running)).await.is_err()
        {
            return;
        }
        let commands = Arc::new(AtomicU64::new(0));
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Current {
            serial,
            tx: tx.clone(),
            commands: commands.clone(),
        });
        while let Some(Ok(message)) = stream.next().await {
            match message {
                Message::Text(text) => {
                    let now = now_ns();
                    let reply = self.answer(text.as_str(), now);
                    commands.fetch_add(1, Ordering::Relaxed);
                    if tx.send(Message::text(reply)).await.is_err() {
                        break;
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|c| c.serial == serial) {
            *current = None;
        }
    }

    /// GAMA's reply to one command, measuring it first if it is a stamped ask.
    fn answer(&self, text: &str, now: u64) -> String {
        let Ok(request) = serde_json::from_str::<Request<'_>>(text) else {
            return "{\"type\":\"MalformedRequest\",\"content\":\"not a JSON object with a type\"}"
                .to_string();
        };
        let content = match (&*request.kind, request.expr.as_deref()) {
            ("ask", _) => {
                if let Some(args) = &request.args {
                    self.asks.record(args, text.len(), now);
                }
                "\"\"".to_string()
            }
            ("expression", Some(expr)) if expr.trim() == "cycle" => {
                format!("\"{}\"", self.cycle.fetch_add(1, Ordering::Relaxed))
            }
            ("expression", _) => "\"null\"".to_string(),
            _ => "\"\"".to_string(),
        };
        command_reply(&content, text)
    }
}

/// `CommandExecutedSuccessfully` with `content` (JSON) and the request echoed raw.
fn command_reply(content: &str, request: &str) -> String {
    let mut out = String::with_capacity(request.len() + content.len() + 72);
    out.push_str("{\"type\":\"CommandExecutedSuccessfully\",\"content\":");
    out.push_str(content);
    out.push_str(",\"command\":");
    out.push_str(request);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_echo_the_request_and_keep_gama_key_order() {
        let reply = command_reply(
            "\"\"",
            r#"{"type":"ask","exp_id":"0","action":"a","args":"{}","relay_seq":"7"}"#,
        );
        let v: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(v["type"], "CommandExecutedSuccessfully");
        assert_eq!(v["command"]["relay_seq"], "7");
        assert!(
            reply.starts_with(r#"{"type":"CommandExecutedSuccessfully","content":"","command":{"#)
        );
    }
}
