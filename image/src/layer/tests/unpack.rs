//! Unpacking well-formed layers: every entry kind and its metadata, the
//! three compressions and their digests, whiteouts in both modes.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use rbox_test_support::require_root;

use super::*;

fn options() -> UnpackOptions {
    UnpackOptions::default()
}

fn sample() -> Vec<u8> {
    archive(&[
        Member::dir("etc/").mode(0o755).mtime(1_500_000_000),
        Member::file("etc/hosts", "127.0.0.1 localhost\n").mtime(1_500_000_001),
        Member::file("bin/su", "#!setuid").mode(0o4755).owner(0, 0),
        Member::file("bin/wall", "sgid").mode(0o2755).owner(0, 5),
        Member::dir("tmp/").mode(0o1777),
        Member::file("home/user/notes", "mine")
            .owner(1000, 1000)
            .mode(0o600),
        Member::symlink("bin/sh", "busybox").mtime(1_400_000_000),
        Member::file("bin/busybox", vec![0x7f; 70_000]).mode(0o755),
        Member::hardlink("bin/ls", "bin/busybox"),
        Member::new(b'6', "run/fifo").mode(0o600),
    ])
}

#[test]
fn plain_gzip_and_zstd_give_one_tree_and_one_diff_id() {
    let tar = sample();
    let diff_id = Digest::sha256(&tar);
    let mut trees = Vec::new();
    for (stream, compression) in [
        (tar.clone(), Compression::None),
        (gzip(&tar), Compression::Gzip),
        (zstd(&tar), Compression::Zstd),
    ] {
        let sb = Sandbox::new();
        let got = sb.unpack(&stream, &options()).expect("unpack");
        assert_eq!(got.compression, compression);
        assert_eq!(got.diff_id, diff_id, "{compression:?}");
        assert_eq!(got.digest, Digest::sha256(&stream), "{compression:?}");
        assert_eq!(got.size, stream.len() as u64);
        assert_eq!(got.entries, 10);
        let mut tree = describe(&sb.target());
        // Parents the archive does not list get the time of their creation.
        for implicit in ["bin", "home", "home/user", "run"] {
            tree.remove(implicit).expect("an implicit parent");
        }
        trees.push(tree);
    }
    assert_eq!(trees[0], trees[1]);
    assert_eq!(trees[0], trees[2]);
}

#[test]
fn entries_keep_content_modes_owners_and_times() {
    let sb = Sandbox::new();
    sb.unpack(&sample(), &options()).expect("unpack");
    let t = sb.target();
    assert_eq!(
        fs::read(t.join("etc/hosts")).expect("hosts"),
        b"127.0.0.1 localhost\n"
    );
    let m = |p: &str| fs::symlink_metadata(t.join(p)).expect(p);
    assert_eq!(m("etc/hosts").mtime(), 1_500_000_001);
    assert_eq!(
        m("etc").mtime(),
        1_500_000_000,
        "directory mtime set after its children"
    );
    assert_eq!(m("etc").mode() & 0o7777, 0o755);
    assert_eq!(m("tmp").mode() & 0o7777, 0o1777, "sticky bit");
    assert_eq!(m("bin/su").mode() & 0o7777, 0o4755, "setuid kept");
    assert_eq!(m("bin/wall").mode() & 0o7777, 0o2755, "setgid kept");
    assert_eq!(m("home/user/notes").mode() & 0o7777, 0o600);
    assert!(m("home").is_dir(), "missing parents are created");
    assert_eq!(m("home").mode() & 0o7777, 0o755);
    assert_eq!(
        fs::read_link(t.join("bin/sh")).expect("link").to_str(),
        Some("busybox")
    );
    assert_eq!(m("bin/sh").mtime(), 1_400_000_000, "symlink's own mtime");
    assert_eq!(m("bin/ls").ino(), m("bin/busybox").ino(), "hard link");
    assert_eq!(m("bin/busybox").nlink(), 2);
    assert!(m("run/fifo").file_type().is_fifo());
    if nix::unistd::geteuid().is_root() {
        assert_eq!(
            (m("home/user/notes").uid(), m("home/user/notes").gid()),
            (1000, 1000)
        );
        assert_eq!(m("bin/wall").gid(), 5);
    }
}

#[test]
fn devices_are_created_as_root() {
    if !require_root("devices_are_created_as_root") {
        return;
    }
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::device(b'3', "dev/null", 1, 3).mode(0o666),
        Member::device(b'4', "dev/loop9", 7, 9).mode(0o660),
    ]);
    let got = sb.unpack(&tar, &options()).expect("unpack");
    assert_eq!(got.entries, 2);
    let null = fs::symlink_metadata(sb.target().join("dev/null")).expect("null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let lp = fs::symlink_metadata(sb.target().join("dev/loop9")).expect("loop");
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), nix::sys::stat::makedev(7, 9));
}

