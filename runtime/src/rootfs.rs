//! The container's filesystem view, built inside its new mount namespace:
//! bind the rootfs onto itself, mount `mounts[]` into it, create devices and
//! /dev links, pivot_root (or move+chroot), then mask and freeze paths.
//!
//! Runs in the container init only. Every target inside the rootfs is
//! resolved through [`crate::mount::open_in_root`].

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::error::{Error, Result};
use crate::mount::{self, TargetKind, fd_path, open_in_root, parse_options};

/// What rootfs setup needs beyond the spec.
pub(crate) struct RootfsContext<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub bundle: &'a Path,
    /// A new user namespace: devices are bind-mounted, not created.
    pub in_userns: bool,
    /// A new cgroup namespace: cgroup filesystems are mounted, not bound.
    pub new_cgroupns: bool,
    /// SELinux is enabled: mounts get `mountLabel` as their context.
    pub selinux: bool,
}

fn sys_err(call: String) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys { call, source }
}

/// Everything before pivot_root.
pub(crate) fn prepare(ctx: &RootfsContext<'_>) -> Result<()> {
    let linux = ctx.spec.linux().as_ref();
    // Host mount events must not propagate into the container, and ours not
    // back to the host.
    let prop = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .map(|p| {
            mount::propagation_flags(p).ok_or_else(|| {
                Error::InvalidConfig(format!(
                    "linux.rootfsPropagation {p:?} is not one of private, rprivate, shared, rshared, slave, rslave, unbindable, runbindable"
                ))
            })
        })
        .transpose()?
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    mount::mount(
        None,
        Path::new("/"),
        None,
        prop | MsFlags::MS_REC,
        None,
        Path::new("/"),
    )?;
    make_parent_private(ctx.rootfs)?;
    mount::mount(
        Some(ctx.rootfs),
        ctx.rootfs,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        ctx.rootfs,
    )?;
    let root = File::open(ctx.rootfs).map_err(|source| Error::Io {
        op: "opening rootfs",
        path: ctx.rootfs.to_path_buf(),
        source,
    })?;
    let mounts = ctx.spec.mounts().as_deref().unwrap_or_default();
    for m in mounts {
        mount_entry(ctx, root.as_fd(), m)?;
    }
    let old_umask = nix::sys::stat::umask(Mode::empty());
    let devices = default_devices()
        .into_iter()
        .chain(linux.and_then(|l| l.devices().clone()).unwrap_or_default());
    for d in devices {
        create_device(ctx, root.as_fd(), &d)?;
    }
    nix::sys::stat::umask(old_umask);
    dev_symlinks(root.as_fd(), mounts)?;
    Ok(())
}

/// pivot_root needs the new root's parent mount not to be shared.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").map_err(|source| Error::Io {
        op: "reading",
        path: "/proc/self/mountinfo".into(),
        source,
    })?;
    // The deepest mount point that is a prefix of rootfs.
    let best = crate::mountinfo::entries(&info)
        .filter(|e| rootfs.starts_with(&e.mount_point))
        .max_by_key(|e| e.mount_point.as_os_str().len());
    if let Some(e) = best
        && e.optional.iter().any(|o| o.starts_with("shared:"))
    {
        mount::mount(
            None,
            &e.mount_point,
            None,
            MsFlags::MS_PRIVATE,
            None,
            &e.mount_point,
        )?;
    }
    Ok(())
}

