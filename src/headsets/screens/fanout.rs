//! One headset's picture, to every page that watches it, each at its own pace.
//!
//! Each packet is encoded once ([`encode`]) and shared by every viewer. Each viewer has its own
//! bounded queue: a viewer that falls behind (a tablet on a weak Wi-Fi) loses frames for itself
//! alone, then resumes at the next key frame, its codec configuration sent again first. A viewer
//! that joins late gets the stream's description and its last configuration at once, then starts
//! at the next key frame (they come every `mirror.key_frame_interval_s`). The device's reader
//! never waits for any viewer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::Notify;

use super::framing::Packet;
use super::h264::StreamInfo;
use crate::control::said::Code;

/// A message for a viewer's socket.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Out {
    /// JSON text (`waiting`, `meta`, `ended`).
    Text(String),
    /// A packet: `[kind][flags][u64 pts][Annex B]`.
    Binary(Bytes),
}

impl Out {
    fn len(&self) -> usize {
        match self {
            Out::Text(t) => t.len(),
            Out::Binary(b) => b.len(),
        }
    }
}

/// `{"type":"meta",…}`: what a decoder needs to start.
#[derive(Debug, Clone, Serialize)]
struct Meta<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    serial: &'a str,
    name: &'a str,
    codec: &'a str,
    width: u32,
    height: u32,
}

/// The browser's binary frame of a packet: kind (0 configuration, 1 frame), flags (bit 0: key),
/// the presentation time in microseconds (big-endian), then the H.264 data.
pub(crate) fn encode(packet: &Packet) -> Bytes {
    let mut out = BytesMut::with_capacity(10 + packet.data.len());
    out.put_u8(u8::from(!packet.config));
    out.put_u8(u8::from(packet.key));
    out.put_u64(packet.pts);
    out.put_slice(&packet.data);
    out.freeze()
}

/// `{"type":"waiting"|"ended","code":…,"reason":…}`: what a viewer's page says instead of a picture.
/// `code` is the page's key ([`MirrorError::code`] and the device's own: `starting`, `idle`,
/// `left`, `failed`); `reason` the relay's English words, shown for `failed`.
///
/// [`MirrorError::code`]: super::MirrorError::code
pub(crate) fn status_text(kind: &'static str, code: Code, reason: &str) -> String {
    serde_json::json!({"type": kind, "code": code, "reason": reason}).to_string()
}

