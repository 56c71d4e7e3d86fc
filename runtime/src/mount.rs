//! Mount options and mount targets.
//!
//! Invariant: a mount target inside the rootfs is always resolved with
//! `openat2(RESOLVE_IN_ROOT)` from a directory fd of the rootfs, and the
//! mount is made on `/proc/self/fd/N` of that resolved fd, so a symlink in
//! the image can never redirect a mount onto the host.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;

use crate::error::{Error, Result};
use crate::sys;

/// Parsed `options` of one OCI mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags for the mount call itself.
    pub flags: MsFlags,
    /// Flags that were explicitly cleared (`rw`, `suid`, ...).
    pub cleared: MsFlags,
    /// Propagation changes applied after mounting.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific data (`size=64m`, `mode=755`, ...).
    pub data: Vec<String>,
    /// Recursive attributes (`rro`, `rnosuid`, ...) applied with
    /// mount_setattr over the whole subtree.
    pub recursive_set: u64,
    /// `tmpcopyup`: fill a new tmpfs with what the image had there.
    pub tmpcopyup: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            recursive_set: 0,
            tmpcopyup: false,
        }
    }
}

impl MountOptions {
    /// Whether this is a bind mount (`bind` or `rbind`).
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// The data string for mount(2), or `None` when empty.
    pub fn data(&self) -> Option<String> {
        (!self.data.is_empty()).then(|| self.data.join(","))
    }
}

/// Parses OCI mount options the way runc does: known flag names set or
/// clear MS_* bits, propagation names are collected, and everything else is
/// passed to the filesystem as data.
pub fn parse_options(options: &[String]) -> MountOptions {
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear): (MsFlags, MsFlags) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" | "unbindable"
            | "runbindable" => {
                if let Some(p) = propagation_flags(opt) {
                    o.propagation.push(p);
                }
                continue;
            }
            "rro" => {
                o.recursive_set |= libc::MOUNT_ATTR_RDONLY;
                continue;
            }
            "rnosuid" => {
                o.recursive_set |= libc::MOUNT_ATTR_NOSUID;
                continue;
            }
            "rnodev" => {
                o.recursive_set |= libc::MOUNT_ATTR_NODEV;
                continue;
            }
            "rnoexec" => {
                o.recursive_set |= libc::MOUNT_ATTR_NOEXEC;
                continue;
            }
            "rnoatime" => {
                o.recursive_set |= libc::MOUNT_ATTR_NOATIME;
                continue;
            }
            // Options runc understands that are no-ops here or handled by
            // the caller: copy-up of tmpfs content and SELinux relabel hints.
            "tmpcopyup" => {
                o.tmpcopyup = true;
                continue;
            }
            // SELinux relabel hints (handled by the engine that relabels)
            // and recursive clears, which are the defaults of a new mount.
            "z" | "Z" | "rrw" | "rsuid" | "rdev" | "rexec" | "ratime" => continue,
            other => {
                o.data.push(other.to_string());
                continue;
            }
        };
        o.flags.insert(set);
        o.flags.remove(clear);
        o.cleared.insert(clear);
        o.cleared.remove(set);
    }
    o
}

/// Maps a propagation name (`rslave`, `private`, ...) to mount flags.
pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// Normalises a container path to components below `/`, rejecting nothing:
/// `..` is resolved lexically against the root (it cannot climb above it).
pub fn clean_container_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::InvalidConfig(format!("path {} contains a NUL byte", p.display())))
}

/// What to create when a mount target does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// A directory.
    Dir,
    /// An empty regular file (bind mounts of files, devices).
    File,
}

/// Opens (creating if needed) `target` inside the rootfs `root`, never
/// leaving it. Missing components are created one at a time relative to
/// the fd of their already-resolved parent; a symlink on the way is
/// followed by hand, as if the rootfs were `/` (so a dangling absolute link
/// makes its target inside the rootfs, as runc's securejoin does).
pub fn open_in_root(root: BorrowedFd<'_>, target: &Path, kind: TargetKind) -> Result<OwnedFd> {
    let rel = clean_container_path(target);
    let in_root = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS;
    let whole = cstr(&if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel.clone()
    })?;
    let fail = |what: &str, e: nix::Error| Error::Sys {
        call: format!("{what} mount target {}", target.display()),
        source: e,
    };
    match sys::openat2(root, &whole, libc::O_PATH, 0, in_root) {
        Ok(fd) => return Ok(fd),
        Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(fail("resolving", e)),
    }
    // Single components below a directory we resolved ourselves: no
    // symlink may be crossed behind our back.
    let step = sys::RESOLVE_BENEATH | sys::RESOLVE_NO_SYMLINKS;
    let mut todo: std::collections::VecDeque<std::ffi::OsString> =
        rel.components().map(|c| c.as_os_str().to_owned()).collect();
    let mut done = PathBuf::new();
    let mut cur = sys::openat2(root, c".", libc::O_PATH, 0, in_root)
        .map_err(|e| fail("opening the rootfs for", e))?;
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let last = todo.is_empty();
        let cname = cstr(Path::new(&name))?;
        let st = nix::sys::stat::fstatat(
            cur.as_fd(),
            cname.as_c_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        match st {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                links += 1;
                if links > 40 {
                    return Err(fail("resolving", nix::errno::Errno::ELOOP));
                }
                let link = nix::fcntl::readlinkat(cur.as_fd(), cname.as_c_str())
                    .map_err(|e| fail("reading a symlink in", e))?;
                // Splice the link in and restart from the root: `done`
                // holds no symlinks, so `..` is resolved lexically.
                let mut next = if Path::new(&link).is_absolute() {
                    PathBuf::new()
                } else {
                    done.clone()
                };
                next.push(&link);
                for rest in &todo {
                    next.push(rest);
                }
                todo = clean_container_path(&next)
                    .components()
                    .map(|c| c.as_os_str().to_owned())
                    .collect();
                done = PathBuf::new();
                cur = sys::openat2(root, c".", libc::O_PATH, 0, in_root)
                    .map_err(|e| fail("opening the rootfs for", e))?;
                continue;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::ENOENT) => {
                let created = if last && kind == TargetKind::File {
                    sys::openat2(
                        cur.as_fd(),
                        &cname,
                        libc::O_CREAT | libc::O_WRONLY | libc::O_EXCL,
                        0o644,
                        step,
                    )
                    .map(drop)
                } else {
                    nix::sys::stat::mkdirat(
                        cur.as_fd(),
                        cname.as_c_str(),
                        nix::sys::stat::Mode::from_bits_truncate(0o755),
                    )
                };
                match created {
                    Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
                    Err(e) => return Err(fail("creating", e)),
                }
            }
            Err(e) => return Err(fail("resolving", e)),
        }
        cur = sys::openat2(cur.as_fd(), &cname, libc::O_PATH, 0, step)
            .map_err(|e| fail("opening", e))?;
        done.push(&name);
    }
    Ok(cur)
}

