//! `rbox cp`: files between a container's root and the host, or a tar
//! stream, with docker's path rules (a directory is copied into an
//! existing directory under its own name, `SRC/.` copies the contents,
//! a missing destination is created, a trailing `/` demands a
//! directory).
//!
//! Invariant: every path inside the container is opened from a
//! descriptor of its root (the overlay merged directory, mounted again
//! for a container whose mount went away) with
//! `openat2(RESOLVE_IN_ROOT)`, so `..` and symlinks planted in the
//! container (`/etc/shadow`, `../../..`) resolve inside it, as they would
//! for the container's own processes. After resolution everything works
//! on descriptors: files are created with `O_EXCL|O_NOFOLLOW` in a
//! resolved parent, and trees go through rbox-image's `pack` (which
//! never follows a link) and `unpack` (which resolves every entry inside
//! its target).

mod scope;
mod tree;

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, Mode, SFlag};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::record::Status;
use scope::{Mount, Scope};

/// How `rbox cp` copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopyOptions {
    /// `-a`: keep the owners (uid/gid) of the source; otherwise copies
    /// belong to the user running cp (root in the container, as docker).
    pub archive: bool,
    /// `-L`: follow a symlink given as the source.
    pub follow_link: bool,
}

impl CopyOptions {
    /// Options with `-a` and `-L` as given.
    pub fn new(archive: bool, follow_link: bool) -> Self {
        CopyOptions {
            archive,
            follow_link,
        }
    }
}

impl Engine {
    /// `rbox cp CONTAINER:SRC DEST`.
    pub fn copy_out(&self, id: &str, src: &str, dest: &Path, opts: &CopyOptions) -> Result<()> {
        let root = self.container_scope(id)?;
        let src_end = Src::resolve(&root, src, opts)?;
        let dest = dest.to_string_lossy();
        place(&src_end, &Scope::Host, &dest, opts)
    }

    /// `rbox cp SRC CONTAINER:DEST`.
    pub fn copy_in(&self, id: &str, src: &Path, dest: &str, opts: &CopyOptions) -> Result<()> {
        let root = self.container_scope(id)?;
        let src_end = Src::resolve(&Scope::Host, &src.to_string_lossy(), opts)?;
        writable(&root, dest)?;
        place(&src_end, &root, dest, opts)
    }

    /// `rbox cp CONTAINER:SRC -`: a tar of SRC (a directory's entries
    /// under its name, or its contents for `SRC/.`) on `out`.
    pub fn copy_out_tar(
        &self,
        id: &str,
        src: &str,
        out: impl Write,
        opts: &CopyOptions,
    ) -> Result<()> {
        let root = self.container_scope(id)?;
        let src_end = Src::resolve(&root, src, opts)?;
        tree::write_tar(&src_end, out)
    }

    /// `rbox cp - CONTAINER:DEST`: unpacks the tar (plain or compressed)
    /// read from `input` into the directory DEST.
    pub fn copy_in_tar(
        &self,
        id: &str,
        input: impl Read + Send,
        dest: &str,
        opts: &CopyOptions,
    ) -> Result<()> {
        let root = self.container_scope(id)?;
        writable(&root, dest)?;
        let dir = root
            .open(dest, OFlag::O_DIRECTORY | OFlag::O_RDONLY, true)
            .map_err(|e| match e {
                Errno::ENOTDIR => Error::Copy {
                    path: dest.into(),
                    reason: "the destination must be a directory",
                },
                e => io_err(dest, "opening", e),
            })?;
        tree::unpack_into(input, &dir, dest, opts.archive)
    }

    /// The container's paths: a descriptor of its root filesystem
    /// (mounting the overlay again when it is gone, after a host reboot
    /// say) and its volumes and bind mounts.
    fn container_scope(&self, id: &str) -> Result<Scope> {
        let rec = self.record(id)?;
        if rec.state.status == Status::Removing {
            return Err(Error::WrongState {
                id: id.into(),
                status: rec.state.status.to_string(),
                want: "it is being removed",
            });
        }
        self.ensure_rootfs(&rec)?;
        let root = nix::fcntl::open(
            &rec.rootfs,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io("opening", &rec.rootfs, e.into()))?;
        let mounts = rec
            .mounts
            .iter()
            .filter(|m| m.kind != "tmpfs" && !m.source.is_empty())
            .map(|m| Mount::new(&m.destination, &m.source, m.rw))
            .collect();
        Ok(Scope::Container { root, mounts })
    }
}

/// A path split the way docker reads it.
struct PathSpec {
    /// Without trailing `/` and `/.`; `/` stays `/`.
    path: String,
    /// The last component, empty for the root.
    name: String,
    /// The parent (`.` for a bare name).
    parent: String,
    /// Ends with `/`: must be a directory.
    dir_only: bool,
    /// Ends with `/.` (or is `.`): a directory's contents.
    contents: bool,
}

impl PathSpec {
    fn parse(p: &str) -> PathSpec {
        let mut s = p;
        let mut contents = false;
        let mut dir_only = false;
        loop {
            if s == "." || s.ends_with("/.") {
                contents = true;
                s = &s[..s.len() - 1];
            } else if s.len() > 1 && s.ends_with('/') {
                dir_only = true;
                s = &s[..s.len() - 1];
            } else {
                break;
            }
        }
        let path = if s.is_empty() {
            if p.starts_with('/') { "/" } else { "." }.to_string()
        } else {
            s.to_string()
        };
        let (parent, name) = match path.rsplit_once('/') {
            Some(("", n)) => ("/".to_string(), n.to_string()),
            Some((d, n)) => (d.to_string(), n.to_string()),
            None if path == "." => (".".to_string(), String::new()),
            None => (".".to_string(), path.clone()),
        };
        PathSpec {
            path,
            name,
            parent,
            dir_only,
            contents,
        }
    }
}