#[test]
fn devices_can_be_skipped_or_refused() {
    let tar = archive(&[
        Member::device(b'3', "dev/null", 1, 3),
        Member::file("ok", "x"),
    ]);
    let sb = Sandbox::new();
    let skip = UnpackOptions {
        devices: Devices::Skip,
        ..options()
    };
    sb.unpack(&tar, &skip).expect("skip");
    assert!(!sb.target().join("dev/null").exists());
    assert!(sb.target().join("ok").exists());
    let sb = Sandbox::new();
    let refuse = UnpackOptions {
        devices: Devices::Refuse,
        ..options()
    };
    let e = sb.unpack(&tar, &refuse).expect_err("refused");
    assert!(
        matches!(&e, Error::UnsafeEntry { entry, .. } if entry == "dev/null"),
        "{e}"
    );
}

#[test]
fn pax_records_set_long_names_xattrs_and_fine_mtimes() {
    let sb = Sandbox::new();
    let long = format!("{}/file", "d".repeat(200));
    let tar = archive(&[
        Member::pax(&[
            ("path", long.as_bytes()),
            ("mtime", b"1600000000.25"),
            ("SCHILY.xattr.user.test", b"value"),
            ("SCHILY.xattr.trusted.overlay.opaque", b"y"),
        ]),
        Member::file("ignored-name", "long"),
        Member::pax(&[("uid", b"3000000"), ("gid", b"3000001")]),
        Member::file("big-ids", "x"),
    ]);
    sb.unpack(&tar, &options()).expect("unpack");
    let p = sb.target().join(&long);
    assert_eq!(fs::read(&p).expect("long name"), b"long");
    let m = fs::metadata(&p).expect("stat");
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_600_000_000, 250_000_000));
    let xattrs = xattrs_of(&p);
    assert!(
        xattrs.contains(&("user.test".into(), b"value".to_vec())),
        "{xattrs:?}"
    );
    assert!(
        !xattrs.iter().any(|(k, _)| k.starts_with("trusted.overlay")),
        "overlay attributes from a layer are not applied: {xattrs:?}"
    );
    assert!(!sb.target().join("ignored-name").exists());
    if nix::unistd::geteuid().is_root() {
        let m = fs::metadata(sb.target().join("big-ids")).expect("ids");
        assert_eq!((m.uid(), m.gid()), (3_000_000, 3_000_001));
    }
}

#[test]
fn later_entries_replace_earlier_ones_and_lower_content() {
    let sb = Sandbox::new();
    let t = sb.target();
    fs::create_dir_all(t.join("keep/old")).expect("lower");
    fs::write(t.join("keep/old/f"), b"lower").expect("lower");
    fs::write(t.join("replaced"), b"lower").expect("lower");
    fs::create_dir_all(t.join("was-dir/sub")).expect("lower");
    let tar = archive(&[
        Member::dir("keep/").mode(0o750),
        Member::file("replaced", "upper"),
        Member::file("was-dir", "now a file"),
        Member::file("twice", "first"),
        Member::file("twice", "second"),
        Member::file("a", "a"),
        Member::hardlink("b", "a"),
        Member::file("b", "new b"),
    ]);
    sb.unpack(&tar, &options()).expect("unpack");
    assert_eq!(
        fs::read(t.join("keep/old/f")).expect("kept"),
        b"lower",
        "dir over dir keeps content"
    );
    assert_eq!(
        fs::metadata(t.join("keep")).expect("keep").mode() & 0o7777,
        0o750
    );
    assert_eq!(fs::read(t.join("replaced")).expect("replaced"), b"upper");
    assert_eq!(fs::read(t.join("was-dir")).expect("file"), b"now a file");
    assert_eq!(fs::read(t.join("twice")).expect("twice"), b"second");
    assert_eq!(
        fs::read(t.join("a")).expect("a"),
        b"a",
        "rewriting a hard link does not write through"
    );
    assert_eq!(fs::read(t.join("b")).expect("b"), b"new b");
}

