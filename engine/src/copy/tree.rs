//! The copying itself, on resolved descriptors: one entry into a parent
//! directory, a tree through pack | unpack, and docker's tar stream.

use std::ffi::CStr;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use rbox_image::layer::{self, Compression, PackOptions, UnpackOptions};

use super::{CopyOptions, Src, io_err, kind, proc_fd, reopen_dir};
use crate::error::{Error, Result};

/// Puts `src` at `name` in the directory `parent`: a directory is merged
/// into an existing one, anything else replaces what is there (never
/// written through: a link at `name` is removed, not followed).
pub(super) fn place_entry(
    src: &Src,
    parent: &OwnedFd,
    name: &CStr,
    dest: &str,
    opts: &CopyOptions,
) -> Result<()> {
    let existing = nix::sys::stat::fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .ok()
        .map(|st| kind(&st));
    let mode = Mode::from_bits_truncate(src.st.st_mode & 0o7777);
    match kind(&src.st) {
        SFlag::S_IFDIR => {
            match existing {
                Some(SFlag::S_IFDIR) => {}
                Some(_) => {
                    return Err(Error::Copy {
                        path: dest.into(),
                        reason: "cannot overwrite a non-directory with a directory",
                    });
                }
                None => nix::sys::stat::mkdirat(parent, name, Mode::from_bits_truncate(0o700))
                    .map_err(|e| io_err(dest, "creating the directory", e))?,
            }
            let dir = nix::fcntl::openat(
                parent,
                name,
                OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err(dest, "opening the directory", e))?;
            copy_tree(src, &dir, dest, opts)?;
            nix::sys::stat::fchmod(&dir, mode).map_err(|e| io_err(dest, "chmod", e))?;
            if opts.archive {
                nix::unistd::fchown(&dir, Some(uid(src)), Some(gid(src)))
                    .map_err(|e| io_err(dest, "chown", e))?;
            }
            Ok(())
        }
        SFlag::S_IFREG => {
            remove_non_dir(parent, name, existing, dest)?;
            let mut from = std::fs::File::from(reopen(&src.fd, &src.given)?);
            let to = nix::fcntl::openat(
                parent,
                name,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_WRONLY
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|e| io_err(dest, "creating the file", e))?;
            let mut to = std::fs::File::from(to);
            std::io::copy(&mut from, &mut to).map_err(|source| Error::CopyIo {
                path: dest.into(),
                op: "writing",
                source,
            })?;
            if opts.archive {
                nix::unistd::fchown(&to, Some(uid(src)), Some(gid(src)))
                    .map_err(|e| io_err(dest, "chown", e))?;
            }
            // After chown, which clears setuid bits.
            nix::sys::stat::fchmod(&to, mode).map_err(|e| io_err(dest, "chmod", e))?;
            let atime = TimeSpec::new(src.st.st_atime, src.st.st_atime_nsec);
            let mtime = TimeSpec::new(src.st.st_mtime, src.st.st_mtime_nsec);
            nix::sys::stat::futimens(&to, &atime, &mtime)
                .map_err(|e| io_err(dest, "setting times", e))?;
            Ok(())
        }
        SFlag::S_IFLNK => {
            remove_non_dir(parent, name, existing, dest)?;
            let target = nix::fcntl::readlinkat(&src.fd, "")
                .map_err(|e| io_err(&src.given, "reading the link", e))?;
            nix::unistd::symlinkat(target.as_os_str(), parent, name)
                .map_err(|e| io_err(dest, "creating the link", e))?;
            if opts.archive {
                nix::unistd::fchownat(
                    parent,
                    name,
                    Some(uid(src)),
                    Some(gid(src)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| io_err(dest, "chown", e))?;
            }
            Ok(())
        }
        _ => Err(Error::Copy {
            path: src.given.clone(),
            reason: "only files, directories and symlinks can be copied",
        }),
    }
}

fn remove_non_dir(
    parent: &OwnedFd,
    name: &CStr,
    existing: Option<SFlag>,
    dest: &str,
) -> Result<()> {
    match existing {
        None => Ok(()),
        Some(SFlag::S_IFDIR) => Err(Error::Copy {
            path: dest.into(),
            reason: "cannot overwrite a directory with a non-directory",
        }),
        Some(_) => match nix::unistd::unlinkat(parent, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(io_err(dest, "replacing", e)),
        },
    }
}

/// Copies what the directory `src` holds into the directory `dest`:
/// pack (which walks without following links) streamed into unpack
/// (which resolves every entry inside `dest`).
pub(super) fn copy_tree(src: &Src, dest: &OwnedFd, given: &str, opts: &CopyOptions) -> Result<()> {
    let from = reopen_dir(&src.fd, &src.given)?;
    let (reader, writer) = std::io::pipe().map_err(|source| Error::CopyIo {
        path: given.into(),
        op: "making a pipe",
        source,
    })?;
    std::thread::scope(|s| {
        let packer = s.spawn(|| layer::pack(&proc_fd(&from), &pack_options(), writer));
        let unpacked = unpack_into(reader, dest, given, opts.archive);
        // The pack error is the cause when both fail (unpack saw a
        // truncated stream).
        joined(packer, src)?;
        unpacked
    })
}

/// The packing thread's result.
fn joined<T>(h: std::thread::ScopedJoinHandle<'_, rbox_image::Result<T>>, src: &Src) -> Result<()> {
    match h.join() {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(Error::CopyTree {
            path: src.given.clone(),
            source,
        }),
        Err(_) => Err(Error::Copy {
            path: src.given.clone(),
            reason: "the packing thread panicked",
        }),
    }
}

fn pack_options() -> PackOptions {
    let mut o = PackOptions::default();
    o.compression = Compression::None;
    o
}

/// Unpacks a tar into the directory `dest`.
pub(super) fn unpack_into(
    input: impl Read + Send,
    dest: &OwnedFd,
    given: &str,
    same_owner: bool,
) -> Result<()> {
    let mut o = UnpackOptions::default();
    o.same_owner = same_owner;
    layer::unpack(input, &proc_fd(dest), &o).map_err(|source| Error::CopyTree {
        path: given.into(),
        source,
    })?;
    Ok(())
}

/// docker's `cp SRC -` stream: a directory's entries under its name (or
/// bare for `SRC/.`), a file or link as one entry.
pub(super) fn write_tar(src: &Src, out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let werr = |source| Error::CopyIo {
        path: "-".into(),
        op: "writing the archive",
        source,
    };
    let mut h = header(src);
    match kind(&src.st) {
        SFlag::S_IFDIR => {
            let prefix = if src.contents {
                String::new()
            } else {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{}/", src.name), std::io::empty())
                    .map_err(werr)?;
                format!("{}/", src.name)
            };
            retar(src, &prefix, &mut b)?;
        }
        SFlag::S_IFREG => {
            let f = std::fs::File::from(reopen(&src.fd, &src.given)?);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(src.st.st_size as u64);
            b.append_data(&mut h, &src.name, f.take(src.st.st_size as u64))
                .map_err(werr)?;
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(&src.fd, "")
                .map_err(|e| io_err(&src.given, "reading the link", e))?;
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, &src.name, target).map_err(werr)?;
        }
        _ => {
            return Err(Error::Copy {
                path: src.given.clone(),
                reason: "only files, directories and symlinks can be copied",
            });
        }
    }
    b.into_inner().map_err(werr)?.flush().map_err(werr)
}

