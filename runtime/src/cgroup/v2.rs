//! cgroup v2: one directory in the unified hierarchy.
//!
//! Creating it enables every controller the root offers in each ancestor's
//! cgroup.subtree_control (never in the container's own directory, which
//! holds the processes: v2 forbids processes in a cgroup that distributes
//! domain controllers to children). Devices are guarded by an eBPF
//! program, see [`devicefilter`](super::devicefilter).

mod apply;

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use nix::sys::signal::Signal;
use tracing::debug;

use super::stats::{self, Stats};
use super::{CgroupError, fs};

/// How long [`V2::freeze`] waits for cgroup.events to report frozen
/// (10 s; fake trees in tests never change, so they give up at once).
#[cfg(not(test))]
const FREEZE_POLLS: u32 = 1000;
#[cfg(test)]
const FREEZE_POLLS: u32 = 3;
const FREEZE_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// One container's cgroup on a v2 host.
#[derive(Debug)]
pub(super) struct V2 {
    root: PathBuf,
    dir: PathBuf,
}

impl V2 {
    /// `rel` is the normalised absolute cgroup path.
    pub(super) fn new(root: &Path, rel: &Path) -> Self {
        Self {
            root: root.to_owned(),
            dir: root.join(rel.strip_prefix("/").unwrap_or(rel)),
        }
    }

    pub(super) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(super) fn create(&self) -> Result<(), CgroupError> {
        let controllers = fs::read(&self.root, "cgroup.controllers")?;
        let enable: Vec<String> = controllers
            .split_whitespace()
            .map(|c| format!("+{c}"))
            .collect();
        let rel = self
            .dir
            .strip_prefix(&self.root)
            .unwrap_or(&self.dir)
            .to_owned();
        let mut current = self.root.clone();
        let mut parts = rel.components().peekable();
        loop {
            if current != self.root {
                fs::mkdir(&current)?;
                check_type(&current)?;
            }
            if parts.peek().is_none() {
                return Ok(());
            }
            enable_controllers(&current, &enable);
            if let Some(part) = parts.next() {
                current.push(part);
            }
        }
    }

