//! docker's json-file log driver: one JSON object a line,
//! `{"log":"text\n","stream":"stdout","time":"RFC3339Nano"}`, rotated to
//! `<file>.1`, `<file>.2`… when `max-size` is passed, keeping `max-file`
//! files. Lines longer than 16 KiB are split, as docker does.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::LogOptions;

/// One log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The text, with its newline.
    pub log: String,
    /// stdout or stderr.
    pub stream: String,
    /// RFC 3339 with nanoseconds.
    pub time: String,
}

const MAX_LINE: usize = 16 * 1024;

/// Appends entries to a json-file log.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: File,
    size: u64,
    opts: LogOptions,
    /// Partial lines per stream (stdout, stderr).
    pending: [Vec<u8>; 2],
}

impl Writer {
    /// Opens (appending) the log at `path`.
    pub fn open(path: &Path, opts: LogOptions) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io("opening log", path, e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            path: path.to_path_buf(),
            file,
            size,
            opts,
            pending: [Vec::new(), Vec::new()],
        })
    }

    /// Adds output of `stream` (1 stdout, 2 stderr); complete lines are
    /// written, a partial line waits for its end (or [`Writer::flush`]).
    pub fn write(&mut self, stream: u8, data: &[u8]) {
        let i = usize::from(stream == 2);
        self.pending[i].extend_from_slice(data);
        loop {
            let buf = &self.pending[i];
            let cut = match buf.iter().position(|b| *b == b'\n') {
                Some(n) if n < MAX_LINE => n + 1,
                _ if buf.len() >= MAX_LINE => MAX_LINE,
                _ => break,
            };
            let line: Vec<u8> = self.pending[i].drain(..cut).collect();
            self.emit(i, &line);
        }
    }

    /// Writes partial lines out.
    pub fn flush(&mut self) {
        for i in 0..2 {
            if !self.pending[i].is_empty() {
                let line = std::mem::take(&mut self.pending[i]);
                self.emit(i, &line);
            }
        }
    }

    fn emit(&mut self, i: usize, line: &[u8]) {
        let e = Entry {
            log: String::from_utf8_lossy(line).into_owned(),
            stream: if i == 0 { "stdout" } else { "stderr" }.into(),
            time: crate::time::now(),
        };
        let mut b = serde_json::to_vec(&e).expect("entries serialize");
        b.push(b'\n');
        if let Some(max) = self.opts.max_size
            && self.size > 0
            && self.size + b.len() as u64 > max
        {
            self.rotate();
        }
        if let Err(e) = self.file.write_all(&b) {
            tracing::warn!("writing log {}: {e}", self.path.display());
            return;
        }
        self.size += b.len() as u64;
    }

    fn rotate(&mut self) {
        let n = self.opts.max_file;
        if n <= 1 {
            let _ = self.file.set_len(0);
            self.size = 0;
            return;
        }
        for k in (1..n).rev() {
            let from = if k == 1 {
                self.path.clone()
            } else {
                rotated(&self.path, k - 1)
            };
            let _ = std::fs::rename(&from, rotated(&self.path, k));
        }
        match Writer::open(&self.path, self.opts) {
            Ok(w) => {
                self.file = w.file;
                self.size = 0;
            }
            Err(e) => tracing::warn!("reopening log after rotation: {e}"),
        }
    }
}

fn rotated(path: &Path, k: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{k}"));
    PathBuf::from(s)
}

/// Every log file of `path`, oldest first.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = (1..100)
        .map(|k| rotated(path, k))
        .take_while(|p| p.exists())
        .collect();
    out.reverse();
    out.push(path.to_path_buf());
    out
}

/// Reads every entry at or after `since` (oldest first).
pub fn read_all(path: &Path, since: Option<SystemTime>) -> Vec<Entry> {
    let mut out = Vec::new();
    for f in files(path) {
        let Ok(file) = File::open(&f) else { continue };
        for line in BufReader::new(file).lines().map_while(|l| l.ok()) {
            if let Ok(e) = serde_json::from_str::<Entry>(&line)
                && keep(&e, since)
            {
                out.push(e);
            }
        }
    }
    out
}

fn keep(e: &Entry, since: Option<SystemTime>) -> bool {
    match since {
        None => true,
        Some(s) => crate::time::parse(&e.time).is_some_and(|t| t >= s),
    }
}

/// Follows the current log file from byte `offset`, returning new
/// complete entries and the new offset. A file that shrank (rotated)
/// restarts at 0.
pub fn read_from(path: &Path, offset: u64) -> (Vec<Entry>, u64) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return (vec![], offset);
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let start = if len < offset { 0 } else { offset };
    if f.seek(SeekFrom::Start(start)).is_err() {
        return (vec![], start);
    }
    let mut buf = Vec::new();
    if f.read_to_end(&mut buf).is_err() {
        return (vec![], start);
    }
    let end = buf
        .iter()
        .rposition(|b| *b == b'\n')
        .map(|n| n + 1)
        .unwrap_or(0);
    let entries = buf[..end]
        .split(|b| *b == b'\n')
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();
    (entries, start + end as u64)
}

/// The size of the current log file (where following starts).
pub fn current_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_streams_rotation() {
        let t = rbox_test_support::TempRoot::new("rbox-log").unwrap();
        let p = t.path().join("c-json.log");
        let mut w = Writer::open(
            &p,
            LogOptions {
                max_size: Some(200),
                max_file: 3,
            },
        )
        .unwrap();
        w.write(1, b"hel");
        w.write(1, b"lo\nwor");
        w.write(2, b"oops\n");
        w.flush();
        let e = read_all(&p, None);
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[0].log.as_str(), e[0].stream.as_str()),
            ("hello\n", "stdout")
        );
        assert_eq!(e[1].stream, "stderr");
        assert_eq!(e[2].log, "wor");
        for i in 0..20 {
            w.write(1, format!("line {i}\n").as_bytes());
        }
        let fs = files(&p);
        assert_eq!(fs.len(), 3, "{fs:?}");
        let all = read_all(&p, None);
        assert_eq!(all.last().unwrap().log, "line 19\n");
        assert!(all.len() < 23, "old entries were rotated away");
        let (tail, off) = read_from(&p, 0);
        assert!(!tail.is_empty() && off == current_len(&p));
    }
}
