//! `rbox logs`: the json-file log with `--tail`, `-t`, `--since`, `-f`.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::{Result, anyhow};
use clap::Args;
use rbox_engine::logs::{self, Entry};
use rbox_engine::{Engine, Status};

/// docker logs's flags.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow the output.
    #[arg(short, long)]
    follow: bool,
    /// Lines from the end ("all" or a number).
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// Only entries since (RFC 3339, Unix seconds or a duration like 10m).
    #[arg(long)]
    since: Option<String>,
    /// Container.
    container: String,
}

fn print(e: &Entry, ts: bool) {
    let line = if ts {
        format!("{} {}", e.time, e.log)
    } else {
        e.log.clone()
    };
    if e.stream == "stderr" {
        let _ = std::io::stderr().write_all(line.as_bytes());
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(line.as_bytes());
        let _ = o.flush();
    }
}

/// Runs `logs`.
pub fn run(engine: &Engine, a: &LogsArgs) -> Result<u8> {
    let id = engine.resolve(&a.container)?;
    let rec = engine.record(&id)?;
    let since = match &a.since {
        Some(s) => Some(
            rbox_engine::time::parse_since(s, SystemTime::now()).ok_or_else(|| {
                anyhow!("invalid --since {s:?}: use RFC 3339, Unix seconds or a duration like 10m")
            })?,
        ),
        None => None,
    };
    let mut offset = logs::current_len(&rec.log_path);
    let mut entries = logs::read_all(&rec.log_path, since);
    if a.tail != "all" {
        let n: usize = a
            .tail
            .parse()
            .map_err(|_| anyhow!("invalid --tail {:?}", a.tail))?;
        let skip = entries.len().saturating_sub(n);
        entries.drain(..skip);
    }
    for e in &entries {
        print(e, a.timestamps);
    }
    if !a.follow {
        return Ok(0);
    }
    loop {
        let (new, off) = logs::read_from(&rec.log_path, offset);
        offset = off;
        for e in &new {
            print(e, a.timestamps);
        }
        let running = engine
            .record(&id)
            .map(|r| matches!(r.state.status, Status::Running | Status::Restarting))
            .unwrap_or(false);
        if !running && new.is_empty() {
            // One last read: the monitor may have written after our read.
            let (last, _) = logs::read_from(&rec.log_path, offset);
            for e in &last {
                print(e, a.timestamps);
            }
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
