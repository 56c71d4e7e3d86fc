//! Packing: round trips through unpack and GNU tar, reproducibility, and
//! overlay upper directories made by a real overlay mount.

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::process::Command;

use nix::sys::stat::{Mode, SFlag, UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;
use rbox_test_support::{have_command, require, require_root};

use super::*;

fn set_mtime(p: &Path, secs: i64) {
    utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &TimeSpec::new(secs, 0),
        &TimeSpec::new(secs, 0),
        UtimensatFlags::NoFollowSymlink,
    )
    .expect("utimensat");
}

/// A tree with every kind of entry the packer writes.
fn make_tree(root: &Path) {
    let w = |p: &str, data: &[u8], mode: u32| {
        let path = root.join(p);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, data).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
    };
    w("etc/hosts", b"127.0.0.1 localhost\n", 0o644);
    w("bin/busybox", &vec![0x7f; 100_000], 0o755);
    w("bin/su", b"setuid", 0o4755);
    w("empty", b"", 0o600);
    fs::hard_link(root.join("bin/busybox"), root.join("bin/ls")).expect("hard link");
    symlink("busybox", root.join("bin/sh")).expect("symlink");
    symlink("/etc", root.join("abs-etc")).expect("symlink");
    let long = format!("{}/{}", "l".repeat(120), "f".repeat(150));
    w(&long, b"long", 0o644);
    let deep = format!("{}/leaf", "nest/".repeat(60));
    w(&deep, b"deep", 0o644);
    fs::create_dir(root.join("tmp")).expect("tmp");
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).expect("chmod");
    nix::unistd::mkfifo(&root.join("fifo"), Mode::from_bits_truncate(0o640)).expect("fifo");
    let c = CString::new(root.join("etc/hosts").as_os_str().as_bytes()).expect("path");
    crate::sys::lsetxattr(&c, c"user.rbox.test", b"xattr value").expect("user xattr");
    if nix::unistd::geteuid().is_root() {
        nix::sys::stat::mknod(
            &root.join("null"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .expect("mknod");
        nix::unistd::chown(&root.join("empty"), Some(1000.into()), Some(1001.into()))
            .expect("chown");
        nix::unistd::chown(&root.join("bin/su"), Some(3_000_000.into()), Some(0.into()))
            .expect("chown big uid");
        fs::set_permissions(root.join("bin/su"), fs::Permissions::from_mode(0o4755))
            .expect("chmod after chown");
    }
    // Children first: creating entries changes a directory's mtime.
    let mut all: Vec<PathBuf> = Vec::new();
    collect(root, &mut all);
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in all.iter().enumerate() {
        set_mtime(p, 1_500_000_000 + i as i64);
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if fs::symlink_metadata(&p).expect("lstat").is_dir() {
            collect(&p, out);
        }
        out.push(p);
    }
}

fn pack_to_vec(dir: &Path, options: &PackOptions) -> (PackedLayer, Vec<u8>) {
    let mut out = Vec::new();
    let packed = pack(dir, options, &mut out).expect("pack");
    (packed, out)
}

#[test]
fn round_trip_through_unpack_preserves_the_tree() {
    let src = Sandbox::new();
    make_tree(&src.target());
    let (packed, bytes) = pack_to_vec(&src.target(), &PackOptions::default());
    assert_eq!(packed.compression, Compression::Gzip);
    assert_eq!(packed.digest, Digest::sha256(&bytes));
    assert_eq!(packed.size, bytes.len() as u64);
    let dst = Sandbox::new();
    let got = dst
        .unpack(&bytes, &UnpackOptions::default())
        .expect("unpack");
    assert_eq!(got.diff_id, packed.diff_id);
    assert_eq!(got.digest, packed.digest);
    assert_eq!(got.entries, packed.entries);
    let tree = describe(&dst.target());
    assert_eq!(describe(&src.target()), tree);
    // The comparison covers what matters: attributes, links, owners.
    assert!(
        tree["etc/hosts"].contains("user.rbox.test"),
        "{}",
        tree["etc/hosts"]
    );
    assert!(tree["bin/ls"].contains("nlink=2"), "{}", tree["bin/ls"]);
    assert!(tree["bin/su"].contains("mode=4755"), "{}", tree["bin/su"]);
    if nix::unistd::geteuid().is_root() {
        assert!(tree["bin/su"].contains("uid=3000000"), "{}", tree["bin/su"]);
        assert!(tree["null"].starts_with("chr:"), "{}", tree["null"]);
    }
    assert_eq!(tree.len(), 75, "every entry came back");
}

#[test]
fn gnu_tar_reads_what_we_write() {
    const T: &str = "gnu_tar_reads_what_we_write";
    if !require(T, "GNU tar", have_command("tar")) {
        return;
    }
    let src = Sandbox::new();
    make_tree(&src.target());
    let options = PackOptions {
        compression: Compression::None,
        ..PackOptions::default()
    };
    let (_, bytes) = pack_to_vec(&src.target(), &options);
    let dst = Sandbox::new();
    fs::write(dst.tmp.join("layer.tar"), &bytes).expect("write layer");
    let out = Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "-xpf"])
        .arg(dst.tmp.join("layer.tar"))
        .arg("-C")
        .arg(dst.target())
        .output()
        .expect("run tar");
    assert!(
        out.status.success(),
        "tar: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(describe(&src.target()), describe(&dst.target()));
}