/// The resolved source.
struct Src {
    /// O_PATH descriptor of the source itself (a symlink stays one).
    fd: OwnedFd,
    st: FileStat,
    /// The name a copy gets inside a destination directory.
    name: String,
    /// Copy a directory's contents rather than the directory.
    contents: bool,
    /// The path as given, for messages.
    given: String,
}

impl Src {
    fn resolve(scope: &Scope, given: &str, opts: &CopyOptions) -> Result<Src> {
        let spec = PathSpec::parse(given);
        let follow = opts.follow_link || spec.dir_only || spec.contents;
        let fd = scope
            .open(&spec.path, OFlag::O_PATH, follow)
            .map_err(|e| io_err(given, "opening the source", e))?;
        let st = nix::sys::stat::fstat(&fd).map_err(|e| io_err(given, "stat", e))?;
        let is_dir = kind(&st) == SFlag::S_IFDIR;
        if (spec.dir_only || spec.contents) && !is_dir {
            return Err(Error::Copy {
                path: given.into(),
                reason: "not a directory",
            });
        }
        Ok(Src {
            fd,
            st,
            contents: spec.contents || spec.name.is_empty(),
            name: spec.name,
            given: given.into(),
        })
    }

    fn is_dir(&self) -> bool {
        kind(&self.st) == SFlag::S_IFDIR
    }
}

/// Copies `src` to `dest` (resolved in `scope`) by docker's rules.
fn place(src: &Src, scope: &Scope, dest: &str, opts: &CopyOptions) -> Result<()> {
    let spec = PathSpec::parse(dest);
    match scope.open(&spec.path, OFlag::O_PATH, true) {
        Ok(fd) => {
            let st = nix::sys::stat::fstat(&fd).map_err(|e| io_err(dest, "stat", e))?;
            if kind(&st) == SFlag::S_IFDIR {
                let dir = reopen_dir(&fd, dest)?;
                if src.is_dir() && src.contents {
                    return tree::copy_tree(src, &dir, dest, opts);
                }
                return tree::place_entry(src, &dir, &cname(&src.name)?, dest, opts);
            }
            if src.is_dir() {
                return Err(Error::Copy {
                    path: dest.into(),
                    reason: "cannot copy a directory to a file",
                });
            }
            if spec.dir_only {
                return Err(Error::Copy {
                    path: dest.into(),
                    reason: "not a directory",
                });
            }
        }
        Err(Errno::ENOENT) => {
            if spec.dir_only && !src.is_dir() {
                return Err(Error::Copy {
                    path: dest.into(),
                    reason: "the destination directory does not exist",
                });
            }
        }
        Err(e) => return Err(io_err(dest, "opening the destination", e)),
    }
    if spec.name.is_empty() {
        return Err(Error::Copy {
            path: dest.into(),
            reason: "not a valid destination",
        });
    }
    let parent = scope
        .open(&spec.parent, OFlag::O_DIRECTORY | OFlag::O_RDONLY, true)
        .map_err(|e| io_err(dest, "opening the destination's parent directory", e))?;
    tree::place_entry(src, &parent, &cname(&spec.name)?, dest, opts)
}

/// Refuses a destination on a read-only volume or bind, as docker does.
fn writable(scope: &Scope, dest: &str) -> Result<()> {
    if scope.read_only(dest) {
        return Err(Error::Copy {
            path: dest.into(),
            reason: "the destination is on a read-only mount",
        });
    }
    Ok(())
}

fn reopen_dir(fd: &OwnedFd, given: &str) -> Result<OwnedFd> {
    nix::fcntl::openat(
        fd,
        "",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .or_else(|_| {
        // O_PATH descriptors reopen through their /proc link.
        nix::fcntl::open(
            proc_fd(fd).as_path(),
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    })
    .map_err(|e| io_err(given, "opening the directory", e))
}

/// `/proc/self/fd/N`: how a resolved descriptor is handed to code that
/// takes paths (pack, unpack); the magic link names exactly that file.
fn proc_fd(fd: &impl std::os::fd::AsRawFd) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn cname(name: &str) -> Result<CString> {
    CString::new(std::ffi::OsStr::new(name).as_bytes()).map_err(|_| Error::Copy {
        path: name.into(),
        reason: "the name holds a NUL byte",
    })
}

fn io_err(path: &str, op: &'static str, e: Errno) -> Error {
    Error::CopyIo {
        path: path.into(),
        op,
        source: e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_path_forms() {
        let p = PathSpec::parse("/etc/");
        assert_eq!((p.path.as_str(), p.name.as_str()), ("/etc", "etc"));
        assert!(p.dir_only && !p.contents);
        let p = PathSpec::parse("/etc/.");
        assert_eq!((p.path.as_str(), p.parent.as_str()), ("/etc", "/"));
        assert!(p.contents);
        let p = PathSpec::parse("/");
        assert_eq!((p.path.as_str(), p.name.as_str()), ("/", ""));
        let p = PathSpec::parse("file");
        assert_eq!((p.parent.as_str(), p.name.as_str()), (".", "file"));
        let p = PathSpec::parse("./");
        assert!(p.contents);
        assert_eq!(p.path, ".");
        let p = PathSpec::parse("a/b/c");
        assert_eq!((p.parent.as_str(), p.name.as_str()), ("a/b", "c"));
    }
}
