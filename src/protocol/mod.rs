//! Wire formats: what gama-server sends ([`gama`], and the SIMPLE linker's output inside it,
//! [`linker`]), what the relay sends it ([`command`]), and what Unity headsets send and accept
//! ([`headset`]); how the relay re-serialises JSON as JavaScript did ([`json`]); and the few GAML
//! expressions it writes itself ([`gaml`]).

pub mod command;
pub mod gama;
pub(crate) mod gaml;
pub mod headset;
pub(crate) mod json;
pub mod linker;

/// A serialised text frame, shareable between recipients without copying.
pub type Frame = tokio_tungstenite::tungstenite::Utf8Bytes;

/// Makes a [`Frame`] from bytes produced by a JSON serializer (always valid UTF-8).
pub(crate) fn frame_from_vec(bytes: Vec<u8>) -> Frame {
    match String::from_utf8(bytes) {
        Ok(s) => Frame::from(s),
        Err(e) => Frame::from(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}
