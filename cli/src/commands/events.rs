//! `events`: container statistics (`--stats`: one sample) and OOM events,
//! as runc prints them: one JSON object per line.

use std::time::Duration;

use anyhow::Result;
use clap::Args;
use rbox_runtime::cgroup::Stats;
use serde_json::{Value, json};

use crate::runtime_cli::Ctx;

/// runc events' flags.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print one stats sample and exit.
    #[arg(long)]
    pub stats: bool,
    /// Sampling interval for the stream (e.g. 5s, 500ms).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Container id.
    pub id: String,
}

fn parse_interval(s: &str) -> Result<Duration> {
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, "s"), |i| (&s[..i], &s[i..]));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("--interval {s:?}: use a number with ms, s or m"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => anyhow::bail!("--interval {s:?}: use a number with ms, s or m"),
    })
}

/// runc's `events --stats` data object from the cgroup statistics.
pub fn stats_json(s: &Stats) -> Value {
    let mem = |e: &rbox_runtime::cgroup::MemoryEntry| json!({"usage": e.usage, "max": e.max_usage, "limit": e.limit, "failcnt": e.failcnt});
    let blk = |v: &[rbox_runtime::cgroup::BlkioEntry]| {
        v.iter()
            .map(|e| json!({"major": e.major, "minor": e.minor, "op": e.op, "value": e.value}))
            .collect::<Vec<_>>()
    };
    let hugetlb: serde_json::Map<String, Value> = s
        .hugetlb
        .iter()
        .map(|(k, h)| {
            (
                k.clone(),
                json!({"usage": h.usage, "max": h.max_usage, "failcnt": h.failcnt}),
            )
        })
        .collect();
    json!({
        "cpu": {
            "usage": {
                "total": s.cpu.usage.total,
                "percpu": s.cpu.usage.per_cpu,
                "kernel": s.cpu.usage.kernel,
                "user": s.cpu.usage.user
            },
            "throttling": {
                "periods": s.cpu.throttling.periods,
                "throttledPeriods": s.cpu.throttling.throttled_periods,
                "throttledTime": s.cpu.throttling.throttled_time
            }
        },
        "memory": {
            "cache": s.memory.cache,
            "usage": mem(&s.memory.usage),
            "swap": mem(&s.memory.swap),
            "raw": s.memory.raw
        },
        "pids": {"current": s.pids.current, "limit": s.pids.limit.unwrap_or(0)},
        "blkio": {
            "ioServiceBytesRecursive": blk(&s.blkio.io_service_bytes),
            "ioServicedRecursive": blk(&s.blkio.io_serviced)
        },
        "hugetlb": hugetlb
    })
}

fn sample(c: &rbox_runtime::Container) -> Result<Value> {
    let stats = c.cgroup()?.stats()?;
    Ok(json!({"type": "stats", "id": c.id(), "data": stats_json(&stats)}))
}

/// Runs `events`.
pub fn run(ctx: &Ctx, a: &EventsArgs) -> Result<()> {
    let c = super::load(ctx, &a.id)?;
    if a.stats {
        println!("{}", serde_json::to_string(&sample(&c)?)?);
        return Ok(());
    }
    let every = parse_interval(&a.interval)?;
    let mut last_oom = c.cgroup()?.oom_events().unwrap_or(0);
    while c.status() != rbox_runtime::Status::Stopped {
        println!("{}", serde_json::to_string(&sample(&c)?)?);
        let oom = c.cgroup()?.oom_events().unwrap_or(0);
        if oom > last_oom {
            println!("{}", json!({"type": "oom", "id": c.id()}));
            last_oom = oom;
        }
        std::thread::sleep(every);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("2").unwrap(), Duration::from_secs(2));
        assert!(parse_interval("x").is_err());
        assert!(parse_interval("5h").is_err());
    }
}