/// One viewer's queue.
#[derive(Debug)]
pub(crate) struct Viewer {
    state: Mutex<ViewerState>,
    ready: Notify,
    max_bytes: usize,
    /// Frames this viewer lost for being behind.
    pub dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct ViewerState {
    queue: VecDeque<Out>,
    bytes: usize,
    /// Frames are skipped until the next key frame (just joined, or fell behind).
    needs_key: bool,
    closed: bool,
}

impl Viewer {
    /// The next message, waiting for one; `None` once the viewer was let go.
    pub(crate) async fn next(&self) -> Option<Out> {
        loop {
            let notified = self.ready.notified();
            {
                let mut s = self.state.lock();
                if let Some(m) = s.queue.pop_front() {
                    s.bytes -= m.len();
                    return Some(m);
                }
                if s.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    fn push(&self, out: Out) {
        let mut s = self.state.lock();
        s.bytes += out.len();
        s.queue.push_back(out);
        drop(s);
        self.ready.notify_one();
    }

    /// A frame for this viewer, unless it waits for a key frame or has no room: then it waits for
    /// the next key frame, which comes after the configuration again.
    fn frame(&self, packet: &Packet, encoded: &Bytes, config: Option<&Bytes>) {
        let mut s = self.state.lock();
        if s.needs_key && !packet.key {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let extra = if s.needs_key {
            config.map_or(0, Bytes::len)
        } else {
            0
        };
        if s.bytes + encoded.len() + extra > self.max_bytes {
            // Behind: what waits is stale anyway. Drop it all, start again at a key frame.
            let lost = s
                .queue
                .iter()
                .filter(|m| matches!(m, Out::Binary(_)))
                .count();
            self.dropped.fetch_add(lost as u64 + 1, Ordering::Relaxed);
            s.queue.retain(|m| matches!(m, Out::Text(_)));
            s.bytes = s.queue.iter().map(Out::len).sum();
            s.needs_key = true;
            if !packet.key {
                return;
            }
        }
        if s.needs_key {
            if let Some(config) = config {
                s.bytes += config.len();
                s.queue.push_back(Out::Binary(config.clone()));
            }
            s.needs_key = false;
        }
        s.bytes += encoded.len();
        s.queue.push_back(Out::Binary(encoded.clone()));
        drop(s);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.state.lock().closed = true;
        self.ready.notify_one();
    }
}

/// The latest description of a device's stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Picture {
    /// The device's name (from the stream).
    pub name: String,
    /// Codec and size, from the last configuration.
    pub info: Option<StreamInfo>,
}

/// A device's picture and who watches it.
#[derive(Debug)]
pub(crate) struct Fanout {
    serial: String,
    max_viewer_bytes: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    viewers: Vec<Arc<Viewer>>,
    picture: Picture,
    /// The last configuration, encoded.
    config: Option<Bytes>,
    /// The `meta` message of the current picture.
    meta: Option<String>,
    /// Why there is no picture now (`waiting` or `ended` message), if there is none.
    status: Option<String>,
}

impl Fanout {
    /// Nobody watches `serial` yet.
    pub(crate) fn new(serial: &str, max_viewer_bytes: usize) -> Self {
        Fanout {
            serial: serial.to_string(),
            max_viewer_bytes,
            inner: Mutex::default(),
        }
    }

    /// A new viewer: it gets what there is to know now (the description and the configuration,
    /// or why there is no picture), then starts at the next key frame.
    pub(crate) fn watch(&self) -> Arc<Viewer> {
        let viewer = Arc::new(Viewer {
            state: Mutex::new(ViewerState {
                needs_key: true,
                ..ViewerState::default()
            }),
            ready: Notify::new(),
            max_bytes: self.max_viewer_bytes,
            dropped: AtomicU64::new(0),
        });
        let mut inner = self.inner.lock();
        match (&inner.meta, &inner.status) {
            (Some(meta), None) => viewer.push(Out::Text(meta.clone())),
            (_, Some(status)) => viewer.push(Out::Text(status.clone())),
            (None, None) => {}
        }
        inner.viewers.push(viewer.clone());
        viewer
    }

    /// Forgets viewers whose socket went away (their `Arc` is the only one left here).
    pub(crate) fn viewers(&self) -> usize {
        let mut inner = self.inner.lock();
        inner.viewers.retain(|v| Arc::strong_count(v) > 1);
        inner.viewers.len()
    }

    /// The picture's latest description.
    pub(crate) fn picture(&self) -> Picture {
        self.inner.lock().picture.clone()
    }

    /// The stream is (re)starting, or stopped: every viewer is told, and waits for a picture.
    pub(crate) fn status(&self, kind: &'static str, code: Code, reason: &str) {
        let text = status_text(kind, code, reason);
        let mut inner = self.inner.lock();
        inner.status = Some(text.clone());
        inner.meta = None;
        inner.config = None;
        for v in &inner.viewers {
            v.push(Out::Text(text.clone()));
            v.state.lock().needs_key = true;
        }
    }

    /// The device's name, from the stream.
    pub(crate) fn name(&self, name: String) {
        self.inner.lock().picture.name = name;
    }

    /// A packet from the device.
    pub(crate) fn packet(&self, packet: &Packet) {
        let encoded = encode(packet);
        let mut inner = self.inner.lock();
        if packet.config {
            let info =
                super::h264::stream_info(&packet.data).or_else(|| inner.picture.info.clone());
            let changed = info != inner.picture.info;
            // Viewers hear the description when it changed, and after a restart (they were told
            // the stream stopped or starts).
            if let Some(info) = info
                && (changed || inner.meta.is_none())
            {
                let meta = serde_json::to_string(&Meta {
                    kind: "meta",
                    serial: &self.serial,
                    name: &inner.picture.name,
                    codec: &info.codec,
                    width: info.width,
                    height: info.height,
                })
                .unwrap_or_default();
                inner.picture.info = Some(info);
                for v in &inner.viewers {
                    v.push(Out::Text(meta.clone()));
                }
                inner.meta = Some(meta);
            }
            inner.status = None;
            inner.config = Some(encoded.clone());
            // A new configuration goes to everyone at once; what follows is its key frame.
            for v in &inner.viewers {
                let needs_key = v.state.lock().needs_key;
                if !needs_key {
                    v.push(Out::Binary(encoded.clone()));
                }
            }
            return;
        }
        let config = inner.config.clone();
        for v in &inner.viewers {
            v.frame(packet, &encoded, config.as_ref());
        }
    }
}

impl Drop for Fanout {
    fn drop(&mut self) {
        for v in &self.inner.lock().viewers {
            v.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(config: bool, key: bool, pts: u64, len: usize) -> Packet {
        Packet {
            config,
            key,
            pts,
            data: Bytes::from(vec![7u8; len]),
        }
    }

    fn kinds(v: &Viewer) -> Vec<String> {
        let s = v.state.lock();
        s.queue
            .iter()
            .map(|m| match m {
                Out::Text(t) => t.split('"').nth(3).unwrap_or("?").to_string(),
                Out::Binary(b) => match (b[0], b[1]) {
                    (0, _) => "config".into(),
                    (_, 1) => "key".into(),
                    _ => "delta".into(),
                },
            })
            .collect()
    }

    #[test]
    fn a_late_viewer_starts_with_the_configuration_then_a_key_frame() {
        let f = Fanout::new("q1", 1 << 20);
        f.packet(&packet(true, false, 0, 10));
        f.packet(&packet(false, true, 1, 100));
        let late = f.watch();
        f.packet(&packet(false, false, 2, 100));
        assert_eq!(
            kinds(&late),
            Vec::<String>::new(),
            "no delta before a key frame"
        );
        f.packet(&packet(false, true, 3, 100));
        f.packet(&packet(false, false, 4, 100));
        assert_eq!(kinds(&late), ["config", "key", "delta"]);
        assert_eq!(late.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_slow_viewer_loses_frames_for_itself_only_and_resumes_at_a_key_frame() {
        let f = Fanout::new("q1", 1000);
        f.packet(&packet(true, false, 0, 10));
        let slow = f.watch();
        let fast = f.watch();
        f.packet(&packet(false, true, 1, 300));
        for pts in 2..6 {
            f.packet(&packet(false, false, pts, 300));
            while let Some(Out::Binary(_)) = {
                let mut s = fast.state.lock();
                let m = s.queue.pop_front();
                if let Some(m) = &m {
                    s.bytes -= m.len();
                }
                m
            } {}
        }
        // The slow one overflowed: it dropped its queue and waits for a key frame.
        assert!(slow.dropped.load(Ordering::Relaxed) > 0);
        assert!(kinds(&slow).is_empty());
        f.packet(&packet(false, true, 6, 300));
        assert_eq!(kinds(&slow), ["config", "key"]);
        assert_eq!(fast.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn packets_are_encoded_once_for_the_browser() {
        let e = encode(&packet(false, true, 0x0102, 2));
        assert_eq!(&e[..], &[1, 1, 0, 0, 0, 0, 0, 0, 1, 2, 7, 7]);
        assert_eq!(encode(&packet(true, false, 0, 1))[0], 0);
    }
}