/// Packs the directory and re-emits its entries under `prefix`.
fn retar<W: Write>(src: &Src, prefix: &str, b: &mut tar::Builder<W>) -> Result<()> {
    let from = reopen_dir(&src.fd, &src.given)?;
    let (reader, writer) = std::io::pipe().map_err(|source| Error::CopyIo {
        path: src.given.clone(),
        op: "making a pipe",
        source,
    })?;
    let rerr = |source| Error::CopyIo {
        path: src.given.clone(),
        op: "re-reading the packed tree",
        source,
    };
    std::thread::scope(|s| {
        let packer = s.spawn(move || layer::pack(&proc_fd(&from), &pack_options(), writer));
        let copied = || -> Result<()> {
            let mut archive = tar::Archive::new(reader);
            for entry in archive.entries().map_err(rerr)? {
                let mut entry = entry.map_err(rerr)?;
                let path = format!("{prefix}{}", String::from_utf8_lossy(&entry.path_bytes()));
                let mut h = entry.header().clone();
                if let Some(mut ext) = entry.pax_extensions().map_err(rerr)? {
                    let xattrs: Vec<(String, Vec<u8>)> = ext
                        .by_ref()
                        .flatten()
                        .filter(|e| e.key().is_ok_and(|k| k.starts_with("SCHILY.xattr.")))
                        .map(|e| {
                            (
                                e.key().unwrap_or_default().to_string(),
                                e.value_bytes().to_vec(),
                            )
                        })
                        .collect();
                    if !xattrs.is_empty() {
                        b.append_pax_extensions(xattrs.iter().map(|(k, v)| (k.as_str(), &v[..])))
                            .map_err(rerr)?;
                    }
                }
                let r = match h.entry_type() {
                    tar::EntryType::Link => {
                        let to = format!(
                            "{prefix}{}",
                            String::from_utf8_lossy(&entry.link_name_bytes().unwrap_or_default())
                        );
                        b.append_link(&mut h, &path, to)
                    }
                    tar::EntryType::Symlink => {
                        let to = entry
                            .link_name()
                            .map_err(rerr)?
                            .unwrap_or_default()
                            .into_owned();
                        b.append_link(&mut h, &path, to)
                    }
                    _ => b.append_data(&mut h, &path, &mut entry),
                };
                r.map_err(rerr)?;
            }
            Ok(())
        };
        let copied = copied();
        joined(packer, src)?;
        copied
    })
}

fn header(src: &Src) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(src.st.st_mode & 0o7777);
    h.set_uid(u64::from(src.st.st_uid));
    h.set_gid(u64::from(src.st.st_gid));
    h.set_mtime(src.st.st_mtime.max(0) as u64);
    h
}

/// A readable descriptor of an O_PATH one.
fn reopen(fd: &OwnedFd, given: &str) -> Result<OwnedFd> {
    nix::fcntl::open(
        proc_fd(&fd.as_fd()).as_path(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(given, "opening", e))
}

fn uid(src: &Src) -> Uid {
    Uid::from_raw(src.st.st_uid)
}

fn gid(src: &Src) -> Gid {
    Gid::from_raw(src.st.st_gid)
}
