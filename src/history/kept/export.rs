//! Kept sessions for scripts (`gama-vr-relay sessions list|export`): a researcher analyses them
//! in Python or R from CSV, JSON or JSON lines, without the admin page.

use std::io::Write;
use std::path::Path;

use super::read::{self, ReadError};

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Export {
    /// The per-player summary as CSV.
    Csv,
    /// The timeline and summary as one JSON document.
    Json,
    /// Every event, one JSON object per line (snapshots left out).
    Events,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The session cannot be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The output cannot be written.
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}

/// The kept sessions in `folder`, one line each, newest first: id, start, length, players, model.
pub fn list_sessions(folder: &Path, out: &mut dyn Write) -> std::io::Result<()> {
    let sessions = read::list(folder);
    if sessions.is_empty() {
        writeln!(out, "no kept session in {}", folder.display())?;
        return Ok(());
    }
    writeln!(out, "id\tstarted\tminutes\tplayers\tmodel")?;
    for s in sessions {
        let state = if s.in_progress { " (in progress)" } else { "" };
        writeln!(
            out,
            "{}\t{}\t{:.1}{state}\t{}\t{}",
            s.id,
            s.started,
            s.duration_ms as f64 / 60_000.0,
            s.players.join(","),
            s.model.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}

/// Exports session `id` of `folder` to `out`.
pub fn export_session(
    folder: &Path,
    id: &str,
    format: Export,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let session = read::open(folder, id)?;
    match format {
        Export::Csv => out.write_all(read::summary_csv(&session.timeline()?).as_bytes())?,
        Export::Json => {
            serde_json::to_writer_pretty(&mut *out, &session.timeline()?)
                .map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
        }
        Export::Events => {
            let mut failed = None;
            session.events(|line| {
                if failed.is_none() {
                    if let Err(e) = writeln!(out, "{line}") {
                        failed = Some(e);
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
    }
    Ok(())
}
