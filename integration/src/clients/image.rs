//! The busybox fixture as image input, made offline with tar and
//! sha256sum: a plain rootfs tar (`podman import`, `docker import`) and a
//! docker-archive (`docker save` format, what `ctr images import` and
//! `docker load` read).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::json;

/// Writes `dest`, a tar of [`rbox_fixtures::cached_busybox_rootfs`].
///
/// The tar is made from a private copy: other tests clone the shared
/// cache with hard links, which changes its files' ctime, and GNU tar
/// fails ("file changed as we read it") when that happens mid-read.
pub fn busybox_rootfs_tar(dest: &Path) -> io::Result<()> {
    let rootfs = rbox_fixtures::cached_busybox_rootfs().map_err(io::Error::other)?;
    let copy = dest.with_extension("rootfs");
    run(Command::new("cp").arg("-a").arg(&rootfs).arg(&copy))?;
    let tarred = run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(&copy)
        .arg("-cf")
        .arg(dest)
        .arg("."));
    std::fs::remove_dir_all(&copy)?;
    tarred.map(drop)
}

/// Writes `dir/busybox-docker.tar`, a one-layer docker-archive of
/// [`rbox_fixtures::cached_busybox_rootfs`] tagged `tag`
/// (e.g. `localhost/rbox-busybox:latest`); returns its path.
pub fn busybox_docker_archive(dir: &Path, tag: &str) -> io::Result<PathBuf> {
    let work = dir.join("docker-archive");
    std::fs::create_dir_all(&work)?;
    busybox_rootfs_tar(&work.join("layer.tar"))?;
    let sum = run(Command::new("sha256sum").arg(work.join("layer.tar")))?;
    let digest = sum
        .split_whitespace()
        .next()
        .filter(|d| d.len() == 64)
        .ok_or_else(|| io::Error::other(format!("sha256sum printed {sum:?}")))?;
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["sh"]
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{digest}")]}
    });
    std::fs::write(work.join("config.json"), config.to_string())?;
    let manifest = json!([{
        "Config": "config.json",
        "RepoTags": [tag],
        "Layers": ["layer.tar"]
    }]);
    std::fs::write(work.join("manifest.json"), manifest.to_string())?;
    let archive = dir.join("busybox-docker.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&work)
        .arg("-cf")
        .arg(&archive)
        .args(["manifest.json", "config.json", "layer.tar"]))?;
    std::fs::remove_dir_all(&work)?;
    Ok(archive)
}

fn run(cmd: &mut Command) -> io::Result<String> {
    let o = cmd.output()?;
    if !o.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Imports the busybox fixture into a client that takes `import TAR NAME`
/// (podman, docker): `run` runs one client command. Returns `image`.
pub fn import_busybox_with(
    client: &str,
    scratch: &Path,
    image: &'static str,
    run: impl Fn(&[&str]) -> std::process::Output,
) -> io::Result<&'static str> {
    let tar = scratch.join("rootfs.tar");
    busybox_rootfs_tar(&tar)?;
    let o = run(&["import", tar.to_str().expect("utf-8 temp path"), image]);
    std::fs::remove_file(&tar)?;
    if !o.status.success() {
        return Err(io::Error::other(format!(
            "{client} import failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )));
    }
    Ok(image)
}
