//! cgroup v1 (and hybrid): one directory per mounted hierarchy, plus the
//! same path in the cgroup2 mount of a hybrid host, as runc does, so the
//! container is tracked there too.
//!
//! Invariant: every directory is `<hierarchy mount>/<cgroup path>`; the
//! cpuset hierarchy additionally has `cpuset.cpus`/`cpuset.mems` copied
//! down every level it creates, since v1 cpusets start empty and an empty
//! cpuset cannot hold tasks.

mod apply;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use tracing::debug;

use super::stats::{self, Stats};
use super::{CgroupError, fs};

/// One container's cgroup on a v1 host.
#[derive(Debug)]
pub(super) struct V1 {
    /// Controller name to the container's directory in its hierarchy.
    dirs: BTreeMap<String, PathBuf>,
    /// Controller name to its hierarchy's mount point.
    mounts: BTreeMap<String, PathBuf>,
    /// The container's directory in the cgroup2 mount of a hybrid host.
    unified: Option<PathBuf>,
}

impl V1 {
    /// `rel` is the normalised absolute cgroup path.
    pub(super) fn new(
        mounts: &BTreeMap<String, PathBuf>,
        unified: Option<&Path>,
        rel: &Path,
    ) -> Self {
        let rel = rel.strip_prefix("/").unwrap_or(rel);
        Self {
            dirs: mounts
                .iter()
                .map(|(c, m)| (c.clone(), m.join(rel)))
                .collect(),
            mounts: mounts.clone(),
            unified: unified.map(|u| u.join(rel)),
        }
    }

