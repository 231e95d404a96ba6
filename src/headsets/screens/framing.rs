//! scrcpy's video stream, read: the device's name, the codec, then packets, in the framing of the
//! server's version. A pure reader fed bytes as they come, so it is tested (and fuzzed) without
//! sockets, and a malformed stream is an error for that device alone.
//!
//! Both framings start with the 64-byte device name and the codec id (after the dummy byte, read
//! by the caller). Then (all big-endian):
//! * **3.x**: the initial width and height, then packets `[u64 pts_flags][u32 size][data]` where bit
//!   63 marks a configuration packet and bit 62 a key frame;
//! * **4.x**: 12-byte headers: a *session* packet (first byte's top bit set: flags, width, height,
//!   no payload) starts each capture session, before its configuration; otherwise a media packet
//!   `[u64 pts_flags][u32 size][data]` where bit 62 marks a configuration and bit 61 a key frame.
//!
//! The bits moved between the two: read with the wrong rules, a 4.x session header looks like a
//! 3.x configuration. The version decides ([`Framing::of_version`]), never a guess.

use bytes::{Buf, Bytes, BytesMut};

/// Codec id of H.264 (`"h264"`).
pub(crate) const CODEC_H264: u32 = 0x6832_3634;

/// Largest packet accepted (a 4K key frame is well under it).
const MAX_PACKET: usize = 16 * 1024 * 1024;

/// Which framing a stream uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// scrcpy 3.x.
    V3,
    /// scrcpy 4.x.
    V4,
}

impl Framing {
    /// The framing of a server version (`3.3.4`, `4.1`); `None` for one this relay does not read.
    pub(crate) fn of_version(version: &str) -> Option<Framing> {
        match version.trim().split('.').next()?.parse::<u32>().ok()? {
            3 => Some(Framing::V3),
            4 => Some(Framing::V4),
            _ => None,
        }
    }
}

/// What the stream said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    /// The device's name.
    Name(String),
    /// The codec (only H.264 is accepted).
    Codec,
    /// The size of the picture from now on (3.x: once; 4.x: each capture session).
    Size {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// A packet.
    Packet(Packet),
}

/// One packet of the video stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Packet {
    /// Codec configuration (SPS and PPS) rather than a frame.
    pub config: bool,
    /// A key frame.
    pub key: bool,
    /// Presentation time in microseconds (0 for a configuration).
    pub pts: u64,
    /// H.264 Annex B data.
    pub data: Bytes,
}

/// Why a stream cannot be read on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum FramingError {
    /// The server said the device could not encode (codec id 0 or 1).
    #[error("the device could not start its video encoder (codec id {0})")]
    Encoder(u32),
    /// Another codec than H.264.
    #[error("the device sends codec {0:#010x}, not H.264")]
    Codec(u32),
    /// A packet of impossible size.
    #[error("a packet of {0} bytes: the stream is malformed")]
    Size(u64),
    /// 4.x: the first header after the codec is not a capture session.
    #[error("the stream does not start a capture session where scrcpy 4 does")]
    NoSession,
    /// A size of zero in the stream's metadata.
    #[error("the stream announces an empty picture ({0}×{1})")]
    EmptyPicture(u32, u32),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Name,
    Codec,
    InitialSize,
    Header,
}

/// Reads a scrcpy video stream from the device name on.
#[derive(Debug)]
pub(crate) struct Demuxer {
    framing: Framing,
    stage: Stage,
    buffer: BytesMut,
    /// 4.x: whether a session packet was seen yet.
    in_session: bool,
}

impl Demuxer {
    /// A reader for `framing`, expecting the device name first.
    pub(crate) fn new(framing: Framing) -> Self {
        Demuxer {
            framing,
            stage: Stage::Name,
            buffer: BytesMut::with_capacity(64 * 1024),
            in_session: false,
        }
    }

