//! `rbox stats`: docker's live resource table. Two samples a second
//! apart give the CPU %; streaming redraws every second until Ctrl-C.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use rbox_engine::stats::{Sample, bytes_binary, bytes_decimal, cpu_percent, mem_percent};
use rbox_engine::{Engine, Status};
use serde_json::{Value, json};

/// docker stats's flags.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Print one sample and exit.
    #[arg(long = "no-stream")]
    no_stream: bool,
    /// All containers (default: running only).
    #[arg(short, long)]
    all: bool,
    /// json, table, or a template like '{{.Name}} {{.CPUPerc}}'.
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate ids.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Containers (default: every running one).
    containers: Vec<String>,
}

fn ids(engine: &Engine, a: &StatsArgs) -> Result<Vec<String>> {
    if !a.containers.is_empty() {
        return a
            .containers
            .iter()
            .map(|c| Ok(engine.resolve(c)?))
            .collect();
    }
    Ok(engine
        .list()?
        .into_iter()
        .filter(|r| a.all || r.state.status == Status::Running)
        .map(|r| r.id)
        .collect())
}

/// One container's row, docker's field names.
fn row(prev: Option<&Sample>, s: &Sample, no_trunc: bool) -> Value {
    let id = if no_trunc { &s.id[..] } else { &s.id[..12] };
    let (cpu, mem, pids) = if s.running {
        (
            format!("{:.2}%", prev.map(|p| cpu_percent(p, s)).unwrap_or(0.0)),
            format!("{:.2}%", mem_percent(s)),
            s.pids.to_string(),
        )
    } else {
        ("--".into(), "--".into(), "--".into())
    };
    json!({
        "ID": id,
        "Container": id,
        "Name": s.name,
        "CPUPerc": cpu,
        "MemUsage": format!("{} / {}", bytes_binary(s.mem_usage), bytes_binary(s.mem_limit)),
        "MemPerc": mem,
        "NetIO": format!("{} / {}", bytes_decimal(s.net_rx), bytes_decimal(s.net_tx)),
        "BlockIO": format!("{} / {}", bytes_decimal(s.blk_read), bytes_decimal(s.blk_write)),
        "PIDs": pids,
    })
}

fn render(rows: &[Value], format: Option<&str>) -> String {
    let mut out = String::new();
    match format {
        Some("json") => {
            for v in rows {
                out.push_str(&format!("{v}\n"));
            }
        }
        Some(t) if t != "table" => {
            let t = t.strip_prefix("table ").unwrap_or(t);
            for v in rows {
                out.push_str(&super::ps::template(t, v));
                out.push('\n');
            }
        }
        _ => {
            let line = |c: [&str; 8]| {
                format!(
                    "{:<15}{:<20}{:<10}{:<22}{:<9}{:<20}{:<20}{}\n",
                    c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
                )
            };
            out.push_str(&line([
                "CONTAINER ID",
                "NAME",
                "CPU %",
                "MEM USAGE / LIMIT",
                "MEM %",
                "NET I/O",
                "BLOCK I/O",
                "PIDS",
            ]));
            for v in rows {
                let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
                out.push_str(&line([
                    &s("ID"),
                    &s("Name"),
                    &s("CPUPerc"),
                    &s("MemUsage"),
                    &s("MemPerc"),
                    &s("NetIO"),
                    &s("BlockIO"),
                    &s("PIDs"),
                ]));
            }
        }
    }
    out
}

/// Samples every container; one that went away meanwhile is left out
/// unless the user named it.
fn sample(engine: &Engine, ids: &[String], named: bool) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    for id in ids {
        match engine.stats(id) {
            Ok(s) => out.push(s),
            Err(e) if named => return Err(e.into()),
            Err(_) => {}
        }
    }
    Ok(out)
}

/// Runs `stats`.
pub fn run(engine: &Engine, a: &StatsArgs) -> Result<u8> {
    let named = !a.containers.is_empty();
    let mut prev: HashMap<String, Sample> = HashMap::new();
    for s in sample(engine, &ids(engine, a)?, named)? {
        prev.insert(s.id.clone(), s);
    }
    let mut stdout = std::io::stdout();
    loop {
        std::thread::sleep(Duration::from_secs(1));
        let cur = sample(engine, &ids(engine, a)?, named)?;
        let rows: Vec<Value> = cur
            .iter()
            .map(|s| row(prev.get(&s.id), s, a.no_trunc))
            .collect();
        let text = render(&rows, a.format.as_deref());
        if a.no_stream {
            stdout.write_all(text.as_bytes())?;
            return Ok(0);
        }
        // Clear the screen and go home, as docker redraws.
        stdout.write_all(format!("\x1b[2J\x1b[H{text}").as_bytes())?;
        stdout.flush()?;
        prev = cur.into_iter().map(|s| (s.id.clone(), s)).collect();
    }
}