fn mount_entry(ctx: &RootfsContext<'_>, root: BorrowedFd<'_>, m: &Mount) -> Result<()> {
    let dest = m.destination();
    let opts = parse_options(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().as_deref().unwrap_or("");
    if typ == "bind" || opts.is_bind() {
        return bind_entry(ctx, root, m, &opts);
    }
    if typ == "cgroup" || typ == "cgroup2" {
        return crate::rootfs_cgroup::mount_cgroups(root, dest, &opts, ctx.new_cgroupns);
    }
    let target = open_in_root(root, dest, TargetKind::Dir)?;
    refuse_proc_target(target.as_fd(), dest, typ)?;
    let data = crate::lsm::mount_data(
        opts.data(),
        typ,
        ctx.spec
            .linux()
            .as_ref()
            .and_then(|l| l.mount_label().as_deref()),
        ctx.selinux,
    );
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
    let copyup = opts.tmpcopyup && typ == "tmpfs";
    // With tmpcopyup the tmpfs is filled first and made read-only after.
    let first_flags = if copyup {
        opts.flags - MsFlags::MS_REMOUNT - MsFlags::MS_RDONLY
    } else {
        opts.flags - MsFlags::MS_REMOUNT
    };
    let res = mount::mount(
        Some(&source),
        &fd_path(target.as_fd()),
        Some(typ),
        first_flags,
        data.as_deref(),
        dest,
    );
    if copyup && res.is_ok() {
        // `target` still names the covered directory of the image.
        let top = open_in_root(root, dest, TargetKind::Dir)?;
        copy_tree(&fd_path(target.as_fd()), &fd_path(top.as_fd()), dest)?;
        if opts.flags.contains(MsFlags::MS_RDONLY) {
            mount::mount(
                None,
                &fd_path(top.as_fd()),
                Some(typ),
                MsFlags::MS_REMOUNT | (opts.flags - MsFlags::MS_REMOUNT),
                data.as_deref(),
                dest,
            )?;
        }
    }
    match res {
        Err(Error::Sys {
            source: nix::errno::Errno::EPERM,
            ..
        }) if typ == "sysfs" => {
            // sysfs cannot be mounted without owning the network namespace:
            // give the host's /sys read-only instead, as runc does.
            let top = mount::rbind_remount(
                root,
                Path::new("/sys"),
                target.as_fd(),
                dest,
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            )?;
            // The host's submounts of /sys too, not just the top.
            mount::set_recursive_attrs(
                top.as_fd(),
                libc::MOUNT_ATTR_RDONLY
                    | libc::MOUNT_ATTR_NOSUID
                    | libc::MOUNT_ATTR_NODEV
                    | libc::MOUNT_ATTR_NOEXEC,
                dest,
            )?;
        }
        other => other?,
    }
    finish_entry(root, dest, &opts)
}

/// Copies a directory tree for `tmpcopyup`: directories, regular files
/// and symlinks with modes, owners and times; symlinks are recreated,
/// never followed; device nodes and FIFOs are recreated with mknod.
fn copy_tree(src: &Path, dst: &Path, dest: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let io = |op: &'static str, p: &Path| {
        let path = dest.join(p.file_name().unwrap_or_default());
        move |source| Error::Io { op, path, source }
    };
    let rd = std::fs::read_dir(src).map_err(io("tmpcopyup: reading", src))?;
    for e in rd {
        let e = e.map_err(io("tmpcopyup: reading", src))?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let md = std::fs::symlink_metadata(&from).map_err(io("tmpcopyup: stat", &from))?;
        let ft = md.file_type();
        if ft.is_symlink() {
            let link = std::fs::read_link(&from).map_err(io("tmpcopyup: readlink", &from))?;
            std::os::unix::fs::symlink(&link, &to).map_err(io("tmpcopyup: symlink", &from))?;
        } else if ft.is_dir() {
            std::fs::create_dir(&to).map_err(io("tmpcopyup: mkdir", &from))?;
            copy_tree(&from, &to, &dest.join(e.file_name()))?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to).map_err(io("tmpcopyup: copy", &from))?;
        } else {
            let kind = SFlag::from_bits_truncate(md.mode() & libc::S_IFMT);
            nix::sys::stat::mknod(&to, kind, Mode::from_bits_truncate(md.mode()), md.rdev())
                .map_err(sys_err(format!("tmpcopyup: mknod {}", from.display())))?;
        }
        let _ = nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &to,
            Some(nix::unistd::Uid::from_raw(md.uid())),
            Some(nix::unistd::Gid::from_raw(md.gid())),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        );
        if !ft.is_symlink() {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(md.mode() & 0o7777))
                .map_err(io("tmpcopyup: chmod", &from))?;
        }
    }
    Ok(())
}

/// Files under /proc that may be mounted over (lxcfs-style), as runc allows.
const PROC_MOUNT_OK: [&str; 10] = [
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/net/dev",
    "/proc/sys/kernel/ns_last_pid",
];