    /// Where to read the next bytes into (append to it).
    pub(crate) fn buffer(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// The next event out of the bytes given so far; `Ok(None)` when more bytes are needed.
    pub(crate) fn next(&mut self) -> Result<Option<Event>, FramingError> {
        match self.stage {
            Stage::Name => {
                if self.buffer.len() < 64 {
                    return Ok(None);
                }
                let raw = self.buffer.split_to(64);
                let end = raw.iter().position(|&b| b == 0).unwrap_or(64);
                self.stage = Stage::Codec;
                Ok(Some(Event::Name(
                    String::from_utf8_lossy(&raw[..end]).into_owned(),
                )))
            }
            Stage::Codec => {
                if self.buffer.len() < 4 {
                    return Ok(None);
                }
                let codec = self.buffer.get_u32();
                match codec {
                    0 | 1 => return Err(FramingError::Encoder(codec)),
                    CODEC_H264 => {}
                    other => return Err(FramingError::Codec(other)),
                }
                self.stage = match self.framing {
                    Framing::V3 => Stage::InitialSize,
                    Framing::V4 => Stage::Header,
                };
                Ok(Some(Event::Codec))
            }
            Stage::InitialSize => {
                if self.buffer.len() < 8 {
                    return Ok(None);
                }
                let (width, height) = (self.buffer.get_u32(), self.buffer.get_u32());
                self.stage = Stage::Header;
                size(width, height).map(Some)
            }
            Stage::Header => self.packet(),
        }
    }

    fn packet(&mut self) -> Result<Option<Event>, FramingError> {
        if self.buffer.len() < 12 {
            return Ok(None);
        }
        let head = u64::from_be_bytes(self.buffer[..8].try_into().unwrap_or_default());
        if self.framing == Framing::V4 && head & (1 << 63) != 0 {
            self.buffer.advance(4);
            let (width, height) = (self.buffer.get_u32(), self.buffer.get_u32());
            self.in_session = true;
            return size(width, height).map(Some);
        }
        if self.framing == Framing::V4 && !self.in_session {
            return Err(FramingError::NoSession);
        }
        let len = u32::from_be_bytes(self.buffer[8..12].try_into().unwrap_or_default());
        if len == 0 || len as usize > MAX_PACKET {
            return Err(FramingError::Size(u64::from(len)));
        }
        if self.buffer.len() < 12 + len as usize {
            self.buffer.reserve(12 + len as usize - self.buffer.len());
            return Ok(None);
        }
        self.buffer.advance(12);
        let data = self.buffer.split_to(len as usize).freeze();
        let (config_bit, key_bit, pts_mask) = match self.framing {
            Framing::V3 => (1u64 << 63, 1u64 << 62, (1u64 << 62) - 1),
            Framing::V4 => (1u64 << 62, 1u64 << 61, (1u64 << 61) - 1),
        };
        let config = head & config_bit != 0;
        Ok(Some(Event::Packet(Packet {
            config,
            key: head & key_bit != 0,
            pts: if config { 0 } else { head & pts_mask },
            data,
        })))
    }
}

fn size(width: u32, height: u32) -> Result<Event, FramingError> {
    if width == 0 || height == 0 {
        return Err(FramingError::EmptyPicture(width, height));
    }
    Ok(Event::Size { width, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name() -> Vec<u8> {
        let mut n = b"Quest 3".to_vec();
        n.resize(64, 0);
        n
    }

    fn packet(head: u64, data: &[u8]) -> Vec<u8> {
        let mut p = head.to_be_bytes().to_vec();
        p.extend_from_slice(&(data.len() as u32).to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    /// Feeds `bytes` one at a time and collects every event.
    fn read_all(framing: Framing, bytes: &[u8]) -> Result<Vec<Event>, FramingError> {
        let mut d = Demuxer::new(framing);
        let mut events = Vec::new();
        for b in bytes {
            d.buffer().extend_from_slice(&[*b]);
            while let Some(e) = d.next()? {
                events.push(e);
            }
        }
        Ok(events)
    }

    #[test]
    fn version_3_stream() {
        let mut s = name();
        s.extend_from_slice(&CODEC_H264.to_be_bytes());
        s.extend_from_slice(&1280u32.to_be_bytes());
        s.extend_from_slice(&720u32.to_be_bytes());
        s.extend(packet(1 << 63, b"\0\0\0\x01\x67sps"));
        s.extend(packet((1 << 62) | 33_333, b"\0\0\0\x01\x65idr"));
        s.extend(packet(66_666, b"\0\0\0\x01\x41p"));
        let events = read_all(Framing::V3, &s).unwrap();
        assert_eq!(events[0], Event::Name("Quest 3".into()));
        assert_eq!(events[1], Event::Codec);
        assert_eq!(
            events[2],
            Event::Size {
                width: 1280,
                height: 720
            }
        );
        let Event::Packet(config) = &events[3] else {
            panic!()
        };
        assert!(config.config && !config.key && config.pts == 0);
        let Event::Packet(key) = &events[4] else {
            panic!()
        };
        assert!(!key.config && key.key && key.pts == 33_333);
        let Event::Packet(delta) = &events[5] else {
            panic!()
        };
        assert!(!delta.key && delta.pts == 66_666 && &delta.data[..] == b"\0\0\0\x01\x41p");
    }

    #[test]
    fn version_4_stream() {
        let mut s = name();
        s.extend_from_slice(&CODEC_H264.to_be_bytes());
        s.extend_from_slice(&0x8000_0000u32.to_be_bytes());
        s.extend_from_slice(&1024u32.to_be_bytes());
        s.extend_from_slice(&968u32.to_be_bytes());
        s.extend(packet(1 << 62, b"cfg"));
        s.extend(packet((1 << 61) | 5, b"key"));
        let events = read_all(Framing::V4, &s).unwrap();
        assert_eq!(
            events[2],
            Event::Size {
                width: 1024,
                height: 968
            }
        );
        let Event::Packet(config) = &events[3] else {
            panic!()
        };
        assert!(config.config);
        let Event::Packet(key) = &events[4] else {
            panic!()
        };
        assert!(key.key && !key.config && key.pts == 5);
        // A 4.x stream read with 3.x rules: a session header read as a configuration (whose
        // "size" is the width). Only the version may decide.
        let wrong = read_all(Framing::V3, &s[..80]).unwrap();
        assert!(!wrong.contains(&Event::Size {
            width: 1024,
            height: 968
        }));
    }

    #[test]
    fn malformed_streams_are_errors() {
        let mut s = name();
        s.extend_from_slice(&CODEC_H264.to_be_bytes());
        let mut v4 = s.clone();
        v4.extend(packet(1 << 62, b"cfg"));
        assert_eq!(read_all(Framing::V4, &v4), Err(FramingError::NoSession));
        let mut v3 = s.clone();
        v3.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        v3.extend_from_slice(&[0; 8]);
        v3.extend_from_slice(&0u32.to_be_bytes());
        assert_eq!(read_all(Framing::V3, &v3), Err(FramingError::Size(0)));
        let mut huge = s.clone();
        huge.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
        huge.extend_from_slice(&[0; 8]);
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            read_all(Framing::V3, &huge),
            Err(FramingError::Size(u64::from(u32::MAX)))
        );
        let mut h265 = name();
        h265.extend_from_slice(&0x6832_3635u32.to_be_bytes());
        assert!(matches!(
            read_all(Framing::V3, &h265),
            Err(FramingError::Codec(_))
        ));
        assert_eq!(Framing::of_version("3.3.4"), Some(Framing::V3));
        assert_eq!(Framing::of_version("4.1"), Some(Framing::V4));
        assert_eq!(Framing::of_version("2.7"), None);
    }
}