    pub(super) fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        fs::add_proc(&self.dir, pid)
    }

    pub(super) fn destroy(&self) -> Result<(), CgroupError> {
        fs::remove_tree(&self.dir)
    }

    pub(super) fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    pub(super) fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        fs::procs_recursive(&self.dir)
    }

    /// Writes cgroup.freeze and waits for cgroup.events to say `frozen 1`;
    /// thaws again if it never does.
    pub(super) fn freeze(&self) -> Result<(), CgroupError> {
        fs::write(&self.dir, "cgroup.freeze", "1")?;
        let result = self.wait_frozen();
        if result.is_err() {
            let _ = fs::write(&self.dir, "cgroup.freeze", "0");
        }
        result
    }

    fn wait_frozen(&self) -> Result<(), CgroupError> {
        for _ in 0..FREEZE_POLLS {
            let events = fs::read_keyed(&self.dir, "cgroup.events")?;
            match events.get("frozen") {
                Some(1) => return Ok(()),
                Some(_) => sleep(FREEZE_POLL_INTERVAL),
                None => {
                    return Err(fs::parse_error(
                        &self.dir,
                        "cgroup.events",
                        "no \"frozen\" key",
                    ));
                }
            }
        }
        Err(CgroupError::FreezeTimeout {
            path: self.dir.clone(),
        })
    }

    pub(super) fn thaw(&self) -> Result<(), CgroupError> {
        fs::write(&self.dir, "cgroup.freeze", "0")
    }

    /// Frozen by its own cgroup.freeze; a freeze still settling is waited
    /// for.
    pub(super) fn is_frozen(&self) -> Result<bool, CgroupError> {
        match fs::read_opt(&self.dir, "cgroup.freeze")?
            .as_deref()
            .map(str::trim)
        {
            None | Some("0") => Ok(false),
            Some("1") => self.wait_frozen().map(|()| true),
            Some(other) => Err(fs::parse_error(&self.dir, "cgroup.freeze", other)),
        }
    }

    /// Kills every process at once through cgroup.kill (5.14+); `false`
    /// when the kernel has no such file.
    pub(super) fn kill(&self, signal: Signal) -> Result<bool, CgroupError> {
        if signal != Signal::SIGKILL || !self.dir.join("cgroup.kill").exists() {
            return Ok(false);
        }
        fs::write(&self.dir, "cgroup.kill", "1").map(|()| true)
    }

    pub(super) fn oom_kill_count(&self) -> Result<u64, CgroupError> {
        Ok(fs::read_keyed_opt(&self.dir, "memory.events")?
            .get("oom_kill")
            .copied()
            .unwrap_or(0))
    }

    pub(super) fn stats(&self) -> Result<Stats, CgroupError> {
        let d = &self.dir;
        let mut s = Stats::default();
        if let Some(usage) = fs::read_u64_opt(d, "memory.current")? {
            let m = &mut s.memory;
            let events = fs::read_keyed_opt(d, "memory.events")?;
            m.usage = stats::MemoryEntry {
                usage,
                max_usage: fs::read_u64_opt(d, "memory.peak")?.unwrap_or(0),
                limit: fs::read_u64_opt(d, "memory.max")?.unwrap_or(u64::MAX),
                failcnt: events.get("max").copied().unwrap_or(0),
            };
            m.oom_kill_count = events.get("oom_kill").copied().unwrap_or(0);
            // v1 reports memory+swap; v2 counts swap alone.
            if let Some(swap) = fs::read_u64_opt(d, "memory.swap.current")? {
                let limit = fs::read_u64_opt(d, "memory.swap.max")?.unwrap_or(u64::MAX);
                m.swap = stats::MemoryEntry {
                    usage: swap.saturating_add(usage),
                    max_usage: fs::read_u64_opt(d, "memory.swap.peak")?
                        .map_or(0, |p| p.saturating_add(m.usage.max_usage)),
                    limit: if limit == u64::MAX {
                        limit
                    } else {
                        limit.saturating_add(m.usage.limit)
                    },
                    failcnt: fs::read_keyed_opt(d, "memory.swap.events")?
                        .get("max")
                        .copied()
                        .unwrap_or(0),
                };
            }
            m.raw = fs::read_keyed_opt(d, "memory.stat")?;
            m.cache = m.raw.get("file").copied().unwrap_or(0);
        }
        let cpu = fs::read_keyed_opt(d, "cpu.stat")?;
        let us = |k: &str| cpu.get(k).copied().unwrap_or(0).saturating_mul(1000);
        s.cpu.usage.total = us("usage_usec");
        s.cpu.usage.user = us("user_usec");
        s.cpu.usage.kernel = us("system_usec");
        s.cpu.throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
        s.cpu.throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
        s.cpu.throttling.throttled_time = us("throttled_usec");
        match fs::read_u64_opt(d, "pids.current")? {
            Some(current) => {
                s.pids.current = current;
                s.pids.limit = fs::read_u64_opt(d, "pids.max")?.filter(|&l| l != u64::MAX);
            }
            // Without the pids controller, count the member processes.
            None => s.pids.current = u64::try_from(self.pids()?.len()).unwrap_or(u64::MAX),
        }
        if let Some(text) = fs::read_opt(d, "io.stat")? {
            s.blkio = stats::parse_io_stat(d, &text)?;
        }
        for size in stats::hugetlb_sizes(d, ".max") {
            let file = |what: &str| format!("hugetlb.{size}.{what}");
            let h = stats::HugetlbStats {
                usage: fs::read_u64(d, &file("current"))?,
                max_usage: 0,
                failcnt: fs::read_keyed_opt(d, &file("events"))?
                    .get("max")
                    .copied()
                    .unwrap_or(0),
            };
            s.hugetlb.insert(size, h);
        }
        Ok(s)
    }
}

/// Enables `controllers` (`+name` each) for the children of `dir`, all at
/// once or else one by one; one that cannot be enabled is left to fail
/// later, when a setting needs it.
fn enable_controllers(dir: &Path, controllers: &[String]) {
    if controllers.is_empty()
        || fs::write(dir, "cgroup.subtree_control", &controllers.join(" ")).is_ok()
    {
        return;
    }
    for c in controllers {
        if let Err(e) = fs::write(dir, "cgroup.subtree_control", c) {
            debug!(error = %e, "controller not enabled");
        }
    }
}

/// Refuses to use a cgroup in threaded mode (or made invalid by a process
/// in an ancestor), where memory, io and the like cannot work.
fn check_type(dir: &Path) -> Result<(), CgroupError> {
    match fs::read_opt(dir, "cgroup.type")?.as_deref().map(str::trim) {
        Some(t @ ("threaded" | "domain threaded" | "domain invalid")) => {
            Err(CgroupError::InvalidPath {
                path: dir.display().to_string(),
                reason: format!("the cgroup is of type \"{t}\", which cannot hold a container"),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
