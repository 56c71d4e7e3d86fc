//! The `cgroup` mount type: gives the container its own view of the cgroup
//! hierarchies, matching the host's layout (v2, v1 or hybrid).
//!
//! With a new cgroup namespace the real filesystems are mounted (the
//! namespace roots them at the container's cgroup); without one, the
//! container's own cgroup directories are bind-mounted from the host, so the
//! container never sees its siblings either way.

use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use crate::error::{Error, Result};
use crate::mount::{self, MountOptions, TargetKind, fd_path, open_in_root};

/// One cgroup hierarchy mounted on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hierarchy {
    /// Where the host mounted it.
    pub mount_point: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Controller and name options (`memory`, `name=systemd`); empty for v2.
    pub controllers: Vec<String>,
}

/// Parses the cgroup hierarchies out of a mountinfo text, skipping those
/// hidden by a later mount at the same mount point.
pub(crate) fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out: Vec<Hierarchy> = Vec::new();
    for e in crate::mountinfo::entries(mountinfo) {
        // A later mount on the same point hides an earlier hierarchy.
        out.retain(|h| h.mount_point != e.mount_point);
        if e.fstype != "cgroup" && e.fstype != "cgroup2" {
            continue;
        }
        let controllers = if e.fstype == "cgroup" {
            e.super_options
                .split(',')
                .filter(|o| {
                    !matches!(*o, "rw" | "ro" | "xattr" | "noprefix" | "clone_children")
                        && !o.starts_with("release_agent=")
                        && !o.starts_with("cpuset_v2_mode")
                })
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        out.push(Hierarchy {
            fstype: e.fstype.to_string(),
            mount_point: e.mount_point,
            controllers,
        });
    }
    out
}

/// The calling process's cgroup path in the hierarchy with these
/// controllers, from /proc/self/cgroup.
pub(crate) fn own_path(proc_cgroup: &str, h: &Hierarchy) -> Option<String> {
    for line in proc_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let matches = if h.fstype == "cgroup2" {
            ctrls.is_empty()
        } else {
            let mut a: Vec<&str> = ctrls.split(',').collect();
            let mut b: Vec<&str> = h.controllers.iter().map(String::as_str).collect();
            a.sort_unstable();
            b.sort_unstable();
            a == b
        };
        if matches {
            return Some(path.to_string());
        }
    }
    None
}

fn read(p: &str) -> Result<String> {
    std::fs::read_to_string(p).map_err(|source| Error::Io {
        op: "reading",
        path: p.into(),
        source,
    })
}

/// Mounts the cgroup filesystems at `dest` inside the rootfs.
pub(crate) fn mount_cgroups(
    root: BorrowedFd<'_>,
    dest: &Path,
    opts: &MountOptions,
    new_cgroupns: bool,
) -> Result<()> {
    let all = hierarchies(&read("/proc/self/mountinfo")?);
    let proc_cgroup = read("/proc/self/cgroup")?;
    let flags = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let pure_v2 = all
        .iter()
        .any(|h| h.fstype == "cgroup2" && h.mount_point == Path::new("/sys/fs/cgroup"));
    if pure_v2 {
        let h = all
            .iter()
            .find(|h| h.mount_point == Path::new("/sys/fs/cgroup"))
            .expect("checked just above");
        return mount_one(root, dest, h, &proc_cgroup, flags, ro, new_cgroupns);
    }
    // v1 or hybrid: a tmpfs holding one directory per hierarchy.
    let target = open_in_root(root, dest, TargetKind::Dir)?;
    mount::mount(
        Some(Path::new("tmpfs")),
        &fd_path(target.as_fd()),
        Some("tmpfs"),
        flags,
        Some("mode=755"),
        dest,
    )?;
    for h in all
        .iter()
        .filter(|h| h.mount_point.starts_with("/sys/fs/cgroup"))
    {
        let Some(name) = h.mount_point.file_name() else {
            continue;
        };
        mount_one(
            root,
            &dest.join(name),
            h,
            &proc_cgroup,
            flags,
            ro,
            new_cgroupns,
        )?;
    }
    if ro {
        let top = open_in_root(root, dest, TargetKind::Dir)?;
        mount::mount(
            None,
            &fd_path(top.as_fd()),
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
            Some("mode=755"),
            dest,
        )?;
    }
    Ok(())
}

fn mount_one(
    root: BorrowedFd<'_>,
    dest: &Path,
    h: &Hierarchy,
    proc_cgroup: &str,
    flags: MsFlags,
    ro: bool,
    new_cgroupns: bool,
) -> Result<()> {
    let target = open_in_root(root, dest, TargetKind::Dir)?;
    let ro_flag = if ro {
        MsFlags::MS_RDONLY
    } else {
        MsFlags::empty()
    };
    if new_cgroupns {
        let data = h.controllers.join(",");
        return mount::mount(
            Some(Path::new(&h.fstype)),
            &fd_path(target.as_fd()),
            Some(&h.fstype),
            flags | ro_flag,
            (!data.is_empty()).then_some(data.as_str()),
            dest,
        );
    }
    let own = own_path(proc_cgroup, h).unwrap_or_else(|| "/".into());
    let src = h.mount_point.join(own.trim_start_matches('/'));
    mount::rbind_remount(root, &src, target.as_fd(), dest, flags | ro_flag).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
33 30 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn parses_hybrid_layout() {
        let h = hierarchies(HYBRID);
        assert_eq!(h.len(), 4);
        assert_eq!(h[0].controllers, vec!["cpu"]);
        assert_eq!(h[2].controllers, vec!["name=systemd"]);
        assert_eq!(h[3].fstype, "cgroup2");
    }

    #[test]
    fn skips_hierarchies_hidden_by_a_later_mount() {
        let text = format!("{HYBRID}40 34 0:40 / /sys/fs/cgroup/unified rw - tmpfs x rw\n");
        let h = hierarchies(&text);
        assert_eq!(h.len(), 3);
        assert!(h.iter().all(|h| h.fstype == "cgroup"));
    }

    #[test]
    fn finds_own_path_per_hierarchy() {
        let h = hierarchies(HYBRID);
        let pc = "9:name=systemd:/\n4:memory:/rbox/c1\n1:cpu:/rbox/c1\n0::/rbox/c1\n";
        assert_eq!(own_path(pc, &h[1]).as_deref(), Some("/rbox/c1"));
        assert_eq!(own_path(pc, &h[2]).as_deref(), Some("/"));
        assert_eq!(own_path(pc, &h[3]).as_deref(), Some("/rbox/c1"));
    }
}
