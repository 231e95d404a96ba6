//! The relay against the stand-in ADB server, and a page watching a headset's screen as the
//! browser does: what `tests/screens.rs` needs.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use relay_testkit::h264::{AccessUnit, Sample};
use relay_testkit::{FakeAdb, FakeDevice, FakeGama};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

pub type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A relay following the stand-in ADB server, with a scrcpy server file to push.
pub struct Mirrored {
    pub adb: FakeAdb,
    pub relay: TestRelay,
    pub gama: FakeGama,
    _jar: TempDir,
}

pub async fn start(
    devices: Vec<FakeDevice>,
    tweak: impl FnOnce(&mut gama_vr_relay::Config),
) -> Mirrored {
    start_with_reachable(devices, Vec::new(), tweak).await
}

/// [`start`], with headsets the ADB server can reach over Wi-Fi (`adb tcpip 5555` done, not yet
/// connected) from before the relay's first round of connections.
pub async fn start_with_reachable(
    devices: Vec<FakeDevice>,
    reachable: Vec<FakeDevice>,
    tweak: impl FnOnce(&mut gama_vr_relay::Config),
) -> Mirrored {
    let adb = FakeAdb::start().await.unwrap();
    for d in devices {
        adb.add_device(d);
    }
    for d in reachable {
        adb.add_reachable(d);
    }
    let jar = tempfile::tempdir().unwrap();
    let server = jar.path().join("scrcpy-server");
    std::fs::write(&server, b"stand-in scrcpy server file").unwrap();
    let gama = headless().await;
    let adb_server = adb.addr().to_string();
    let relay = TestRelay::builder(&gama)
        .config(|c| {
            c.mirror.enabled = true;
            c.mirror.adb_server = adb_server;
            c.mirror.adb_program = "/nonexistent/adb".into();
            c.mirror.scrcpy_server = server;
            c.mirror.step_timeout_ms = 1000;
            tweak(c);
        })
        .start()
        .await;
    Mirrored {
        adb,
        relay,
        gama,
        _jar: jar,
    }
}

/// What a viewer's socket carries.
#[derive(Debug, Clone)]
pub enum Got {
    Text(Value),
    Packet { config: bool, key: bool, pts: u64 },
}

/// A page watching one headset's screen.
pub struct Viewer {
    ws: Socket,
}

impl Viewer {
    pub async fn open(relay: &TestRelay, serial: &str) -> Viewer {
        Viewer::open_with(relay, serial, None).await
    }

    /// `receive_buffer`: a small one makes a stalled viewer's socket fill up quickly.
    pub async fn open_with(relay: &TestRelay, serial: &str, receive_buffer: Option<u32>) -> Viewer {
        let addr = relay.handle().admin_addr();
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = receive_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let stream = socket.connect(addr).await.unwrap();
        let url = format!("ws://{addr}/api/screens/{serial}/stream");
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
        Viewer { ws }
    }

    pub async fn next(&mut self) -> Got {
        loop {
            let msg = tokio::time::timeout(T, self.ws.next())
                .await
                .expect("a message from the screen's socket in time")
                .expect("the screen's socket open")
                .expect("a readable message");
            match msg {
                Message::Text(t) => return Got::Text(serde_json::from_str(&t).unwrap()),
                Message::Binary(b) => {
                    assert!(b.len() >= 10, "a packet has its 10-byte header");
                    assert!(b[0] <= 1, "kind is 0 (configuration) or 1 (frame)");
                    return Got::Packet {
                        config: b[0] == 0,
                        key: b[1] & 1 == 1,
                        pts: u64::from_be_bytes(b[2..10].try_into().unwrap()),
                    };
                }
                _ => {}
            }
        }
    }

    /// Reads until a text message of type `kind`, returning it.
    pub async fn text_of(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + 2 * T;
        loop {
            assert!(
                Instant::now() < deadline,
                "no {kind} message in {:?}",
                2 * T
            );
            if let Got::Text(v) = self.next().await
                && v["type"] == kind
            {
                return v;
            }
        }
    }

    /// Reads until the first picture: meta, then configuration, then a key frame; returns the meta.
    pub async fn first_picture(&mut self) -> Value {
        let meta = self.text_of("meta").await;
        let mut config = false;
        loop {
            match self.next().await {
                Got::Packet { config: true, .. } => config = true,
                Got::Packet { key: true, .. } => {
                    assert!(config, "the configuration comes before the first key frame");
                    return meta;
                }
                Got::Packet { .. } => panic!("a delta frame before the first key frame"),
                Got::Text(v) => panic!("unexpected {v} before the first picture"),
            }
        }
    }

    /// Counts the frames received during `span`, checking the stream stays decodable.
    pub async fn frames_during(&mut self, span: Duration) -> usize {
        let end = Instant::now() + span;
        let mut frames = 0;
        while let Ok(msg) = tokio::time::timeout_at(end.into(), self.next()).await {
            if let Got::Packet { config: false, .. } = msg {
                frames += 1;
            }
        }
        frames
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub async fn screens(relay: &TestRelay) -> Value {
    relay.get("/api/screens").await.1
}

pub async fn wait_screens(relay: &TestRelay, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    relay.get_until("/api/screens", what, pred).await
}

pub fn device<'a>(screens: &'a Value, serial: &str) -> Option<&'a Value> {
    screens["devices"]
        .as_array()?
        .iter()
        .find(|d| d["serial"] == serial)
}

/// The relay keeps relaying: a player in game gets GAMA's outputs, and the API answers at once.
pub async fn relaying_is_unaffected(
    m: &Mirrored,
    h: &relay_testkit::Headset,
    id: &str,
    round: usize,
) {
    let started = Instant::now();
    let (status, _) = m.relay.get("/api/state").await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the admin API answered in {:?}",
        started.elapsed()
    );
    expect_delivery(&m.gama, h, id, &format!("{{\"round\":{round}}}")).await;
}

/// A picture whose frames are `size` bytes (H.264 filler data after the real slices: decoders
/// skip it), so that a stalled viewer's socket and queue fill within a second.
pub fn heavy_picture(size: usize) -> Sample {
    let mut picture = Sample::dummy();
    picture.fps = 30;
    for unit in &mut picture.units {
        let mut data = unit.data.clone();
        data.extend_from_slice(&[0, 0, 0, 1, 0x0c]);
        data.resize(size, 0xff);
        *unit = AccessUnit {
            data,
            key: unit.key,
        };
    }
    picture
}
