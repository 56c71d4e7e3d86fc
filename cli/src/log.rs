//! Where runtime errors and debug lines go: stderr, and the `--log` file in
//! runc's text or JSON format (containerd reads the last error from it).

use std::io::Write;
use std::path::PathBuf;

/// Log destination from the global flags.
#[derive(Debug, Clone, Default)]
pub struct Logger {
    pub file: Option<PathBuf>,
    pub json: bool,
    pub debug: bool,
}

impl Logger {
    fn write(&self, level: &str, msg: &str) {
        let Some(path) = &self.file else { return };
        let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        else {
            return;
        };
        let time = rbox_runtime::state::now_rfc3339();
        let line = if self.json {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
        } else {
            format!("time=\"{time}\" level={level} msg={msg:?}")
        };
        let _ = writeln!(f, "{line}");
    }

    /// An error: to stderr and the log.
    pub fn error(&self, msg: &str) {
        eprintln!("rbox: {msg}");
        self.write("error", msg);
    }

    /// A warning: to stderr and the log.
    pub fn warn(&self, msg: &str) {
        eprintln!("rbox: warning: {msg}");
        self.write("warning", msg);
    }

    /// A debug line, only with --debug.
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}

/// "a: b: c" from an error and its sources.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let cs = c.to_string();
        if !s.ends_with(&cs) {
            s.push_str(": ");
            s.push_str(&cs);
        }
        cur = c.source();
    }
    s
}
