//! Where `cp` resolves paths: the host, or a container — its root
//! filesystem plus its volumes and bind mounts, as the container sees
//! them. A container path is normalised lexically (`..` stops at `/`),
//! matched against the mount destinations (longest first), and the rest
//! opened from that mount's source or the root with
//! `openat2(RESOLVE_IN_ROOT)`: a link inside resolves within that tree.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::Mode;

/// A volume or bind mount of the container.
pub(super) struct Mount {
    /// Normalised destination components.
    dest: Vec<String>,
    /// The host path (a directory, or a file for a file bind).
    source: PathBuf,
    rw: bool,
}

impl Mount {
    pub(super) fn new(dest: &str, source: impl Into<PathBuf>, rw: bool) -> Mount {
        Mount {
            dest: normalise(dest),
            source: source.into(),
            rw,
        }
    }
}

pub(super) enum Scope {
    Host,
    Container { root: OwnedFd, mounts: Vec<Mount> },
}

/// `/a/./b/../c` → `[a, c]`; `..` above the root stays at the root.
fn normalise(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

impl Scope {
    /// The mount holding `path` and the rest of the path inside it.
    fn mount_of(&self, path: &str) -> Option<(&Mount, Vec<String>)> {
        let Scope::Container { mounts, .. } = self else {
            return None;
        };
        let parts = normalise(path);
        mounts
            .iter()
            .filter(|m| parts.starts_with(&m.dest))
            .max_by_key(|m| m.dest.len())
            .map(|m| (m, parts[m.dest.len()..].to_vec()))
    }

    /// Whether `path` lies on a read-only mount.
    pub(super) fn read_only(&self, path: &str) -> bool {
        self.mount_of(path).is_some_and(|(m, _)| !m.rw)
    }

    /// Opens `path`; the last component is followed only with `follow`.
    pub(super) fn open(&self, path: &str, flags: OFlag, follow: bool) -> nix::Result<OwnedFd> {
        let nofollow = if follow {
            OFlag::empty()
        } else {
            OFlag::O_NOFOLLOW
        };
        let flags = flags | nofollow | OFlag::O_CLOEXEC;
        let Scope::Container { root, .. } = self else {
            return nix::fcntl::open(path, flags, Mode::empty());
        };
        let (base, rest) = match self.mount_of(path) {
            // The mount point itself: its source (a file bind is a file).
            Some((m, rest)) if rest.is_empty() => {
                return nix::fcntl::open(&m.source, flags, Mode::empty());
            }
            Some((m, rest)) => (
                nix::fcntl::open(
                    &m.source,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )?,
                rest,
            ),
            None => (root.try_clone().map_err(|_| Errno::EBADF)?, normalise(path)),
        };
        let rel = if rest.is_empty() {
            ".".to_string()
        } else {
            rest.join("/")
        };
        let how = OpenHow::new()
            .flags(flags)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        loop {
            match nix::fcntl::openat2(base.as_fd(), rel.as_str(), how) {
                Err(Errno::EAGAIN) => continue,
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_paths_stay_under_root() {
        assert_eq!(normalise("/a/./b/../c/"), ["a", "c"]);
        assert!(normalise("/../..").is_empty());
        assert_eq!(normalise("../../etc"), ["etc"]);
    }
}
