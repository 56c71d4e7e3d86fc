//! Builds the busybox root filesystem from the host's static busybox.
//!
//! The tree is fully determined by the busybox binary and [`LAYOUT_VERSION`]:
//! bump the version whenever the layout changes so cached copies of the old
//! layout are not reused.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, chown, symlink};
use std::path::{Component, Path};
use std::process::Command;

use crate::error::{FixtureError, Result};

/// Where the host's static busybox lives (Debian's `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// Version of the tree layout below; part of the cache key.
pub(crate) const LAYOUT_VERSION: u32 = 1;

/// The unprivileged user of the rootfs (`rbox`), uid and gid alike.
pub const RBOX_UID: u32 = 1000;

/// The overflow user and group (`nobody`).
pub const NOBODY_UID: u32 = 65534;

/// Directories of the rootfs with their modes, parents first.
const DIRS: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("etc", 0o755),
    ("home", 0o755),
    ("home/rbox", 0o755),
    ("root", 0o700),
    ("tmp", 0o1777),
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
];

const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
rbox:x:1000:1000:rbox:/home/rbox:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
";

// tty (5) because runc-style configs mount devpts with gid=5.
const GROUP: &str = "\
root:x:0:
tty:x:5:
rbox:x:1000:
nobody:x:65534:
";

/// Files of `etc/`; the empty ones exist so engines can bind-mount over them.
const ETC_FILES: &[(&str, &str)] = &[
    ("etc/passwd", PASSWD),
    ("etc/group", GROUP),
    ("etc/hostname", ""),
    ("etc/hosts", ""),
    ("etc/resolv.conf", ""),
];

/// Builds a busybox rootfs at `dest` from [`BUSYBOX`].
///
/// `dest` must not exist or be an empty directory. Needs no network and no
/// privileges; as root, `/home/rbox` is also given to uid/gid 1000.
pub fn busybox_rootfs(dest: &Path) -> Result<()> {
    build(Path::new(BUSYBOX), dest)
}

/// Builds the rootfs at `dest` from the given busybox binary.
pub(crate) fn build(busybox: &Path, dest: &Path) -> Result<()> {
    let image = fs::read(busybox).map_err(|source| FixtureError::BusyboxMissing {
        path: busybox.to_path_buf(),
        source,
    })?;
    if !crate::elf::is_static_elf64(&image) {
        return Err(FixtureError::NotStatic {
            path: busybox.to_path_buf(),
        });
    }
    let applets = applets(busybox)?;
    prepare_dest(dest)?;
    for (dir, mode) in DIRS {
        make_dir(&dest.join(dir), *mode)?;
    }
    let target = dest.join("bin/busybox");
    write_file(&target, &image, 0o755)?;
    for applet in &applets {
        link_applet(dest, applet)?;
    }
    for (path, content) in ETC_FILES {
        write_file(&dest.join(path), content.as_bytes(), 0o644)?;
    }
    if nix::unistd::geteuid().is_root() {
        let home = dest.join("home/rbox");
        chown(&home, Some(RBOX_UID), Some(RBOX_UID)).map_err(FixtureError::io("chown", &home))?;
    } else {
        tracing::debug!(path = %dest.display(), "not root: /home/rbox stays owned by the caller");
    }
    Ok(())
}