    /// The container's directory for `controller`, if it is mounted.
    pub(super) fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.get(controller).map(PathBuf::as_path)
    }

    /// Like [`dir`](Self::dir), an error naming `field` when not mounted.
    fn need(&self, controller: &str, field: &'static str) -> Result<&Path, CgroupError> {
        self.dir(controller)
            .ok_or_else(|| CgroupError::ControllerMissing {
                controller: controller.to_owned(),
                field,
            })
    }

    /// Every directory of the container, each hierarchy once.
    fn all_dirs(&self) -> Vec<&Path> {
        let set: BTreeSet<&Path> = self
            .dirs
            .values()
            .map(PathBuf::as_path)
            .chain(self.unified.as_deref())
            .collect();
        set.into_iter().collect()
    }

    pub(super) fn create(&self) -> Result<(), CgroupError> {
        let cpuset = self.dir("cpuset");
        for dir in self.all_dirs() {
            if Some(dir) == cpuset {
                self.create_cpuset()?;
            } else {
                fs::mkdir_all(dir)?;
            }
        }
        Ok(())
    }

    /// Creates the cpuset directories level by level, copying the parent's
    /// cpus and mems into each level that has none.
    fn create_cpuset(&self) -> Result<(), CgroupError> {
        let (Some(mount), Some(leaf)) = (self.mounts.get("cpuset"), self.dir("cpuset")) else {
            return Ok(());
        };
        let rel = leaf.strip_prefix(mount).unwrap_or(leaf);
        let mut parent = mount.clone();
        for part in rel.components() {
            let current = parent.join(part);
            fs::mkdir(&current)?;
            for file in ["cpuset.cpus", "cpuset.mems"] {
                if fs::read(&current, file)?.trim().is_empty() {
                    let value = fs::read(&parent, file)?;
                    fs::write(&current, file, value.trim())?;
                }
            }
            parent = current;
        }
        Ok(())
    }

    pub(super) fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.all_dirs() {
            fs::add_proc(dir, pid)?;
        }
        Ok(())
    }

    pub(super) fn destroy(&self) -> Result<(), CgroupError> {
        // Try every hierarchy, report the first failure.
        let mut first = None;
        for dir in self.all_dirs() {
            if let Err(e) = fs::remove_tree(dir) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    pub(super) fn exists(&self) -> bool {
        self.all_dirs().iter().any(|d| d.is_dir())
    }

    /// The directory whose cgroup.procs lists the container's processes.
    fn procs_dir(&self) -> Option<&Path> {
        ["pids", "freezer", "devices", "memory", "cpu"]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.all_dirs().first().copied())
    }

    pub(super) fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match self.procs_dir() {
            Some(dir) => fs::procs_recursive(dir),
            None => Ok(Vec::new()),
        }
    }

    /// Freezes through freezer.state, writing FROZEN until it reads back
    /// FROZEN: a v1 cgroup can stay FREEZING while tasks keep forking, and
    /// an occasional thaw lets them settle. Thaws again on failure.
    pub(super) fn freeze(&self) -> Result<(), CgroupError> {
        let dir = self.need("freezer", "freezer (pause)")?;
        let result = (|| {
            for attempt in 0..1000u32 {
                if attempt % 50 == 49 {
                    fs::write(dir, "freezer.state", "THAWED")?;
                    sleep(Duration::from_millis(10));
                }
                fs::write(dir, "freezer.state", "FROZEN")?;
                if attempt % 25 == 24 {
                    sleep(Duration::from_millis(1));
                }
                match fs::read(dir, "freezer.state")?.trim() {
                    "FROZEN" => {
                        debug!(attempt, path = %dir.display(), "frozen");
                        return Ok(());
                    }
                    "FREEZING" => {}
                    other => return Err(fs::parse_error(dir, "freezer.state", other)),
                }
            }
            Err(CgroupError::FreezeTimeout {
                path: dir.to_owned(),
            })
        })();
        if result.is_err() {
            // Never leave a half-frozen container behind.
            let _ = fs::write(dir, "freezer.state", "THAWED");
        }
        result
    }

    pub(super) fn thaw(&self) -> Result<(), CgroupError> {
        let dir = self.need("freezer", "freezer (resume)")?;
        fs::write(dir, "freezer.state", "THAWED")
    }

    /// Frozen by its own freezer.state (not only through an ancestor).
    pub(super) fn is_frozen(&self) -> Result<bool, CgroupError> {
        let Some(dir) = self.dir("freezer") else {
            return Ok(false);
        };
        loop {
            match fs::read(dir, "freezer.state")?.trim() {
                "THAWED" => return Ok(false),
                "FROZEN" => {
                    return Ok(match fs::read_opt(dir, "freezer.self_freezing")? {
                        Some(s) => s.trim() == "1",
                        None => true,
                    });
                }
                // A transition in progress: wait for a stable answer.
                "FREEZING" => sleep(Duration::from_millis(1)),
                other => return Err(fs::parse_error(dir, "freezer.state", other)),
            }
        }
    }

    pub(super) fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        let Some(dir) = self.dir("memory") else {
            return Ok(0);
        };
        Ok(fs::read_keyed(dir, "memory.oom_control")?
            .get("oom_kill")
            .copied()
            .unwrap_or(0))
    }

    pub(super) fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if let Some(dir) = self.dir("memory") {
            let m = &mut s.memory;
            m.usage = memory_entry(dir, "memory")?;
            m.swap = memory_entry(dir, "memory.memsw")?;
            m.raw = fs::read_keyed_opt(dir, "memory.stat")?;
            m.cache = m.raw.get("cache").copied().unwrap_or(0);
            m.oom_kill_count = self.oom_kill_count()?;
        }
        if let Some(dir) = self.dir("cpuacct") {
            let u = &mut s.cpu.usage;
            u.total = fs::read_u64_opt(dir, "cpuacct.usage")?.unwrap_or(0);
            if let (Some(user), Some(sys)) = (
                fs::read_u64_opt(dir, "cpuacct.usage_user")?,
                fs::read_u64_opt(dir, "cpuacct.usage_sys")?,
            ) {
                (u.user, u.kernel) = (user, sys);
            } else {
                // cpuacct.stat counts USER_HZ ticks, 100 a second on every
                // Linux ABI.
                let st = fs::read_keyed_opt(dir, "cpuacct.stat")?;
                let ns = |k: &str| st.get(k).copied().unwrap_or(0).saturating_mul(10_000_000);
                (u.user, u.kernel) = (ns("user"), ns("system"));
            }
            if let Some(text) = fs::read_opt(dir, "cpuacct.usage_percpu")? {
                u.per_cpu = text
                    .split_whitespace()
                    .map(|v| {
                        v.parse()
                            .map_err(|_| fs::parse_error(dir, "cpuacct.usage_percpu", &text))
                    })
                    .collect::<Result<_, _>>()?;
            }
        }
        if let Some(dir) = self.dir("cpu") {
            let st = fs::read_keyed_opt(dir, "cpu.stat")?;
            let t = &mut s.cpu.throttling;
            t.periods = st.get("nr_periods").copied().unwrap_or(0);
            t.throttled_periods = st.get("nr_throttled").copied().unwrap_or(0);
            t.throttled_time = st.get("throttled_time").copied().unwrap_or(0);
        }
        if let Some(dir) = self.dir("pids") {
            s.pids.current = fs::read_u64_opt(dir, "pids.current")?.unwrap_or(0);
            s.pids.limit = fs::read_u64_opt(dir, "pids.max")?.filter(|&l| l != u64::MAX);
        }
        if let Some(dir) = self.dir("blkio") {
            s.blkio = blkio_stats(dir)?;
        }
        if let Some(dir) = self.dir("hugetlb") {
            for size in stats::hugetlb_sizes(dir, ".limit_in_bytes") {
                let file = |what: &str| format!("hugetlb.{size}.{what}");
                let h = stats::HugetlbStats {
                    usage: fs::read_u64(dir, &file("usage_in_bytes"))?,
                    max_usage: fs::read_u64_opt(dir, &file("max_usage_in_bytes"))?.unwrap_or(0),
                    failcnt: fs::read_u64_opt(dir, &file("failcnt"))?.unwrap_or(0),
                };
                s.hugetlb.insert(size, h);
            }
        }
        Ok(s)
    }
}

