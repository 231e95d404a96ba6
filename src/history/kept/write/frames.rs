//! The data file's zstd frames: staged lines handed to the compressor a slice at a time (the
//! writer never holds a whole frame), each frame finished, indexed and followed by a snapshot of
//! the whole view so reading can start at any frame, and the summary rewritten after each one.

use std::collections::HashMap;
use std::io::Write;

use tracing::warn;

use super::lines::{quote, write_out, write_position};
use super::{LEVEL, STAGE_BYTES, WINDOW_LOG, Writer};
use crate::history::kept::read::Chunk;
use crate::protocol::Frame;
use crate::protocol::linker::{payload_of, replay_rank};

impl Writer {
    /// Hands the staged lines to the compressor once there are enough of them. Called after each
    /// event and after each held-back update a tick writes (with thousands of players, one tick
    /// may write thousands of them).
    pub(super) fn compress_staged(&mut self) -> std::io::Result<()> {
        if self.chunk.len() >= STAGE_BYTES {
            self.feed()?;
        }
        Ok(())
    }

    /// Hands every staged line to the compressor, a slice at a time, each slice's compressed
    /// bytes written to the file before the next: the writer never holds a frame, compressed or
    /// not, even when a big world was staged at once.
    fn feed(&mut self) -> std::io::Result<()> {
        for slice in self.chunk.chunks(STAGE_BYTES) {
            self.encoder.write_all(slice)?;
            self.encoded += slice.len();
            let compressed = self.encoder.get_mut();
            self.data.write_all(compressed)?;
            self.compressed += compressed.len() as u64;
            compressed.clear();
        }
        self.chunk.clear();
        // A big initial world made it grow: it does not stay that big.
        self.chunk.shrink_to(2 * STAGE_BYTES);
        Ok(())
    }

    /// [`Self::compress_staged`] where no error can be returned: the failure is logged, and the
    /// lines stay staged for the next try.
    pub(super) fn stage_or_warn(&mut self) {
        if let Err(e) = self.compress_staged() {
            warn!(session = %self.info.id, error = %e, "writing the kept session failed");
        }
    }

    /// Compresses the frame being filled, appends it to the data file, indexes it, and starts the
    /// next one with a snapshot.
    pub(super) fn finish_chunk(&mut self, t: u64) -> std::io::Result<()> {
        if self.encoded > 0 || !self.chunk.is_empty() {
            self.feed()?;
            let encoder = std::mem::replace(&mut self.encoder, frame_encoder()?);
            self.encoded = 0;
            let rest = encoder.finish()?;
            self.data.write_all(&rest)?;
            self.data.flush()?;
            let len = std::mem::take(&mut self.compressed) + rest.len() as u64;
            let offset = self.info.chunks.last().map_or(0, |c| c.offset + c.len);
            self.info.chunks.push(Chunk {
                t: self.chunk_started,
                offset,
                len,
            });
            self.info.bytes += len;
        }
        let _ = self.timeline.flush();
        self.info.duration_ms = t;
        self.save_info();
        self.chunk.clear();
        self.chunk_started = t;
        self.snapshot(t);
        Ok(())
    }

    /// The whole view at `t`, at the start of a frame.
    fn snapshot(&mut self, t: u64) {
        let mut out = std::mem::take(&mut self.chunk);
        if !self.experiment.is_empty() {
            out.extend_from_slice(
                format!(
                    "{{\"t\":{t},\"snap\":true,\"exp\":{}}}\n",
                    quote(&self.experiment)
                )
                .as_bytes(),
            );
        }
        for (id, state) in &self.states {
            out.extend_from_slice(
                format!(
                    "{{\"t\":{t},\"snap\":true,\"player\":{{\"id\":{},\"state\":{}}}}}\n",
                    quote(id),
                    quote(state)
                )
                .as_bytes(),
            );
        }
        for (player, (_, position)) in &self.positions {
            write_position(&mut out, t, player, position, true);
        }
        self.chunk = out;
        // Each payload once with every player it is the latest of (a world sent to every player
        // alike is one line, not one per player), parameters, properties and the initial world
        // before what builds on them.
        let mut lines: Vec<(String, Frame, Vec<String>)> = Vec::new();
        let mut index: HashMap<(&str, *const u8, usize), usize> = HashMap::new();
        for (player, kinds) in &self.cache {
            for (key, frame) in &kinds.0 {
                match index.entry((key.as_str(), frame.as_str().as_ptr(), frame.len())) {
                    std::collections::hash_map::Entry::Occupied(e) => {
                        lines[*e.get()].2.push(player.clone());
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(lines.len());
                        lines.push((key.clone(), frame.clone(), vec![player.clone()]));
                    }
                }
            }
        }
        drop(index);
        lines.sort_by(|(a, ..), (b, ..)| (replay_rank(a), a).cmp(&(replay_rank(b), b)));
        for (_, frame, players) in lines {
            if let Some(payload) = payload_of(frame.as_str()) {
                write_out(&mut self.chunk, t, &players, payload, true);
                self.stage_or_warn();
            }
        }
    }

    pub(super) fn save_info(&mut self) {
        self.info.bytes = self.info.chunks.iter().map(|c| c.len).sum::<u64>()
            + std::fs::metadata(self.folder.join(format!("{}.timeline.jsonl", self.info.id)))
                .map_or(0, |m| m.len());
        let path = self.folder.join(format!("{}.json", self.info.id));
        let tmp = self.folder.join(format!("{}.json.tmp", self.info.id));
        let saved = serde_json::to_vec_pretty(&self.info)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = saved {
            warn!(file = %path.display(), error = %e, "cannot write the session's summary");
        }
    }
}

/// A compressor for the next zstd frame.
pub(super) fn frame_encoder() -> std::io::Result<zstd::stream::write::Encoder<'static, Vec<u8>>> {
    let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), LEVEL)?;
    // A 512 KiB window, not level 3's 2 MiB: the compressor holds its window, and consecutive
    // kept worlds of a player (the repetition that matters) are well within it.
    encoder.window_log(WINDOW_LOG)?;
    Ok(encoder)
}