/// Refuses a mount whose target resolved onto procfs (other than procfs
/// itself on /proc and the allowed files): an image symlink such as
/// `/vol -> /proc/self/attr` would otherwise let a volume stand in for the
/// files the init trusts (runc's checkProcMount, CVE-2019-16884).
fn refuse_proc_target(fd: BorrowedFd<'_>, dest: &Path, typ: &str) -> Result<()> {
    let fs = nix::sys::statfs::fstatfs(fd).map_err(sys_err(format!(
        "statfs of mount target {}",
        dest.display()
    )))?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Ok(());
    }
    let clean = Path::new("/").join(mount::clean_container_path(dest));
    if (typ == "proc" && clean == Path::new("/proc"))
        || PROC_MOUNT_OK.iter().any(|p| clean == Path::new(p))
    {
        return Ok(());
    }
    Err(Error::InvalidConfig(format!(
        "mount destination {} resolves into /proc: refusing to mount there",
        dest.display()
    )))
}

fn finish_entry(root: BorrowedFd<'_>, dest: &Path, opts: &mount::MountOptions) -> Result<()> {
    if opts.propagation.is_empty() && opts.recursive_set == 0 {
        return Ok(());
    }
    let top = open_in_root(root, dest, TargetKind::Dir)?;
    for p in &opts.propagation {
        mount::mount(None, &fd_path(top.as_fd()), None, *p, None, dest)?;
    }
    mount::set_recursive_attrs(top.as_fd(), opts.recursive_set, dest)
}

fn bind_entry(
    ctx: &RootfsContext<'_>,
    root: BorrowedFd<'_>,
    m: &Mount,
    opts: &mount::MountOptions,
) -> Result<()> {
    let dest = m.destination();
    let src = m.source().clone().ok_or_else(|| {
        Error::InvalidConfig(format!("bind mount to {} has no source", dest.display()))
    })?;
    let src = if src.is_absolute() {
        src
    } else {
        ctx.bundle.join(src)
    };
    let meta = std::fs::metadata(&src).map_err(|source| Error::Io {
        op: "bind mount source",
        path: src.clone(),
        source,
    })?;
    let kind = if meta.is_dir() {
        TargetKind::Dir
    } else {
        TargetKind::File
    };
    let target = open_in_root(root, dest, kind)?;
    refuse_proc_target(target.as_fd(), dest, "bind")?;
    mount::mount(
        Some(&src),
        &fd_path(target.as_fd()),
        None,
        MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC),
        None,
        dest,
    )?;
    let extra = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    if !extra.is_empty() {
        // The fd we mounted on is now covered: reopen to reach the new mount.
        let top = open_in_root(root, dest, kind)?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
        let path = fd_path(top.as_fd());
        if let Err(e) = mount::mount(None, &path, None, flags, None, dest) {
            // In a user namespace the source's nosuid/nodev/noexec/ro are
            // locked and must be repeated on remount.
            let locked = locked_flags(&src);
            if locked.is_empty() {
                return Err(e);
            }
            mount::mount(None, &path, None, flags | locked, None, dest)?;
        }
    }
    finish_entry(root, dest, opts)
}

fn locked_flags(p: &Path) -> MsFlags {
    let Ok(st) = nix::sys::statvfs::statvfs(p) else {
        return MsFlags::empty();
    };
    use nix::sys::statvfs::FsFlags;
    let f = st.flags();
    let mut out = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            out |= ms;
        }
    }
    out
}

fn char_dev(path: &str, major: i64, minor: i64) -> LinuxDevice {
    let mut d = LinuxDevice::default();
    d.set_path(PathBuf::from(path));
    d.set_typ(LinuxDeviceType::C);
    d.set_major(major);
    d.set_minor(minor);
    d.set_file_mode(Some(0o666));
    d.set_uid(Some(0));
    d.set_gid(Some(0));
    d
}

/// The devices every container gets (runtime-spec "Default Devices").
pub(crate) fn default_devices() -> Vec<LinuxDevice> {
    vec![
        char_dev("/dev/null", 1, 3),
        char_dev("/dev/zero", 1, 5),
        char_dev("/dev/full", 1, 7),
        char_dev("/dev/random", 1, 8),
        char_dev("/dev/urandom", 1, 9),
        char_dev("/dev/tty", 5, 0),
    ]
}