/// usage / max usage / limit / failcnt of `memory` or `memory.memsw`;
/// all zero when the files are missing (no swap accounting).
fn memory_entry(dir: &Path, prefix: &str) -> Result<stats::MemoryEntry, CgroupError> {
    let get = |what: &str| fs::read_u64_opt(dir, &format!("{prefix}.{what}"));
    let Some(usage) = get("usage_in_bytes")? else {
        return Ok(stats::MemoryEntry::default());
    };
    Ok(stats::MemoryEntry {
        usage,
        max_usage: get("max_usage_in_bytes")?.unwrap_or(0),
        limit: get("limit_in_bytes")?.unwrap_or(u64::MAX),
        failcnt: get("failcnt")?.unwrap_or(0),
    })
}

/// The first family of blkio counters that has data: BFQ, CFQ, then the
/// throttle layer (which sees every device whatever its scheduler).
fn blkio_stats(dir: &Path) -> Result<stats::BlkioStats, CgroupError> {
    let families = [
        (
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.bfq.io_serviced_recursive",
        ),
        (
            "blkio.io_service_bytes_recursive",
            "blkio.io_serviced_recursive",
        ),
        (
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_serviced_recursive",
        ),
        (
            "blkio.throttle.io_service_bytes",
            "blkio.throttle.io_serviced",
        ),
    ];
    for (bytes_file, ops_file) in families {
        let Some(bytes) = fs::read_opt(dir, bytes_file)? else {
            continue;
        };
        let io_service_bytes = stats::parse_blkio_v1(dir, bytes_file, &bytes)?;
        if io_service_bytes.is_empty() {
            continue;
        }
        let ops = fs::read_opt(dir, ops_file)?.unwrap_or_default();
        return Ok(stats::BlkioStats {
            io_service_bytes,
            io_serviced: stats::parse_blkio_v1(dir, ops_file, &ops)?,
        });
    }
    Ok(stats::BlkioStats::default())
}

#[cfg(test)]
mod tests;
