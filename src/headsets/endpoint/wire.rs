//! A headset socket's bytes: tungstenite reads and answers (handshake, pongs), the relay writes
//! its frames itself, straight from the shared payload.
//!
//! Through tungstenite's sink, every frame was copied into a write buffer per connection, which
//! then stayed as big as the biggest frame (six headsets given a 2 MB world kept 12 MB). Here a
//! text frame is a header of at most 10 bytes, written with the payload in one vectored write
//! from the [`Frame`] every headset shares: no copy, no buffer left behind. The socket is split
//! once: the reading half stays under tungstenite for the whole connection; the writing half
//! serves the handshake (and a refusal) through tungstenite, then is handed to the writer task,
//! and from then on what tungstenite writes by itself (a pong, the answer to a ping) goes to the
//! connection's [`Conn`], which the writer sends between frames.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::headsets::conn::Conn;
use crate::protocol::Frame;

/// Opcode of a text frame.
const TEXT: u8 = 0x1;
/// Opcode of a close frame.
const CLOSE: u8 = 0x8;

/// The header of an unmasked, final server frame (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    bytes: [u8; 10],
    len: u8,
}

impl Header {
    /// The header of a frame of `opcode` carrying `len` bytes.
    pub(crate) fn new(opcode: u8, len: usize) -> Header {
        let mut bytes = [0u8; 10];
        bytes[0] = 0x80 | opcode;
        let n = if len < 126 {
            bytes[1] = len as u8;
            2
        } else if let Ok(short) = u16::try_from(len) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            10
        };
        Header { bytes, len: n }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The stream tungstenite sees: the reading half, and the writing half until the writer task
/// takes it.
#[derive(Debug)]
pub(crate) struct Duplex {
    read: OwnedReadHalf,
    write: Write,
}

#[derive(Debug)]
enum Write {
    /// During the handshake or a refusal: the socket.
    Socket(OwnedWriteHalf),
    /// Once the writer task has the socket: handed to it through the connection.
    Handed(Arc<Conn>),
}

impl Duplex {
    pub(crate) fn new(stream: TcpStream) -> Duplex {
        let (read, write) = stream.into_split();
        Duplex {
            read,
            write: Write::Socket(write),
        }
    }

    /// Takes the writing half for the writer task; what tungstenite writes from now on goes to
    /// `conn`. `None` if it was taken already.
    pub(crate) fn hand_over(&mut self, conn: Arc<Conn>) -> Option<OwnedWriteHalf> {
        match std::mem::replace(&mut self.write, Write::Handed(conn)) {
            Write::Socket(socket) => Some(socket),
            Write::Handed(_) => None,
        }
    }
}

impl AsyncRead for Duplex {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Duplex {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.write {
            Write::Socket(socket) => Pin::new(socket).poll_write(cx, buf),
            Write::Handed(conn) => {
                conn.send_raw(buf);
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.write {
            Write::Socket(socket) => Pin::new(socket).poll_flush(cx),
            Write::Handed(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.write {
            Write::Socket(socket) => Pin::new(socket).poll_shutdown(cx),
            // The writer task ends the connection.
            Write::Handed(_) => Poll::Ready(Ok(())),
        }
    }
}

/// Most slices handed to the kernel in one write (Linux takes 1024).
const MAX_SLICES: usize = 512;

/// The writing half, in the writer task's hands.
#[derive(Debug)]
pub(crate) struct FrameWriter {
    socket: OwnedWriteHalf,
}

impl FrameWriter {
    pub(crate) fn new(socket: OwnedWriteHalf) -> FrameWriter {
        FrameWriter { socket }
    }

    /// Writes `raw` (tungstenite's own frames, whole) and then `frames` as text frames.
    pub(crate) async fn write(&mut self, raw: &[u8], frames: &[Frame]) -> io::Result<()> {
        let headers: Vec<Header> = frames.iter().map(|f| Header::new(TEXT, f.len())).collect();
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(1 + 2 * frames.len());
        if !raw.is_empty() {
            slices.push(IoSlice::new(raw));
        }
        for (header, frame) in headers.iter().zip(frames) {
            slices.push(IoSlice::new(header.as_bytes()));
            if !frame.is_empty() {
                slices.push(IoSlice::new(frame.as_bytes()));
            }
        }
        self.write_all(&mut slices).await
    }

    /// Writes a close frame with `code` and `reason` (at most 123 bytes).
    pub(crate) async fn close(&mut self, code: u16, reason: &str) -> io::Result<()> {
        let mut payload = Vec::with_capacity(2 + reason.len());
        payload.extend_from_slice(&code.to_be_bytes());
        payload.extend_from_slice(reason.as_bytes());
        let header = Header::new(CLOSE, payload.len());
        let mut slices = [IoSlice::new(header.as_bytes()), IoSlice::new(&payload)];
        self.write_all(&mut slices).await
    }

    /// Ends the writing direction (TCP FIN).
    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        self.socket.shutdown().await
    }

    async fn write_all(&mut self, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
        while !slices.is_empty() {
            let take = slices.len().min(MAX_SLICES);
            let n = self.socket.write_vectored(&slices[..take]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut slices, n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame as WsFrame};

    /// The bytes tungstenite writes for a frame, to compare with ours.
    fn tungstenite_bytes(frame: WsFrame) -> Vec<u8> {
        let mut out = Vec::new();
        frame.format(&mut out).unwrap();
        out
    }

    #[test]
    fn text_frames_are_written_as_tungstenite_writes_them() {
        for len in [0, 1, 125, 126, 127, 65_535, 65_536, 2_000_000] {
            let payload = "x".repeat(len);
            let ours = [Header::new(TEXT, len).as_bytes(), payload.as_bytes()].concat();
            let theirs = tungstenite_bytes(WsFrame::message(
                payload.clone(),
                OpCode::Data(Data::Text),
                true,
            ));
            assert_eq!(ours, theirs, "{len} bytes");
        }
    }

    #[test]
    fn close_frames_are_written_as_tungstenite_writes_them() {
        let reason = "too slow: 9000 bytes waiting (headsets.max_queue_bytes = 8000)";
        let mut payload = 1008u16.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        let ours = [Header::new(CLOSE, payload.len()).as_bytes(), &payload].concat();
        let theirs = tungstenite_bytes(WsFrame::close(Some(CloseFrame {
            code: 1008.into(),
            reason: reason.into(),
        })));
        assert_eq!(ours, theirs);
    }
}