/// The applet paths busybox installs itself as, relative to `/`, checked
/// to be plain relative paths so no link lands outside the rootfs.
fn applets(busybox: &Path) -> Result<Vec<String>> {
    let out = Command::new(busybox)
        .arg("--list-full")
        .output()
        .map_err(|source| FixtureError::AppletList {
            path: busybox.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(FixtureError::AppletListFailed {
            path: busybox.to_path_buf(),
            status: out.status,
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_applets(busybox, &text)
}

fn parse_applets(busybox: &Path, text: &str) -> Result<Vec<String>> {
    text.lines()
        .filter(|l| !l.is_empty() && *l != "bin/busybox")
        .map(|l| {
            let plain = Path::new(l)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
            if plain {
                Ok(l.to_owned())
            } else {
                Err(FixtureError::InvalidApplet {
                    path: busybox.to_path_buf(),
                    applet: l.to_owned(),
                })
            }
        })
        .collect()
}

/// Creates `dest` or accepts it empty, so a caller's fresh temp dir works.
pub(crate) fn prepare_dest(dest: &Path) -> Result<()> {
    match fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(FixtureError::DestNotEmpty {
                    path: dest.to_path_buf(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dest).map_err(FixtureError::io("create directory", dest))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
            return Err(FixtureError::DestNotEmpty {
                path: dest.to_path_buf(),
            });
        }
        Err(e) => return Err(FixtureError::io("read directory", dest)(e)),
    }
    set_mode(dest, 0o755)
}

/// A relative symlink to `bin/busybox`, so the tree also works when
/// inspected or chrooted into from the host.
fn link_applet(root: &Path, applet: &str) -> Result<()> {
    let link = root.join(applet);
    if let Some(parent) = link.parent() {
        fs::create_dir_all(parent).map_err(FixtureError::io("create directory", parent))?;
    }
    let depth = Path::new(applet).components().count() - 1;
    let target = format!("{}bin/busybox", "../".repeat(depth));
    match symlink(&target, &link) {
        // Tolerate a busybox build that lists an applet twice.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r.map_err(FixtureError::io("create symlink", &link)),
    }
}

pub(crate) fn make_dir(path: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new()
        .mode(mode)
        .create(path)
        .map_err(FixtureError::io("create directory", path))?;
    // The umask may have cleared bits (sticky /tmp, group/other access).
    set_mode(path, mode)
}

fn write_file(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    fs::write(path, content).map_err(FixtureError::io("write", path))?;
    set_mode(path, mode)
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(FixtureError::io("chmod", path))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rbox_test_support::{TempRoot, require};
    use std::os::unix::fs::MetadataExt;

    pub(crate) fn have_busybox(test: &str) -> bool {
        require(
            test,
            "static busybox at /bin/busybox (apt-get install busybox-static)",
            Path::new(BUSYBOX).is_file(),
        )
    }

    fn mode(p: &Path) -> u32 {
        fs::symlink_metadata(p).expect("stat").mode() & 0o7777
    }

    #[test]
    fn builds_rootfs() {
        if !have_busybox("builds_rootfs") {
            return;
        }
        let t = TempRoot::new("fixture").expect("temp root");
        let root = t.join("rootfs");
        busybox_rootfs(&root).expect("build rootfs");
        assert_eq!(mode(&root.join("bin/busybox")), 0o755);
        // Applet links resolve inside the tree.
        let sh = fs::canonicalize(root.join("bin/sh")).expect("resolve sh");
        assert_eq!(
            sh,
            fs::canonicalize(root.join("bin/busybox")).expect("resolve busybox")
        );
        let bracket = fs::read_link(root.join("usr/bin/[")).expect("read [ link");
        assert_eq!(bracket, Path::new("../../bin/busybox"));
        assert_eq!(mode(&root.join("tmp")), 0o1777);
        assert_eq!(mode(&root.join("root")), 0o700);
        for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
            assert_eq!(
                fs::metadata(root.join(f)).expect("stat etc file").len(),
                0,
                "{f}"
            );
        }
        for d in ["proc", "sys", "dev", "home/rbox"] {
            assert!(root.join(d).is_dir(), "{d}");
        }
        let passwd = fs::read_to_string(root.join("etc/passwd")).expect("read passwd");
        assert!(passwd.contains("rbox:x:1000:1000:rbox:/home/rbox:/bin/sh\n"));
        assert!(passwd.starts_with("root:x:0:0:"));
        assert!(passwd.contains("nobody:x:65534:65534:"));
        let group = fs::read_to_string(root.join("etc/group")).expect("read group");
        assert!(group.contains("rbox:x:1000:\n") && group.contains("nobody:x:65534:\n"));
        if nix::unistd::geteuid().is_root() {
            let home = fs::metadata(root.join("home/rbox")).expect("stat home");
            assert_eq!((home.uid(), home.gid()), (RBOX_UID, RBOX_UID));
        }
        // The rootfs' own shell runs (static, so no loader needed).
        let out = Command::new(root.join("bin/sh"))
            .args(["-c", "echo ok"])
            .output()
            .expect("run rootfs sh");
        assert_eq!(out.stdout, b"ok\n");
    }

    #[test]
    fn refuses_non_empty_dest() {
        if !have_busybox("refuses_non_empty_dest") {
            return;
        }
        let t = TempRoot::new("fixture").expect("temp root");
        fs::write(t.join("f"), b"").expect("write");
        let err = busybox_rootfs(t.path()).expect_err("non-empty dest");
        assert!(matches!(err, FixtureError::DestNotEmpty { .. }), "{err}");
        let err = busybox_rootfs(&t.join("f")).expect_err("file dest");
        assert!(matches!(err, FixtureError::DestNotEmpty { .. }), "{err}");
    }

    #[test]
    fn rejects_dynamic_busybox() {
        let t = TempRoot::new("fixture").expect("temp root");
        let err = build(Path::new("/bin/sh"), &t.join("rootfs")).expect_err("dynamic sh");
        assert!(matches!(err, FixtureError::NotStatic { .. }), "{err}");
        let err = build(&t.join("missing"), &t.join("rootfs")).expect_err("missing busybox");
        assert!(matches!(err, FixtureError::BusyboxMissing { .. }), "{err}");
    }

    #[test]
    fn rejects_escaping_applet_paths() {
        let bb = Path::new("/bb");
        let err = parse_applets(bb, "bin/ok\n../../etc/evil\n").expect_err("escaping applet");
        assert!(
            matches!(&err, FixtureError::InvalidApplet { applet, .. } if applet == "../../etc/evil"),
            "{err}"
        );
        assert!(parse_applets(bb, "bin/ok\n/abs\n").is_err());
        let ok = parse_applets(bb, "bin/ok\nbin/busybox\n\nlinuxrc\n").expect("plain applets");
        assert_eq!(ok, ["bin/ok", "linuxrc"]);
    }
}
