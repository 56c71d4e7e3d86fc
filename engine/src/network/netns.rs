//! Named network namespaces under `/run/rbox/netns/<id>`: an empty file
//! with the namespace bind-mounted on it, which the runtime joins by path
//! and CNI plugins enter by path. Made without `ip netns`: a short-lived
//! thread unshares its network namespace and bind-mounts
//! `/proc/thread-self/ns/net` onto the file, then exits; the mount keeps
//! the namespace alive.
//!
//! Like iproute2, the directory is made a shared mount point, so
//! namespaces made later show up (and their unmounts propagate) in mount
//! namespaces copied from the host's.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, unshare};

use super::error::{NetworkError, Result, io_err};

/// Where rbox keeps its named network namespaces.
pub const NETNS_DIR: &str = "/run/rbox/netns";

/// The netns file of container `id`.
pub fn netns_path(id: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(id)
}

fn ns_err(op: &'static str, path: &Path) -> impl FnOnce(Errno) -> NetworkError {
    let path = path.to_path_buf();
    move |source| NetworkError::Netns { op, path, source }
}

fn ensure_dir() -> Result<()> {
    let dir = Path::new(NETNS_DIR);
    std::fs::create_dir_all(dir).map_err(io_err("creating", dir))?;
    let shared = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    match shared() {
        Ok(()) => Ok(()),
        // Not a mount point yet: bind it onto itself first.
        Err(Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(ns_err("bind-mounting the directory of", dir))?;
            shared().map_err(ns_err("making shared the directory of", dir))
        }
        Err(e) => Err(ns_err("making shared the directory of", dir)(e)),
    }
}

/// Creates a fresh network namespace at `path`, its `lo` up (removing a
/// stale one left by a crash first).
pub(crate) fn create(path: &Path) -> Result<()> {
    ensure_dir()?;
    remove(path)?;
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io_err("creating", path))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> std::result::Result<(), (&'static str, Errno)> {
        // Only this thread moves into the new namespace; it ends right after.
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| ("unsharing", e))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| ("bind-mounting", e))?;
        // Still inside it: lo up here spares running CNI's loopback
        // plugin (an exec of a Go binary) on every container.
        crate::sys::loopback_up().map_err(|e| ("bringing lo up in", e))
    })
    .join()
    .unwrap_or(Err(("creating (thread panicked)", Errno::EIO)));
    if let Err((op, e)) = made {
        let _ = std::fs::remove_file(path);
        return Err(ns_err(op, path)(e));
    }
    Ok(())
}

/// Unmounts and removes the namespace file; absent is fine.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(ns_err("unmounting", path)(e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("removing", path)(e)),
    }
}
