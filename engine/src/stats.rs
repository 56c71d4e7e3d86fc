//! `rbox stats`: one resource sample of a container, from its cgroup
//! (through rbox-runtime's cgroup manager) and the network counters of
//! its network namespace (`/proc/<init pid>/net/dev`), plus the
//! arithmetic docker applies to two samples (CPU %) and its units.
//!
//! A stopped container has an all-zero sample: docker shows it too.

use std::time::Instant;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::Status;

/// One reading of a container's usage.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Sample {
    /// The container id.
    pub id: String,
    /// The container name.
    pub name: String,
    /// Whether the container was running when sampled.
    pub running: bool,
    /// CPU time the cgroup used, nanoseconds.
    pub cpu_ns: u64,
    /// CPU time the whole host used (all CPUs, from /proc/stat), ns.
    pub system_ns: u64,
    /// Online CPUs.
    pub online_cpus: u32,
    /// Memory in use minus the inactive page cache, as docker counts it.
    pub mem_usage: u64,
    /// The memory limit (the host's memory when there is none).
    pub mem_limit: u64,
    /// Bytes received on the container's interfaces (loopback excluded).
    pub net_rx: u64,
    /// Bytes sent on the container's interfaces (loopback excluded).
    pub net_tx: u64,
    /// Bytes read from block devices.
    pub blk_read: u64,
    /// Bytes written to block devices.
    pub blk_write: u64,
    /// Processes and threads.
    pub pids: u64,
    /// When the sample was taken.
    pub at: Instant,
}

impl Engine {
    /// One usage sample of container `id`.
    pub fn stats(&self, id: &str) -> Result<Sample> {
        let rec = self.record(id)?;
        let mut s = Sample {
            id: rec.id.clone(),
            name: rec.name.clone(),
            running: false,
            cpu_ns: 0,
            system_ns: system_cpu_ns().unwrap_or(0),
            online_cpus: online_cpus(),
            mem_usage: 0,
            mem_limit: 0,
            net_rx: 0,
            net_tx: 0,
            blk_read: 0,
            blk_write: 0,
            pids: 0,
            at: Instant::now(),
        };
        if rec.state.status != Status::Running {
            return Ok(s);
        }
        let rt_err = |source| Error::Runtime {
            id: rec.id.clone(),
            source,
        };
        let c = self.runtime_container(&rec)?;
        let cg = c.cgroup().map_err(rt_err)?;
        let st = cg.stats().map_err(|e| rt_err(e.into()))?;
        s.running = true;
        s.cpu_ns = st.cpu.usage.total;
        // docker (since 19.03) leaves the inactive page cache out.
        let inactive = ["total_inactive_file", "inactive_file"]
            .iter()
            .find_map(|k| st.memory.raw.get(*k).copied())
            .unwrap_or(0);
        s.mem_usage = st.memory.usage.usage.saturating_sub(inactive);
        let host = host_memory().unwrap_or(u64::MAX);
        s.mem_limit = st.memory.usage.limit.min(host);
        s.pids = st.pids.current;
        for e in &st.blkio.io_service_bytes {
            match e.op.as_str() {
                "Read" => s.blk_read += e.value,
                "Write" => s.blk_write += e.value,
                _ => {}
            }
        }
        if let Ok(text) = std::fs::read_to_string(format!("/proc/{}/net/dev", c.pid())) {
            (s.net_rx, s.net_tx) = net_dev(&text);
        }
        s.at = Instant::now();
        Ok(s)
    }
}

/// docker's CPU %: the cgroup's share of the host's CPU time between two
/// samples, times the CPU count (so one busy core of four is 100%).
pub fn cpu_percent(prev: &Sample, cur: &Sample) -> f64 {
    let cpu = cur.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
    let sys = cur.system_ns.saturating_sub(prev.system_ns) as f64;
    if cpu > 0.0 && sys > 0.0 {
        cpu / sys * f64::from(cur.online_cpus) * 100.0
    } else {
        0.0
    }
}

/// Memory use as a percentage of the limit.
pub fn mem_percent(s: &Sample) -> f64 {
    if s.mem_limit == 0 {
        0.0
    } else {
        s.mem_usage as f64 / s.mem_limit as f64 * 100.0
    }
}

/// Received and sent bytes over every interface but `lo` in a
/// `/proc/net/dev` table.
pub fn net_dev(text: &str) -> (u64, u64) {
    let (mut rx, mut tx) = (0, 0);
    for line in text.lines().skip(2) {
        let Some((iface, rest)) = line.split_once(':') else {
            continue;
        };
        if iface.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0))
            .collect();
        rx += f.first().copied().unwrap_or(0);
        tx += f.get(8).copied().unwrap_or(0);
    }
    (rx, tx)
}

/// The host's total CPU time in nanoseconds (first line of /proc/stat,
/// in clock ticks of 1/100 s, as docker reads it).
fn system_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|x| x.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|h| *h > 0)
        .unwrap_or(100) as u64;
    Some(ticks * (1_000_000_000 / hz))
}

fn online_cpus() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// docker's binary sizes (`units.BytesSize`): `64MiB`, `1.5GiB`.
pub fn bytes_binary(v: u64) -> String {
    scaled(
        v as f64,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB"],
        4,
    )
}

/// docker's decimal sizes (`units.HumanSizeWithPrecision(v, 3)`):
/// `1.23kB`, `456MB`.
pub fn bytes_decimal(v: u64) -> String {
    scaled(v as f64, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], 3)
}

fn scaled(mut v: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut i = 0;
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", sig(v, precision), units[i])
}

/// Go's `%.<p>g` for 0 <= v < 10^p: `p` significant digits, no
/// trailing zeros.
fn sig(v: f64, p: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let int_digits = if v >= 1.0 {
        v.log10().floor() as usize + 1
    } else {
        1
    };
    let decimals = p.saturating_sub(int_digits);
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_units() {
        assert_eq!(bytes_binary(64 << 20), "64MiB");
        assert_eq!(bytes_binary(1536 << 20), "1.5GiB");
        assert_eq!(bytes_binary(0), "0B");
        assert_eq!(bytes_binary(123_456), "120.6KiB");
        assert_eq!(bytes_decimal(1234), "1.23kB");
        assert_eq!(bytes_decimal(999), "999B");
        assert_eq!(bytes_decimal(456_000_000), "456MB");
    }

    #[test]
    fn net_dev_skips_loopback() {
        let text = "Inter-|   Receive  |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 2000 3 0 0 0 0 0 0 500 2 0 0 0 0 0 0\n";
        assert_eq!(net_dev(text), (2000, 500));
    }

    #[test]
    fn cpu_share_of_the_host() {
        let at = Instant::now();
        let s = |cpu, sys| Sample {
            id: String::new(),
            name: String::new(),
            running: true,
            cpu_ns: cpu,
            system_ns: sys,
            online_cpus: 2,
            mem_usage: 0,
            mem_limit: 0,
            net_rx: 0,
            net_tx: 0,
            blk_read: 0,
            blk_write: 0,
            pids: 0,
            at,
        };
        // Half of the host's time on two CPUs: one full core.
        assert!((cpu_percent(&s(0, 0), &s(500, 1000)) - 100.0).abs() < 1e-9);
        assert_eq!(cpu_percent(&s(5, 5), &s(5, 5)), 0.0);
    }
}