/// `/proc/self/fd/N` for an fd: the path through which a mount lands on
/// exactly the resolved inode.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// mount(2) with the error naming source, target and type.
pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &Path,
) -> Result<()> {
    nix::mount::mount(source, target, fstype, flags, data).map_err(|e| Error::Sys {
        call: format!(
            "mount {} on {} (type {}, options {:?}{})",
            source.map(|s| s.display().to_string()).unwrap_or_default(),
            what.display(),
            fstype.unwrap_or("none"),
            flags,
            data.map(|d| format!(", data {d}")).unwrap_or_default()
        ),
        source: e,
    })
}

/// Recursively binds `src` onto the resolved `target`, then remounts the
/// new mount (reached again through the root, since `target` is now
/// covered) with `flags`. Returns the fd of the new mount.
pub fn rbind_remount(
    root: BorrowedFd<'_>,
    src: &Path,
    target: BorrowedFd<'_>,
    dest: &Path,
    flags: MsFlags,
) -> Result<OwnedFd> {
    mount(
        Some(src),
        &fd_path(target),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        dest,
    )?;
    let top = open_in_root(root, dest, TargetKind::Dir)?;
    mount(
        None,
        &fd_path(top.as_fd()),
        None,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
        None,
        dest,
    )?;
    Ok(top)
}

/// Applies mount_setattr(AT_RECURSIVE) attributes to a mounted subtree.
pub fn set_recursive_attrs(fd: BorrowedFd<'_>, attrs: u64, what: &Path) -> Result<()> {
    if attrs == 0 {
        return Ok(());
    }
    sys_mount_setattr(fd, attrs).map_err(|e| Error::Sys {
        call: format!("mount_setattr on {}", what.display()),
        source: e,
    })
}

fn sys_mount_setattr(fd: BorrowedFd<'_>, attrs: u64) -> nix::Result<()> {
    crate::sys::mount_setattr_recursive(fd, attrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOptions {
        parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn parses_flags_and_data() {
        let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert!(
            o.flags
                .contains(MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME)
        );
        assert_eq!(o.data().as_deref(), Some("mode=755,size=65536k"));
        assert!(!o.is_bind());
    }

    #[test]
    fn later_options_win() {
        let o = opts(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        let o = opts(&["rw", "ro"]);
        assert!(o.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn bind_and_propagation() {
        let o = opts(&["rbind", "rprivate", "ro"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        let o = opts(&["rro", "rnosuid"]);
        assert_eq!(
            o.recursive_set,
            libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID
        );
    }

    #[test]
    fn container_paths_cannot_climb() {
        assert_eq!(
            clean_container_path(Path::new("/../../etc/../x")),
            PathBuf::from("x")
        );
        assert_eq!(clean_container_path(Path::new("a/b")), PathBuf::from("a/b"));
    }

    #[test]
    fn open_in_root_stays_inside_on_symlink_escape() {
        let dir = std::env::temp_dir().join(format!("rbox-mnt-test-{}", std::process::id()));
        let root = dir.join("root");
        let outside = dir.join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // An absolute symlink pointing at the host directory.
        std::os::unix::fs::symlink(&outside, root.join("evil")).unwrap();
        let rootfd = std::fs::File::open(&root).unwrap();
        let fd = open_in_root(rootfd.as_fd(), Path::new("/evil/target"), TargetKind::Dir).unwrap();
        drop(fd);
        assert!(!outside.join("target").exists(), "escaped the root");
        // The symlink was followed inside the root instead.
        assert!(
            root.join(outside.strip_prefix("/").unwrap())
                .join("target")
                .is_dir()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
