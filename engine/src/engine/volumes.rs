//! Volumes for `run`/`create`: named ones (`-v NAME:/dst`, `--mount
//! type=volume`) are created on first use as docker does, anonymous ones
//! (`-v /dst`, the image's `VOLUME`s) get a fresh volume each; every
//! volume is then an ordinary bind of its `_data` directory, filled from
//! the image's content at the target when empty (docker's copy-up, unless
//! `nocopy`).

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::options::RunOptions;
use crate::volume::{self, Volume};

/// A volume a container uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeUse {
    /// The volume's name.
    pub name: String,
    /// Where it is mounted.
    pub destination: String,
    /// Created for this container (removed by `rm -v`).
    pub anonymous: bool,
}

fn vol_err(name: &str) -> impl FnOnce(volume::VolumeError) -> Error {
    let name = name.to_string();
    move |source| Error::Volume { name, source }
}

/// Rewrites the volume flags of `opts` into binds of volume directories
/// (creating volumes as needed) and adds the image's `VOLUME`s not
/// covered by a user mount. Returns the rewritten options and the volumes
/// used; `rootfs` is the mounted image, for copy-up.
pub fn resolve(
    data_root: &Path,
    rootfs: &Path,
    opts: &RunOptions,
    image_volumes: &[String],
) -> Result<(RunOptions, Vec<VolumeUse>)> {
    let mut out = opts.clone();
    let mut used = Vec::new();
    let mut attach = |v: Volume, dst: &str, anonymous: bool, copy: bool| -> Result<String> {
        if copy {
            copy_up(rootfs, dst, &v)?;
        }
        used.push(VolumeUse {
            name: v.name.clone(),
            destination: dst.to_string(),
            anonymous,
        });
        Ok(v.mountpoint.display().to_string())
    };
    let mut volumes = Vec::new();
    for spec in &opts.volumes {
        let parts: Vec<&str> = spec.split(':').collect();
        let named = |s: &str| !s.starts_with('/') && !s.is_empty();
        match parts.as_slice() {
            [dst] if dst.starts_with('/') => {
                let v = volume::create_anonymous(data_root).map_err(vol_err("(anonymous)"))?;
                let src = attach(v, dst, true, true)?;
                volumes.push(format!("{src}:{dst}"));
            }
            [src, dst, rest @ ..] if named(src) => {
                if !volume::valid_name(src) {
                    return Err(Error::flag("--volume", spec, "invalid volume name"));
                }
                let nocopy = rest
                    .first()
                    .is_some_and(|o| o.split(',').any(|x| x == "nocopy"));
                let v =
                    volume::create(data_root, src, &Default::default()).map_err(vol_err(src))?;
                let host = attach(v, dst, false, !nocopy)?;
                let mut s = format!("{host}:{dst}");
                if let Some(o) = rest.first() {
                    let o: Vec<&str> = o.split(',').filter(|x| *x != "nocopy").collect();
                    if !o.is_empty() {
                        s.push(':');
                        s.push_str(&o.join(","));
                    }
                }
                volumes.push(s);
            }
            _ => volumes.push(spec.clone()),
        }
    }
    let mut mounts = Vec::new();
    for m in &opts.mounts {
        let fields: Vec<(&str, &str)> = m
            .split(',')
            .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
            .collect();
        let get = |k: &[&str]| fields.iter().find(|(x, _)| k.contains(x)).map(|(_, v)| *v);
        let kind = get(&["type"]).unwrap_or("volume");
        if kind != "volume" {
            mounts.push(m.clone());
            continue;
        }
        let dst = get(&["target", "destination", "dst"])
            .ok_or_else(|| Error::flag("--mount", m, "target is required"))?;
        let nocopy = get(&["volume-nocopy"]).is_some_and(|v| v.is_empty() || v == "true");
        let (v, anonymous) = match get(&["source", "src"]) {
            Some(name) if !name.is_empty() => (
                volume::create(data_root, name, &Default::default()).map_err(vol_err(name))?,
                false,
            ),
            _ => (
                volume::create_anonymous(data_root).map_err(vol_err("(anonymous)"))?,
                true,
            ),
        };
        let host = attach(v, dst, anonymous, !nocopy)?;
        let mut s = format!("type=bind,source={host},target={dst}");
        match get(&["readonly", "ro"]) {
            Some("") => s.push_str(",readonly"),
            Some(ro) => s.push_str(&format!(",readonly={ro}")),
            None => {}
        }
        mounts.push(s);
    }
    let covered = |d: &str, v: &[String], m: &[String], t: &[String]| {
        let d = d.trim_end_matches('/');
        v.iter()
            .any(|x| x.split(':').nth(1).unwrap_or(x).trim_end_matches('/') == d)
            || m.iter().any(|x| {
                x.contains(&format!("target={d}")) || x.contains(&format!("destination={d}"))
            })
            || t.iter().any(|x| x.split(':').next() == Some(d))
    };
    for d in image_volumes {
        if d.is_empty() || !d.starts_with('/') || covered(d, &volumes, &mounts, &opts.tmpfs) {
            continue;
        }
        let v = volume::create_anonymous(data_root).map_err(vol_err("(anonymous)"))?;
        let src = attach(v, d, true, true)?;
        volumes.push(format!("{src}:{d}"));
    }
    out.volumes = volumes;
    out.mounts = mounts;
    Ok((out, used))
}

/// Copies the image's content at `dst` into an empty volume. The target
/// is resolved inside the rootfs (`RESOLVE_IN_ROOT`) and handed to the
/// copier as its `/proc/self/fd` path, so no symlink leads out.
fn copy_up(rootfs: &Path, dst: &str, v: &Volume) -> Result<()> {
    let root = nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| Error::Sys {
        call: format!("open rootfs {}", rootfs.display()),
        source,
    })?;
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = match openat2(&root, dst.trim_start_matches('/'), how) {
        Ok(fd) => fd,
        // Nothing (or not a directory) there: nothing to copy.
        Err(nix::errno::Errno::ENOENT) | Err(nix::errno::Errno::ENOTDIR) => return Ok(()),
        Err(source) => {
            return Err(Error::Sys {
                call: format!("open {dst} in {}", rootfs.display()),
                source,
            });
        }
    };
    let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    volume::populate_from(v, &path).map_err(vol_err(&v.name))?;
    Ok(())
}

/// Removes a container's anonymous volumes (`rm -v`).
pub fn remove_anonymous(data_root: &Path, used: &[VolumeUse]) {
    for u in used.iter().filter(|u| u.anonymous) {
        if let Err(e) = volume::remove(data_root, &u.name, &|_| false) {
            tracing::warn!("removing volume {}: {e}", u.name);
        }
    }
}
