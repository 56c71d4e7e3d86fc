//! Pull and push progress as docker draws it: one line per layer
//! (`<id>: Downloading [==>   ] 1.2MB/4.5MB`; the config gets none),
//! redrawn in place when stderr is a terminal, appended (once per state
//! change) when it is not; or one JSON object per event, config
//! included, on stdout for scripts.
//!
//! The registry client calls the sink from its transfer threads, so all
//! state sits behind one mutex and every line is written while holding
//! it: lines from two threads never interleave.

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rbox_registry::{BlobKind, ProgressEvent, ProgressSink, ProgressState};
use serde_json::json;

use super::format::human_size;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Lines redrawn in place (stderr is a terminal).
    Tty,
    /// One appended line per state change (stderr is a file or pipe).
    Plain,
    /// One JSON object per event on stdout.
    Json,
    /// Nothing (`--quiet`).
    Quiet,
}

/// Which transfer the lines describe: the words differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Direction {
    /// `rbox pull`.
    Pull,
    /// `rbox push`; mounts name their source repository.
    Push {
        /// Shown as `Mounted from REPO`.
        mount_from: Option<String>,
    },
}

/// Redraws at most this often while bytes move; state changes always
/// redraw.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

struct Line {
    state: ProgressState,
    text: String,
}

struct State {
    order: Vec<String>,
    lines: HashMap<String, Line>,
    /// Lines on screen below the cursor's home (TTY mode).
    drawn: usize,
    last_draw: Option<Instant>,
}

/// A [`ProgressSink`] that draws docker-style lines.
pub struct Display {
    mode: Mode,
    direction: Direction,
    state: Mutex<State>,
}

impl Display {
    /// A display in `mode` for a transfer in `direction`.
    pub fn new(mode: Mode, direction: Direction) -> Self {
        Self {
            mode,
            direction,
            state: Mutex::new(State {
                order: Vec::new(),
                lines: HashMap::new(),
                drawn: 0,
                last_draw: None,
            }),
        }
    }

    /// Marks every downloaded blob `Pull complete` (docker prints it
    /// after extraction; rbox pulls without unpacking, so it follows the
    /// download) and draws the final state.
    pub fn finish(&self) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        if matches!(self.direction, Direction::Pull) {
            let order = st.order.clone();
            for id in order {
                if let Some(line) = st.lines.get_mut(&id)
                    && line.state == ProgressState::Done
                {
                    line.text = "Pull complete".to_owned();
                    if self.mode == Mode::Plain {
                        eprintln!("{id}: Pull complete");
                    }
                }
            }
        }
        if self.mode == Mode::Tty {
            redraw(&mut st);
        }
    }

    fn text(&self, e: &ProgressEvent) -> String {
        let pull = matches!(self.direction, Direction::Pull);
        match e.state {
            ProgressState::Waiting if pull => "Pulling fs layer".to_owned(),
            ProgressState::Waiting => "Preparing".to_owned(),
            ProgressState::Downloading => format!("Downloading {}", bar(e.bytes, e.total)),
            ProgressState::Uploading => format!("Pushing {}", bar(e.bytes, e.total)),
            ProgressState::Verifying => "Verifying Checksum".to_owned(),
            ProgressState::Extracting => "Extracting".to_owned(),
            ProgressState::Exists if pull => "Already exists".to_owned(),
            ProgressState::Exists => "Layer already exists".to_owned(),
            ProgressState::Mounted => match &self.direction {
                Direction::Push {
                    mount_from: Some(repo),
                } => format!("Mounted from {repo}"),
                _ => "Mounted from another repository".to_owned(),
            },
            ProgressState::Done if pull => "Download complete".to_owned(),
            ProgressState::Done => "Pushed".to_owned(),
            _ => format!("{:?}", e.state),
        }
    }
}

impl ProgressSink for Display {
    fn event(&self, e: ProgressEvent) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => {
                let line = json!({
                    "id": e.id,
                    "digest": e.digest.to_string(),
                    "state": state_name(e.state),
                    "current": e.bytes,
                    "total": e.total,
                    "kind": match e.kind {
                        Some(BlobKind::Config) => Some("config"),
                        Some(BlobKind::Layer) => Some("layer"),
                        _ => None,
                    },
                });
                let mut out = io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
            // As docker, text shows layers only; the config is tiny.
            Mode::Plain | Mode::Tty if e.kind == Some(BlobKind::Config) => {}
            Mode::Plain | Mode::Tty => {
                let text = self.text(&e);
                let Ok(mut st) = self.state.lock() else {
                    return;
                };
                if !st.lines.contains_key(&e.id) {
                    st.order.push(e.id.clone());
                }
                let changed = st.lines.get(&e.id).is_none_or(|l| l.state != e.state);
                st.lines.insert(
                    e.id.clone(),
                    Line {
                        state: e.state,
                        text: text.clone(),
                    },
                );
                if self.mode == Mode::Plain {
                    // A log gets state changes, not every byte count.
                    if changed {
                        // No bar either: it would only ever show 0 bytes.
                        let label = match e.state {
                            ProgressState::Downloading => "Downloading",
                            ProgressState::Uploading => "Pushing",
                            _ => text.as_str(),
                        };
                        eprintln!("{}: {label}", e.id);
                    }
                } else if changed || st.last_draw.is_none_or(|t| t.elapsed() >= REDRAW_EVERY) {
                    redraw(&mut st);
                }
            }
        }
    }
}

/// Moves the cursor up over the lines drawn before and rewrites all.
fn redraw(st: &mut State) {
    let mut err = io::stderr().lock();
    let mut buf = String::new();
    if st.drawn > 0 {
        buf.push_str(&format!("\x1b[{}A", st.drawn));
    }
    for id in &st.order {
        if let Some(l) = st.lines.get(id) {
            buf.push_str(&format!("\x1b[2K{id}: {}\n", l.text));
        }
    }
    let _ = err.write_all(buf.as_bytes());
    let _ = err.flush();
    st.drawn = st.order.len();
    st.last_draw = Some(Instant::now());
}

/// The name scripts see for a state.
pub fn state_name(s: ProgressState) -> &'static str {
    match s {
        ProgressState::Waiting => "waiting",
        ProgressState::Downloading => "downloading",
        ProgressState::Verifying => "verifying",
        ProgressState::Exists => "exists",
        ProgressState::Mounted => "mounted",
        ProgressState::Uploading => "uploading",
        ProgressState::Done => "done",
        ProgressState::Extracting => "extracting",
        _ => "other",
    }
}

/// docker's `[=====>      ] 12.3MB/45.6MB`.
fn bar(bytes: u64, total: Option<u64>) -> String {
    const WIDTH: u64 = 50;
    match total {
        Some(t) if t > 0 => {
            let filled = (bytes.min(t) * WIDTH / t) as usize;
            let mut s = "=".repeat(filled);
            if (filled as u64) < WIDTH {
                s.push('>');
                s.push_str(&" ".repeat(WIDTH as usize - filled - 1));
            }
            format!("[{s}] {}/{}", human_size(bytes), human_size(t))
        }
        _ => human_size(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_with_progress() {
        let half = bar(50, Some(100));
        assert!(half.starts_with("[=========================>"), "{half}");
        assert!(half.ends_with("] 50B/100B"), "{half}");
        let full = bar(100, Some(100));
        assert!(full.starts_with(&format!("[{}]", "=".repeat(50))), "{full}");
        assert_eq!(bar(7, None), "7B");
    }
}