fn create_device(ctx: &RootfsContext<'_>, root: BorrowedFd<'_>, d: &LinuxDevice) -> Result<()> {
    let path = d.path();
    let rel = mount::clean_container_path(path);
    if !rel.starts_with("dev") {
        return Err(Error::InvalidConfig(format!(
            "linux.devices path {} is not under /dev",
            path.display()
        )));
    }
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::InvalidConfig(format!(
                "linux.devices {}: type \"a\" is only valid in cgroup rules",
                path.display()
            )));
        }
    };
    if ctx.in_userns {
        // mknod is not allowed in a user namespace: bind the host's node.
        let target = open_in_root(root, path, TargetKind::File)?;
        return mount::mount(
            Some(path),
            &fd_path(target.as_fd()),
            None,
            MsFlags::MS_BIND,
            None,
            path,
        );
    }
    let parent = rel.parent().unwrap_or(Path::new(""));
    let name = rel.file_name().ok_or_else(|| {
        Error::InvalidConfig(format!("device path {} has no name", path.display()))
    })?;
    let dir = open_in_root(root, parent, TargetKind::Dir)?;
    // O_PATH fds cannot be used with mknodat: reopen the directory.
    let dirfd = crate::sys::openat2(dir.as_fd(), c".", libc::O_DIRECTORY | libc::O_RDONLY, 0, 0)
        .map_err(sys_err(format!("opening {}", parent.display())))?;
    let mode = Mode::from_bits_truncate(d.file_mode().unwrap_or(0o666));
    let dev = nix::sys::stat::makedev(d.major() as u64, d.minor() as u64);
    // Replace whatever the image put there (runc does the same).
    match nix::unistd::unlinkat(dirfd.as_fd(), name, nix::unistd::UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(sys_err(format!("removing {}", path.display()))(e)),
    }
    nix::sys::stat::mknodat(dirfd.as_fd(), name, kind, mode, dev)
        .map_err(sys_err(format!("mknod {}", path.display())))?;
    nix::unistd::fchownat(
        dirfd.as_fd(),
        name,
        d.uid().map(nix::unistd::Uid::from_raw),
        d.gid().map(nix::unistd::Gid::from_raw),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(sys_err(format!("chown {}", path.display())))
}

fn dev_symlinks(root: BorrowedFd<'_>, mounts: &[Mount]) -> Result<()> {
    let dev = open_in_root(root, Path::new("/dev"), TargetKind::Dir)?;
    let devfd = crate::sys::openat2(dev.as_fd(), c".", libc::O_DIRECTORY | libc::O_RDONLY, 0, 0)
        .map_err(sys_err("opening /dev".into()))?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    let has_pts = mounts
        .iter()
        .any(|m| mount::clean_container_path(m.destination()) == Path::new("dev/pts"));
    if has_pts {
        let _ = nix::unistd::unlinkat(
            devfd.as_fd(),
            "ptmx",
            nix::unistd::UnlinkatFlags::NoRemoveDir,
        );
        links.push(("pts/ptmx", "ptmx"));
    }
    for (target, name) in links {
        match nix::unistd::symlinkat(target, devfd.as_fd(), name) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(sys_err(format!("symlink /dev/{name}"))(e)),
        }
    }
    Ok(())
}

/// Switches the process root to `rootfs`.
pub(crate) fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        nix::unistd::chdir(rootfs).map_err(sys_err(format!("chdir {}", rootfs.display())))?;
        mount::mount(
            Some(rootfs),
            Path::new("/"),
            None,
            MsFlags::MS_MOVE,
            None,
            rootfs,
        )?;
        nix::unistd::chroot(".").map_err(sys_err("chroot .".into()))?;
        nix::unistd::chdir("/").map_err(sys_err("chdir /".into()))?;
        return Ok(());
    }
    let old = File::open("/").map_err(|source| Error::Io {
        op: "opening",
        path: "/".into(),
        source,
    })?;
    let new = File::open(rootfs).map_err(|source| Error::Io {
        op: "opening rootfs",
        path: rootfs.into(),
        source,
    })?;
    nix::unistd::fchdir(new.as_fd()).map_err(sys_err("fchdir rootfs".into()))?;
    nix::unistd::pivot_root(".", ".").map_err(sys_err(format!(
        "pivot_root {} (use --no-pivot when the rootfs is on a ramfs)",
        rootfs.display()
    )))?;
    nix::unistd::fchdir(old.as_fd()).map_err(sys_err("fchdir old root".into()))?;
    // Keep unmount events of the old root from reaching the host.
    mount::mount(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
        Path::new("old root"),
    )?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(sys_err("unmount old root".into()))?;
    nix::unistd::chdir("/").map_err(sys_err("chdir /".into()))
}

