//! Where the cgroup hierarchies are mounted.
//!
//! A pure v2 host has one cgroup2 mount (found by its statfs magic at
//! `/sys/fs/cgroup`); a v1 host has one `cgroup` mount per hierarchy,
//! found in `/proc/self/mountinfo`; a hybrid host has both, the cgroup2
//! mount usually at `/sys/fs/cgroup/unified`. Tests build a [`Hierarchy`]
//! from a temp dir or a mountinfo text pointing into one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::sys::statfs::{CGROUP2_SUPER_MAGIC, statfs};

use super::{CgroupError, Version};

/// The usual mount point of the cgroup filesystem.
const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// The v1 controllers (and the named systemd hierarchy) a container
/// cgroup is created in.
pub(super) const V1_CONTROLLERS: &[&str] = &[
    "cpuset",
    "cpu",
    "cpuacct",
    "memory",
    "devices",
    "freezer",
    "blkio",
    "pids",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "rdma",
    "misc",
    "name=systemd",
];

/// The mounted cgroup hierarchies of a host (or of a fake tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    /// Pure cgroup v2 mounted at `root`.
    Unified { root: PathBuf },
    /// cgroup v1: mount point per controller; `unified` is the cgroup2
    /// mount of a hybrid host.
    Legacy {
        controllers: BTreeMap<String, PathBuf>,
        unified: Option<PathBuf>,
    },
}

impl Hierarchy {
    /// Detects this host's layout: cgroup2 at `/sys/fs/cgroup` is pure v2;
    /// otherwise the v1 (and hybrid cgroup2) mounts of
    /// `/proc/self/mountinfo`.
    pub fn detect() -> Result<Self, CgroupError> {
        let root = Path::new(CGROUP_MOUNT);
        let fs = statfs(root).map_err(|e| CgroupError::NoHierarchy {
            reason: format!("statfs {CGROUP_MOUNT}: {e}"),
        })?;
        if fs.filesystem_type() == CGROUP2_SUPER_MAGIC {
            return Ok(Self::unified(root));
        }
        let mountinfo = "/proc/self/mountinfo";
        let text = std::fs::read_to_string(mountinfo).map_err(|source| CgroupError::Read {
            path: mountinfo.into(),
            source,
        })?;
        Self::from_mountinfo(&text)
    }

    /// A pure cgroup v2 hierarchy mounted at `root`.
    pub fn unified(root: impl Into<PathBuf>) -> Self {
        Self {
            kind: Kind::Unified { root: root.into() },
        }
    }

    /// The hierarchies described by a `/proc/self/mountinfo` text: v1 (or
    /// hybrid) when any `cgroup` mount carries a known controller, else
    /// pure v2 at the first `cgroup2` mount. Container paths are joined to
    /// the mount points whatever part of the hierarchy a mount shows (its
    /// root field), as runc does for absolute cgroup paths. A mount that a
    /// later one at the same mount point hides (a tmpfs over
    /// `/sys/fs/cgroup/unified`, say) does not count: its files are out of
    /// reach there.
    pub fn from_mountinfo(mountinfo: &str) -> Result<Self, CgroupError> {
        let mut controllers: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut unified: Option<PathBuf> = None;
        for line in mountinfo.lines() {
            let Some(crate::mountinfo::Entry {
                mount_point,
                fstype,
                super_options: options,
                ..
            }) = crate::mountinfo::parse_line(line)
            else {
                continue;
            };
            controllers.retain(|_, p| *p != mount_point);
            if unified.as_ref() == Some(&mount_point) {
                unified = None;
            }
            match fstype {
                "cgroup" => {
                    for opt in options.split(',') {
                        if V1_CONTROLLERS.contains(&opt) {
                            controllers
                                .entry(opt.to_owned())
                                .or_insert_with(|| mount_point.clone());
                        }
                    }
                }
                "cgroup2" => {
                    // Prefer the conventional mount points over bind mounts
                    // elsewhere.
                    let conventional = mount_point == Path::new(CGROUP_MOUNT)
                        || mount_point == Path::new(CGROUP_MOUNT).join("unified");
                    if unified.is_none() || conventional {
                        unified = Some(mount_point);
                    }
                }
                _ => {}
            }
        }
        if !controllers.is_empty() {
            return Ok(Self {
                kind: Kind::Legacy {
                    controllers,
                    unified,
                },
            });
        }
        match unified {
            Some(root) => Ok(Self::unified(root)),
            None => Err(CgroupError::NoHierarchy {
                reason: "mountinfo lists no cgroup or cgroup2 mount".into(),
            }),
        }
    }

    /// The cgroup version; a hybrid host counts as v1.
    pub fn version(&self) -> Version {
        match self.kind {
            Kind::Unified { .. } => Version::V2,
            Kind::Legacy { .. } => Version::V1,
        }
    }

    pub(super) fn kind(&self) -> &Kind {
        &self.kind
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime shared:5 - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_mountinfo() {
        let h = Hierarchy::from_mountinfo(HYBRID).expect("parses");
        assert_eq!(h.version(), Version::V1);
        let Kind::Legacy {
            controllers,
            unified,
        } = h.kind()
        else {
            panic!("not legacy")
        };
        assert_eq!(
            unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(controllers["cpu"], Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(
            controllers["net_prio"],
            Path::new("/sys/fs/cgroup/net_cls,net_prio")
        );
        assert_eq!(
            controllers["name=systemd"],
            Path::new("/sys/fs/cgroup/systemd")
        );
        assert!(!controllers.contains_key("xattr"));
        assert!(!controllers.contains_key("rw"));
    }

    #[test]
    fn hierarchies_hidden_by_a_later_mount_are_skipped() {
        let text = format!(
            "{HYBRID}\
50 41 0:60 / /sys/fs/cgroup/unified rw - tmpfs bench rw\n\
51 35 0:61 / /sys/fs/cgroup/memory rw - tmpfs other rw\n"
        );
        let h = Hierarchy::from_mountinfo(&text).expect("parses");
        let Kind::Legacy {
            controllers,
            unified,
        } = h.kind()
        else {
            panic!("not legacy")
        };
        assert_eq!(*unified, None);
        assert!(!controllers.contains_key("memory"));
        assert_eq!(controllers["cpu"], Path::new("/sys/fs/cgroup/cpu"));
    }

    #[test]
    fn pure_v2_mountinfo_and_escapes() {
        let text = "25 1 0:22 / /tmp/my\\040root rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::from_mountinfo(text).expect("parses");
        assert_eq!(h, Hierarchy::unified("/tmp/my root"));
        assert_eq!(h.version(), Version::V2);
    }

    #[test]
    fn no_cgroup_mounts() {
        let e = Hierarchy::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/sda rw\n").expect_err("none");
        assert!(e.to_string().contains("no cgroup hierarchy"), "{e}");
        // Garbage lines are skipped, not fatal.
        assert!(Hierarchy::from_mountinfo("garbage\n\n - \n").is_err());
    }
}
