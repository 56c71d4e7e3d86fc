//! Control groups: one container's cgroup, on a v1, hybrid or v2 host.
//!
//! A [`Manager`] is built from the container's `linux.cgroupsPath` (see
//! [`DEFAULT_PARENT`]) and the host's [`Hierarchy`]; it creates the cgroup,
//! applies `linux.resources` the way runc does, moves processes in,
//! freezes, reports usage and removes the cgroup again.
//!
//! Invariants: every directory touched is `<hierarchy mount>/<cgroup
//! path>` with a normalised absolute path free of `..`, so nothing lands
//! outside the hierarchy or relative to the caller's own cgroup; every
//! write error names the file and the value. Usual order for a container:
//! [`create`](Manager::create), [`apply`](Manager::apply) (v1 real-time
//! CPU budgets must precede the first task), [`add_task`](Manager::add_task).

mod devicefilter;
mod devices;
mod error;
mod fs;
mod hierarchy;
mod path;
mod resources;
mod stats;
#[cfg(test)]
mod testutil;
mod v1;
mod v2;

use std::fmt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

pub use devices::default_device_rules;
pub use error::CgroupError;
pub use hierarchy::Hierarchy;
pub use path::DEFAULT_PARENT;
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};

use hierarchy::Kind;

/// The cgroup version of a host; a hybrid host counts as v1, since the
/// resource controllers are all v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// cgroup v1 (or hybrid).
    V1,
    /// cgroup v2 (unified).
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
        })
    }
}

/// One container's cgroup, whatever the cgroup version.
#[derive(Debug)]
pub struct Manager {
    path: PathBuf,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    V1(v1::V1),
    V2(v2::V2),
}

impl Manager {
    /// The cgroup for `cgroups_path` (`linux.cgroupsPath`) of container
    /// `container_id` on this host. With `systemd`, the path has runc's
    /// `slice:prefix:name` form and maps to the directory systemd would
    /// use (the cgroup is still managed through cgroupfs).
    pub fn new(
        cgroups_path: Option<&str>,
        container_id: &str,
        systemd: bool,
    ) -> Result<Self, CgroupError> {
        Self::with_root(Hierarchy::detect()?, cgroups_path, container_id, systemd)
    }

    /// Like [`new`](Self::new) on the given hierarchies, e.g. a fake tree
    /// in a temp dir.
    pub fn with_root(
        hierarchy: Hierarchy,
        cgroups_path: Option<&str>,
        container_id: &str,
        systemd: bool,
    ) -> Result<Self, CgroupError> {
        let path = path::resolve(cgroups_path, container_id, systemd)?;
        let backend = match hierarchy.kind() {
            Kind::Unified { root } => Backend::V2(v2::V2::new(root, &path)),
            Kind::Legacy {
                controllers,
                unified,
            } => Backend::V1(v1::V1::new(controllers, unified.as_deref(), &path)),
        };
        Ok(Self { path, backend })
    }

    /// The cgroup version in use.
    pub fn version(&self) -> Version {
        match self.backend {
            Backend::V1(_) => Version::V1,
            Backend::V2(_) => Version::V2,
        }
    }

    /// The cgroup path relative to the hierarchy roots, e.g. `/rbox/abc`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the cgroup (and missing parents); an existing one is fine.
    pub fn create(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.create(),
            Backend::V2(c) => c.create(),
        }
    }

    /// Writes `linux.resources`. Settings the config leaves out are left
    /// alone; `devices: None` leaves device access as it is, while
    /// `Some(rules)` starts from deny-all (append
    /// [`default_device_rules`] to get runc's defaults).
    pub fn apply(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.apply(resources),
            Backend::V2(c) => c.apply(resources),
        }
    }

    /// Changes the limits of a running container: [`apply`](Self::apply)
    /// again.
    pub fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        self.apply(resources)
    }

    /// Moves process `pid` (and its threads) into the cgroup.
    pub fn add_task(&self, pid: i32) -> Result<(), CgroupError> {
        if pid <= 0 {
            return Err(CgroupError::InvalidPid { pid });
        }
        match &self.backend {
            Backend::V1(c) => c.add_task(pid),
            Backend::V2(c) => c.add_task(pid),
        }
    }

    /// Freezes every process of the cgroup and waits until they are.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.freeze(),
            Backend::V2(c) => c.freeze(),
        }
    }

    /// Thaws the cgroup.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.thaw(),
            Backend::V2(c) => c.thaw(),
        }
    }

    /// Whether the cgroup itself is frozen (not merely an ancestor).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.is_frozen(),
            Backend::V2(c) => c.is_frozen(),
        }
    }

    /// Every process in the cgroup and its descendants, sorted.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.pids(),
            Backend::V2(c) => c.pids(),
        }
    }

    /// Resource usage, for `events --stats`.
    pub fn stats(&self) -> Result<Stats, CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.stats(),
            Backend::V2(c) => c.stats(),
        }
    }

    /// How many processes the OOM killer has killed in the cgroup; compare
    /// two readings to detect an OOM event.
    pub fn oom_events(&self) -> Result<u64, CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.oom_kill_count(),
            Backend::V2(c) => c.oom_kill_count(),
        }
    }

    /// Sends `signal` to every process of the cgroup. They are frozen
    /// while it is sent (when a freezer is available), so none can fork
    /// away; SIGKILL on v2 uses cgroup.kill. The caller reaps its children.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if let Backend::V2(c) = &self.backend
            && c.kill(signal)?
        {
            return Ok(());
        }
        let frozen = self.freeze().is_ok();
        let result = self.pids().and_then(|pids| {
            pids.into_iter()
                .try_for_each(|pid| match kill(Pid::from_raw(pid), signal) {
                    Ok(()) | Err(Errno::ESRCH) => Ok(()),
                    Err(source) => Err(CgroupError::Signal {
                        pid,
                        signal,
                        source,
                    }),
                })
        });
        if frozen {
            self.thaw()?;
        }
        result
    }

    /// Whether the cgroup directory exists.
    pub fn exists(&self) -> bool {
        match &self.backend {
            Backend::V1(c) => c.exists(),
            Backend::V2(c) => c.exists(),
        }
    }

    /// Removes the cgroup and any child cgroups, leaves first. It must
    /// hold no processes; an already removed cgroup is fine.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        match &self.backend {
            Backend::V1(c) => c.destroy(),
            Backend::V2(c) => c.destroy(),
        }
    }
}