/// After pivot_root: the process's working directory, masked and
/// read-only paths, read-only root.
pub(crate) fn finish(spec: &Spec) -> Result<()> {
    if let Some(p) = spec.process().as_ref() {
        create_cwd(p.cwd())?;
    }
    let linux = spec.linux().as_ref();
    if let Some(l) = linux {
        for p in l.readonly_paths().as_deref().unwrap_or_default() {
            readonly_path(Path::new(p))?;
        }
        for p in l.masked_paths().as_deref().unwrap_or_default() {
            mask_path(Path::new(p))?;
        }
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        let root = Path::new("/");
        if mount::mount(None, root, None, flags, None, root).is_err() {
            mount::mount(None, root, None, flags | locked_flags(root), None, root)?;
        }
    }
    Ok(())
}

/// Creates `process.cwd` (mode 0755, owned by the container's root) when
/// the image lacks it, as runc and crun do: images often name a working
/// directory they never ship. Runs after pivot_root, so the path, however
/// untrusted, resolves inside the container's root (`..` and absolute
/// symlinks stop at it), and before the root is made read-only.
fn create_cwd(cwd: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .map_err(|source| Error::Io {
            op: "creating process.cwd",
            path: cwd.into(),
            source,
        })
}

fn readonly_path(p: &Path) -> Result<()> {
    match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        _ => {}
    }
    mount::mount(
        Some(p),
        p,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        p,
    )?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC
        | MsFlags::MS_REC;
    if mount::mount(None, p, None, flags, None, p).is_err() {
        mount::mount(None, p, None, flags | locked_flags(p), None, p)?;
    }
    Ok(())
}

fn mask_path(p: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                op: "masking",
                path: p.into(),
                source,
            });
        }
        Ok(m) => m,
    };
    if meta.is_dir() {
        mount::mount(
            Some(Path::new("tmpfs")),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
            p,
        )
    } else if meta.file_type().is_symlink() {
        Ok(())
    } else {
        // Bind exactly the null device: a /dev/null the image replaced
        // (say, with a link to a host file) would unmask instead of mask.
        let null: OwnedFd = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_NOFOLLOW
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(sys_err("opening /dev/null to mask paths".into()))?;
        let st = nix::sys::stat::fstat(&null).map_err(sys_err("stat /dev/null".into()))?;
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != nix::sys::stat::makedev(1, 3)
        {
            return Err(Error::InvalidConfig(
                "/dev/null in the container is not the null device (1:3): cannot mask paths".into(),
            ));
        }
        mount::mount(
            Some(&fd_path(null.as_fd())),
            p,
            None,
            MsFlags::MS_BIND,
            None,
            p,
        )
    }
}

/// Writes `linux.sysctl` through /proc/sys.
pub(crate) fn apply_sysctls(spec: &Spec) -> Result<()> {
    let Some(map) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return Ok(());
    };
    for (k, v) in map {
        let path = sysctl_path(k)?;
        std::fs::write(&path, v).map_err(|source| Error::Io {
            op: "writing sysctl",
            path,
            source,
        })?;
    }
    Ok(())
}

/// `net.ipv4.ip_forward` -> `/proc/sys/net/ipv4/ip_forward`, rejecting keys
/// that would leave /proc/sys.
pub(crate) fn sysctl_path(key: &str) -> Result<PathBuf> {
    if key.is_empty() || key.contains("..") || key.starts_with(['/', '.']) || key.contains('\0') {
        return Err(Error::InvalidConfig(format!(
            "linux.sysctl key {key:?} is not a sysctl name"
        )));
    }
    Ok(Path::new("/proc/sys").join(key.replace('.', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctl_keys() {
        assert_eq!(
            sysctl_path("net.ipv4.ip_forward").unwrap(),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert!(sysctl_path("../../etc/passwd").is_err());
        assert!(sysctl_path("/etc").is_err());
        assert!(sysctl_path("").is_err());
    }
}
