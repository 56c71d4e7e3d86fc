//! Resource usage of a container's cgroup, the same shape for both
//! versions (v1 names, as runc's `events --stats` reports them): memory in
//! bytes, CPU time in nanoseconds. Fields a controller does not provide
//! stay zero.

use std::collections::BTreeMap;
use std::path::Path;

use super::CgroupError;
use super::fs;

/// Everything [`Manager::stats`](super::Manager::stats) reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Memory controller.
    pub memory: MemoryStats,
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Process count.
    pub pids: PidsStats,
    /// Block I/O.
    pub blkio: BlkioStats,
    /// Huge pages, by page size (e.g. `2MB`).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// Memory usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// Memory (without swap).
    pub usage: MemoryEntry,
    /// Memory plus swap, as v1 counts it (v2 values are converted).
    pub swap: MemoryEntry,
    /// Page cache bytes.
    pub cache: u64,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kill_count: u64,
    /// Every memory.stat counter, as the kernel names it.
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter: usage, its peak, its limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryEntry {
    /// Bytes in use.
    pub usage: u64,
    /// Peak bytes in use (0 when the kernel does not track it).
    pub max_usage: u64,
    /// Limit in bytes; `u64::MAX` is no limit.
    pub limit: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// CPU accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuStats {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// CPU time used, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CpuUsage {
    /// Total.
    pub total: u64,
    /// In user mode.
    pub user: u64,
    /// In kernel mode.
    pub kernel: u64,
    /// Total per CPU (v1 only).
    pub per_cpu: Vec<u64>,
}

/// CFS bandwidth throttling.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Throttling {
    /// Enforcement periods elapsed.
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    pub throttled_time: u64,
}

/// Process count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PidsStats {
    /// Processes (and threads) in the cgroup.
    pub current: u64,
    /// The limit; `None` is no limit.
    pub limit: Option<u64>,
}

/// Block I/O, recursive over the cgroup's subtree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlkioStats {
    /// Bytes transferred, per device and operation.
    pub io_service_bytes: Vec<BlkioEntry>,
    /// I/O operations, per device and operation.
    pub io_serviced: Vec<BlkioEntry>,
}

/// One block I/O counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total`.
    pub op: String,
    /// The count.
    pub value: u64,
}

/// Huge page usage for one page size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HugetlbStats {
    /// Bytes in use.
    pub usage: u64,
    /// Peak bytes in use (v1 only).
    pub max_usage: u64,
    /// Allocations that failed because of the limit.
    pub failcnt: u64,
}

/// Parses a v1 blkio stat file (`8:0 Read 4096` lines; `Total N` skipped).
pub(super) fn parse_blkio_v1(
    dir: &Path,
    file: &str,
    text: &str,
) -> Result<Vec<BlkioEntry>, CgroupError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let entry = match fields[..] {
            [] | ["Total", _] => continue,
            [dev, op, value] => {
                device(dev)
                    .zip(value.parse().ok())
                    .map(|((major, minor), value)| BlkioEntry {
                        major,
                        minor,
                        op: op.to_owned(),
                        value,
                    })
            }
            _ => None,
        };
        out.push(entry.ok_or_else(|| fs::parse_error(dir, file, line))?);
    }
    Ok(out)
}

/// Parses v2 io.stat (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...` lines)
/// into v1-style (bytes, serviced) entries.
pub(super) fn parse_io_stat(dir: &Path, text: &str) -> Result<BlkioStats, CgroupError> {
    let mut stats = BlkioStats::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(dev) = fields.next() else { continue };
        let (major, minor) = device(dev).ok_or_else(|| fs::parse_error(dir, "io.stat", line))?;
        for field in fields {
            let Some((key, value)) = field.split_once('=') else {
                continue;
            };
            let (table, op) = match key {
                "rbytes" => (&mut stats.io_service_bytes, "Read"),
                "wbytes" => (&mut stats.io_service_bytes, "Write"),
                "rios" => (&mut stats.io_serviced, "Read"),
                "wios" => (&mut stats.io_serviced, "Write"),
                // dbytes, dios and newer keys have no v1 counterpart.
                _ => continue,
            };
            let value = value
                .parse()
                .map_err(|_| fs::parse_error(dir, "io.stat", line))?;
            table.push(BlkioEntry {
                major,
                minor,
                op: op.to_owned(),
                value,
            });
        }
    }
    Ok(stats)
}

fn device(s: &str) -> Option<(u64, u64)> {
    let (major, minor) = s.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The page sizes that have hugetlb files in `dir` (`hugetlb.2MB.max`,
/// `hugetlb.1GB.limit_in_bytes`, ...), found from the files themselves so
/// that fake trees need no /sys/kernel/mm.
pub(super) fn hugetlb_sizes(dir: &Path, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let size = name.strip_prefix("hugetlb.")?.strip_suffix(suffix)?;
            (!size.contains('.')).then(|| size.to_owned())
        })
        .collect();
    sizes.sort();
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_v1_lines() {
        let text = "8:0 Read 4096\n8:0 Write 512\n8:16 Total 4608\nTotal 4608\n";
        let e = parse_blkio_v1(Path::new("/x"), "f", text).expect("parses");
        assert_eq!(e.len(), 3);
        assert_eq!(
            (e[1].major, e[1].minor, e[1].op.as_str(), e[1].value),
            (8, 0, "Write", 512)
        );
        assert!(parse_blkio_v1(Path::new("/x"), "f", "8:0 Read\n").is_err());
        assert!(
            parse_blkio_v1(Path::new("/x"), "f", "")
                .expect("empty")
                .is_empty()
        );
    }

    #[test]
    fn io_stat_v2_lines() {
        let text = "8:16 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n";
        let s = parse_io_stat(Path::new("/x"), text).expect("parses");
        assert_eq!(s.io_service_bytes.len(), 2);
        assert_eq!(s.io_service_bytes[0].value, 1_459_200);
        assert_eq!(s.io_serviced[1].op, "Write");
        assert_eq!(s.io_serviced[1].value, 353);
        assert!(parse_io_stat(Path::new("/x"), "x rbytes=1\n").is_err());
    }
}