#[test]
fn packing_is_reproducible() {
    let a = Sandbox::new();
    make_tree(&a.target());
    let (first, bytes1) = pack_to_vec(&a.target(), &PackOptions::default());
    let (second, bytes2) = pack_to_vec(&a.target(), &PackOptions::default());
    assert_eq!(first, second);
    assert_eq!(bytes1, bytes2);

    // The same content elsewhere, with other times: equal under Fixed.
    let b = Sandbox::new();
    unpack(&bytes1[..], &b.target(), &UnpackOptions::default()).expect("copy");
    let mut all = Vec::new();
    collect(&b.target(), &mut all);
    for p in &all {
        set_mtime(p, 1_700_000_000);
    }
    let fixed = PackOptions {
        mtime: Mtime::Fixed(0),
        ..PackOptions::default()
    };
    assert_ne!(
        pack_to_vec(&b.target(), &PackOptions::default()).0.digest,
        first.digest
    );
    assert_eq!(
        pack_to_vec(&a.target(), &fixed).0,
        pack_to_vec(&b.target(), &fixed).0
    );

    // A changed byte changes the digest.
    fs::write(b.target().join("etc/hosts"), b"127.0.0.1 otherhost\n").expect("edit");
    assert_ne!(
        pack_to_vec(&a.target(), &fixed).0.digest,
        pack_to_vec(&b.target(), &fixed).0.digest
    );
}

#[test]
fn clamped_mtimes_never_exceed_the_epoch_given() {
    let src = Sandbox::new();
    make_tree(&src.target());
    set_mtime(&src.target().join("empty"), 1_000);
    let options = PackOptions {
        mtime: Mtime::Clamp(1_500_000_005),
        ..PackOptions::default()
    };
    let (_, bytes) = pack_to_vec(&src.target(), &options);
    let mut archive = tar::Archive::new(decompress(&bytes[..]).expect("decompress").1);
    for e in archive.entries().expect("entries") {
        let e = e.expect("entry");
        let mtime = e.header().mtime().expect("mtime");
        assert!(mtime <= 1_500_000_005, "{:?}", e.path());
        if e.path().expect("path").to_str() == Some("empty") {
            assert_eq!(mtime, 1_000);
        }
    }
}

#[test]
fn every_compression_has_the_same_diff_id() {
    let src = Sandbox::new();
    make_tree(&src.target());
    let mut diff_ids = Vec::new();
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let options = PackOptions {
            compression,
            ..PackOptions::default()
        };
        let (p, bytes) = pack_to_vec(&src.target(), &options);
        assert_eq!(p.digest, Digest::sha256(&bytes));
        assert_eq!(decompress(&bytes[..]).expect("detect").0, compression);
        if compression == Compression::None {
            assert_eq!(p.digest, p.diff_id);
            assert_eq!(p.uncompressed_size, bytes.len() as u64);
        }
        diff_ids.push(p.diff_id);
    }
    assert!(diff_ids.windows(2).all(|w| w[0] == w[1]), "{diff_ids:?}");
}

#[test]
fn symlinks_are_packed_not_followed() {
    let src = Sandbox::new();
    symlink("/etc", src.target().join("etc")).expect("symlink");
    symlink(src.outside(), src.target().join("out")).expect("symlink");
    let options = PackOptions {
        compression: Compression::None,
        ..PackOptions::default()
    };
    let (p, bytes) = pack_to_vec(&src.target(), &options);
    assert_eq!(p.entries, 2);
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains("do not touch"), "the secret was read");
    assert!(!text.contains("root:x:0:0"), "/etc was read");
}

