//! A log file that rotates by size: `relay.log` is written until it reaches its limit, then renamed
//! `relay.log.1` (the previous `.1` becomes `.2`, and so on), keeping a fixed number of old files.
//! A classroom machine runs for months; its disk must not fill up with logs.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A size-rotated log file, for `tracing_appender::non_blocking` (which moves the writes off the
/// async runtime).
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    written: u64,
}

impl RotatingFile {
    /// Opens (appending) `path`, rotating when it passes `max_bytes` and keeping `keep` old files.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            file,
            written,
        })
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            self.file = File::create(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.numbered(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.numbered(n);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
        }
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Rotate between log lines (each write is one event), never inside one.
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_a_fixed_number_of_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/relay.log");
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..10 {
            // One write per line, as the log writer does: 41 bytes, two lines a file.
            f.write_all(format!("{i:040}\n").as_bytes()).unwrap();
        }
        f.flush().unwrap();
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let current = read(path.clone());
        assert_eq!(current.lines().count(), 2, "{current}");
        assert!(current.starts_with(&format!("{:040}", 8)));
        assert!(read(f.numbered(1)).starts_with(&format!("{:040}", 6)));
        assert!(read(f.numbered(2)).starts_with(&format!("{:040}", 4)));
        assert!(!f.numbered(3).exists(), "only two old files are kept");
        // Reopening appends and remembers the size.
        drop(f);
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        f.write_all(b"x\n").unwrap();
        assert!(read(path).ends_with("x\n"));
    }
}
