//! The `--direct` baseline: the same traffic without any relay. The headsets connect here instead;
//! `connection` is answered with a `json_state`, GAMA's output is written to each headset as the
//! `json_output` frame a relay would produce, and asks are measured on arrival. One WebSocket hop
//! where a relay has two: the floor a relay is compared with.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::measure::{AskSink, now_ns};
use crate::payload::{Request, json_state, player_index};
use crate::ws;

/// The direct server of one run.
#[derive(Debug)]
pub struct DirectServer {
    addr: SocketAddr,
    routes: Mutex<Vec<Option<mpsc::Sender<Message>>>>,
    /// Where the headsets' asks are measured.
    pub asks: Arc<AskSink>,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl DirectServer {
    /// Listens on a free loopback port for `players` headsets.
    pub async fn start(players: usize) -> anyhow::Result<Arc<DirectServer>> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let server = Arc::new(DirectServer {
            addr: listener.local_addr()?,
            routes: Mutex::new(vec![None; players]),
            asks: Arc::new(AskSink::new(players)),
            accept: Mutex::new(None),
        });
        let me = server.clone();
        let accept = ws::accept_loop(listener, move |stream| me.clone().serve(stream));
        *server.accept.lock().unwrap_or_else(|e| e.into_inner()) = Some(accept);
        Ok(server)
    }

    /// Where the headsets connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Each headset's queue, by index (`None` for one that has not registered).
    pub fn routes(&self) -> Vec<Option<mpsc::Sender<Message>>> {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops accepting (open connections end with their headsets).
    pub fn stop(&self) {
        if let Some(task) = self.accept.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
            .for_each(|r| *r = None);
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
        while let Some(Ok(message)) = stream.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            let now = now_ns();
            let Ok(request) = serde_json::from_str::<Request<'_>>(text.as_str()) else {
                continue;
            };
            match &*request.kind {
                "ask" => {
                    if let Some(args) = &request.args {
                        self.asks.record(args, text.len(), now);
                    }
                }
                "connection" => {
                    let Some(id) = request.id.as_deref() else {
                        continue;
                    };
                    if let Some(index) = player_index(id) {
                        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
                        if let Some(slot) = routes.get_mut(index) {
                            *slot = Some(tx.clone());
                        }
                    }
                    if tx.send(Message::text(json_state(id))).await.is_err() {
                        break;
                    }
                }
                _ => {}
            }
        }
    }
}