#[test]
fn whiteouts_remove_lower_content_and_opaque_dirs_keep_this_layer() {
    let sb = Sandbox::new();
    let t = sb.target();
    for p in [
        "gone/deep/x",
        "file-gone",
        "opq/lower1",
        "opq/sub/lower2",
        "stay/y",
    ] {
        fs::create_dir_all(t.join(p).parent().expect("parent")).expect("mkdir");
        fs::write(t.join(p), b"lower").expect("write");
    }
    let tar = archive(&[
        Member::file(".wh.gone", ""),
        Member::file(".wh.file-gone", ""),
        Member::file(".wh.never-existed", ""),
        Member::file("nodir/.wh.x", ""),
        Member::dir("opq/"),
        Member::file("opq/new-before", "upper"),
        Member::file("opq/sub/new-deep", "upper"),
        Member::file("opq/.wh..wh..opq", ""),
        Member::file("opq/new-after", "upper"),
        Member::file(".wh..wh.plnk", ""),
    ]);
    sb.unpack(&tar, &options()).expect("unpack");
    assert!(!t.join("gone").exists());
    assert!(!t.join("file-gone").exists());
    assert!(!t.join("nodir").exists(), "a whiteout creates nothing");
    assert!(t.join("stay/y").exists());
    assert!(!t.join("opq/lower1").exists());
    assert!(
        !t.join("opq/sub/lower2").exists(),
        "lower content below a kept directory is hidden"
    );
    for p in ["opq/new-before", "opq/sub/new-deep", "opq/new-after"] {
        assert_eq!(fs::read(t.join(p)).expect(p), b"upper");
    }
    assert!(!t.join(".wh..wh.plnk").exists());
    assert!(!t.join("opq/.wh..wh..opq").exists());
}

#[test]
fn overlay_mode_writes_overlay_whiteouts() {
    if !require_root("overlay_mode_writes_overlay_whiteouts") {
        return;
    }
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::dir("d/"),
        Member::file("d/.wh..wh..opq", ""),
        Member::file("d/.wh.gone", ""),
        Member::file(".wh.top", ""),
    ]);
    let overlay = UnpackOptions {
        whiteouts: Whiteouts::Overlay,
        ..options()
    };
    sb.unpack(&tar, &overlay).expect("unpack");
    let t = sb.target();
    for p in ["d/gone", "top"] {
        let m = fs::symlink_metadata(t.join(p)).expect(p);
        assert!(m.file_type().is_char_device(), "{p}");
        assert_eq!(m.rdev(), 0, "{p}");
    }
    let attrs = xattrs_of(&t.join("d"));
    assert!(
        attrs.contains(&("trusted.overlay.opaque".into(), b"y".to_vec())),
        "{attrs:?}"
    );
}

#[test]
fn unsupported_compression_is_named() {
    let sb = Sandbox::new();
    let e = sb
        .unpack(&[0xfd, b'7', b'z', b'X', b'Z', 0, 1, 2], &options())
        .expect_err("xz");
    assert!(
        matches!(e, Error::UnsupportedCompression { format: "xz" }),
        "{e}"
    );
    let e = sb.unpack(b"BZh91AY&SY", &options()).expect_err("bzip2");
    assert!(e.to_string().contains("bzip2"), "{e}");
}

#[test]
fn an_empty_stream_is_an_empty_layer() {
    let sb = Sandbox::new();
    let got = sb.unpack(&[], &options()).expect("empty");
    assert_eq!(got.entries, 0);
    assert_eq!(got.diff_id, Digest::sha256(b""));
    let got = sb.unpack(&[0; 1024], &options()).expect("end blocks only");
    assert_eq!(got.entries, 0);
    assert_eq!(got.size, 1024);
}

#[test]
fn a_root_entry_and_dot_slash_names_are_accepted() {
    let sb = Sandbox::new();
    let before = fs::metadata(sb.target()).expect("target").mode();
    let tar = archive(&[
        Member::dir("./").mode(0o700),
        Member::dir("./usr/"),
        Member::file("./usr//bin/./tool", "t"),
    ]);
    sb.unpack(&tar, &options()).expect("unpack");
    assert_eq!(
        fs::read(sb.target().join("usr/bin/tool")).expect("tool"),
        b"t"
    );
    assert_eq!(
        fs::metadata(sb.target()).expect("target").mode(),
        before,
        "the target itself is left alone"
    );
}

#[test]
fn parent_symlinks_resolve_inside_the_target() {
    // Merged-/usr images: lib -> usr/lib, and a later layer writes lib/x.
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::dir("usr/lib/"),
        Member::symlink("lib", "usr/lib"),
        Member::symlink("abs", "/usr/lib"),
        Member::file("lib/libx.so", "x"),
        Member::file("abs/liby.so", "y"),
    ]);
    sb.unpack(&tar, &options()).expect("unpack");
    assert_eq!(
        fs::read(sb.target().join("usr/lib/libx.so")).expect("x"),
        b"x"
    );
    assert_eq!(
        fs::read(sb.target().join("usr/lib/liby.so")).expect("y"),
        b"y"
    );
    sb.assert_outside_untouched();

    let strict = UnpackOptions {
        follow_parent_symlinks: false,
        ..options()
    };
    let sb = Sandbox::new();
    let e = sb.unpack(&tar, &strict).expect_err("refused");
    assert!(
        matches!(&e, Error::UnsafeEntry { entry, .. } if entry == "lib/libx.so"),
        "{e}"
    );
}