#[test]
fn an_overlay_upper_becomes_oci_whiteouts() {
    const T: &str = "an_overlay_upper_becomes_oci_whiteouts";
    if !require_root(T)
        || !require(
            T,
            "unshare(CLONE_NEWNS)",
            rbox_test_support::can_unshare(rbox_test_support::CloneFlags::CLONE_NEWNS),
        )
    {
        return;
    }
    let sb = Sandbox::new();
    let base = sb.tmp.path().to_path_buf();
    for d in ["lower", "upper", "work", "merged"] {
        fs::create_dir(base.join(d)).expect("mkdir");
    }
    let lower = base.join("lower");
    for (p, data) in [
        ("gone", "lower"),
        ("dir/old", "lower"),
        ("dir/sub/old2", "lower"),
        ("keep", "lower"),
    ] {
        fs::create_dir_all(lower.join(p).parent().expect("parent")).expect("mkdir");
        fs::write(lower.join(p), data).expect("write");
    }
    // Work in the merged view in a thread with its own mount namespace,
    // so the overlay vanishes with it.
    let b = base.clone();
    let merged_view = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare");
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .expect("make / private");
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            b.join("lower").display(),
            b.join("upper").display(),
            b.join("work").display()
        );
        nix::mount::mount(
            Some("overlay"),
            &b.join("merged"),
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(opts.as_str()),
        )
        .expect("mount overlay");
        let m = b.join("merged");
        fs::remove_file(m.join("gone")).expect("rm gone");
        fs::remove_dir_all(m.join("dir")).expect("rm -r dir");
        fs::create_dir(m.join("dir")).expect("mkdir dir (opaque)");
        fs::write(m.join("dir/new"), b"upper").expect("write new");
        fs::write(m.join("added"), b"upper").expect("write added");
        let view = shape(&m);
        nix::mount::umount(&m).expect("umount");
        view
    })
    .join()
    .expect("overlay thread");

    let options = PackOptions {
        source: PackSource::OverlayUpper,
        compression: Compression::None,
        ..PackOptions::default()
    };
    let (_, bytes) = pack_to_vec(&base.join("upper"), &options);
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(&bytes[..]);
    for e in archive.entries().expect("entries") {
        let e = e.expect("entry");
        names.push(e.path().expect("path").display().to_string());
        let pax = format!("{:?}", e.header());
        assert!(
            !pax.contains("trusted.overlay"),
            "overlay attributes leaked"
        );
    }
    assert!(names.contains(&".wh.gone".to_owned()), "{names:?}");
    assert!(names.contains(&"dir/.wh..wh..opq".to_owned()), "{names:?}");

    // Applying the layer to a copy of the lower gives the merged view.
    let applied = Sandbox::new();
    let copy_opts = PackOptions {
        compression: Compression::None,
        ..PackOptions::default()
    };
    let (_, lower_layer) = pack_to_vec(&lower, &copy_opts);
    applied
        .unpack(&lower_layer, &UnpackOptions::default())
        .expect("lower");
    applied
        .unpack(&bytes, &UnpackOptions::default())
        .expect("upper");
    assert_eq!(shape(&applied.target()), merged_view);
}

/// Paths, kinds and contents only.
fn shape(root: &Path) -> BTreeMap<String, String> {
    let mut all = Vec::new();
    collect(root, &mut all);
    all.into_iter()
        .map(|p| {
            let m = fs::symlink_metadata(&p).expect("lstat");
            let what = if m.is_dir() {
                "dir".to_owned()
            } else {
                String::from_utf8_lossy(&fs::read(&p).unwrap_or_default()).into_owned()
            };
            (
                p.strip_prefix(root).expect("below").display().to_string(),
                what,
            )
        })
        .collect()
}

#[test]
fn an_upper_with_redirects_or_metacopy_is_refused() {
    if !require_root("an_upper_with_redirects_or_metacopy_is_refused") {
        return;
    }
    let sb = Sandbox::new();
    let dir = sb.target().join("renamed");
    fs::create_dir(&dir).expect("mkdir");
    let c = CString::new(dir.as_os_str().as_bytes()).expect("path");
    crate::sys::lsetxattr(&c, c"trusted.overlay.redirect", b"/original").expect("set redirect");
    let options = PackOptions {
        source: PackSource::OverlayUpper,
        ..PackOptions::default()
    };
    let e = pack(&sb.target(), &options, std::io::sink()).expect_err("refused");
    assert!(
        matches!(&e, Error::OverlayFeature { attribute: "trusted.overlay.redirect", path } if path.ends_with("renamed")),
        "{e}"
    );
    // As a plain tree it packs, without the overlay attribute.
    let (p, _) = pack_to_vec(&sb.target(), &PackOptions::default());
    assert_eq!(p.entries, 1);
}
