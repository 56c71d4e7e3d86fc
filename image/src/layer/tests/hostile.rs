//! Hostile layers. Each archive tries to reach `outside/` (a sibling of
//! the target holding a secret) or to break the reader; each must fail with
//! an error naming the entry, or be confined to the target, and
//! [`Sandbox::assert_outside_untouched`] checks that nothing outside the
//! target changed either way.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use rbox_test_support::require_root;

use super::*;

fn options() -> UnpackOptions {
    UnpackOptions::default()
}

/// Unpacks and expects a refusal naming `entry`.
fn refused(sb: &Sandbox, tar: &[u8], entry: &str) -> String {
    let e = sb.unpack(tar, &options()).expect_err("must be refused");
    match &e {
        Error::UnsafeEntry { entry: got, .. } => assert_eq!(got, entry, "{e}"),
        other => panic!("expected a refusal of {entry:?}, got {other:?}"),
    }
    sb.assert_outside_untouched();
    e.to_string()
}

#[test]
fn path_traversal_is_refused() {
    for name in [
        "../outside/pwned",
        "a/../../outside/pwned",
        "./../outside/pwned",
        "a/b/../../../outside/pwned",
    ] {
        let sb = Sandbox::new();
        let msg = refused(&sb, &archive(&[Member::file(name, "pwned")]), name);
        assert!(msg.contains(".."), "{msg}");
    }
}

#[test]
fn absolute_names_are_refused() {
    let sb = Sandbox::new();
    let mut name = sb.outside_bytes();
    name.extend_from_slice(b"/pwned");
    let name = String::from_utf8(name).expect("utf8 temp path");
    let msg = refused(&sb, &archive(&[Member::file(&name, "pwned")]), &name);
    assert!(msg.contains("absolute"), "{msg}");
    let sb = Sandbox::new();
    refused(&sb, &archive(&[Member::dir("/")]), "/");
}

#[test]
fn long_name_records_cannot_smuggle_traversal() {
    let sb = Sandbox::new();
    let evil = format!("{}/../../../outside/pwned", "a/".repeat(60));
    let tar = archive(&[
        Member::pax(&[("path", evil.as_bytes())]),
        Member::file("innocent", "pwned"),
    ]);
    refused(&sb, &tar, &evil);
    // GNU long name ('L' member holding the real name).
    let sb = Sandbox::new();
    let mut l = Member::new(b'L', "././@LongLink");
    l.data = b"../outside/pwned\0".to_vec();
    let tar = archive(&[l, Member::file("innocent", "pwned")]);
    refused(&sb, &tar, "../outside/pwned");
}

#[test]
fn writing_through_a_symlink_to_outside_is_refused() {
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::symlink("link", sb.outside_bytes()),
        Member::file("link/pwned", "pwned"),
    ]);
    // Resolved inside the target, the link points at nothing.
    refused(&sb, &tar, "link/pwned");
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::symlink("rel", "../outside"),
        Member::file("rel/pwned", "pwned"),
    ]);
    refused(&sb, &tar, "rel/pwned");
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::symlink("deep", "../../../../../../../.."),
        Member::file("deep/pwned", "confined"),
    ]);
    // `..` above the root stays at the root: the file lands in the target.
    sb.unpack(&tar, &options()).expect("confined");
    assert_eq!(
        fs::read(sb.target().join("pwned")).expect("in target"),
        b"confined"
    );
    sb.assert_outside_untouched();
}

#[test]
fn a_symlink_at_the_final_component_is_replaced_not_followed() {
    let sb = Sandbox::new();
    let mut secret = sb.outside_bytes();
    secret.extend_from_slice(b"/secret");
    let tar = archive(&[
        Member::symlink("f", &secret),
        Member::file("f", "overwritten?").mode(0o777),
        Member::symlink("d", sb.outside_bytes()),
        Member::dir("d/").mode(0o777),
        Member::symlink("n", &secret),
        Member::new(b'6', "n").mode(0o777),
    ]);
    sb.unpack(&tar, &options()).expect("replaced");
    let t = sb.target();
    assert!(fs::symlink_metadata(t.join("f")).expect("f").is_file());
    assert!(fs::symlink_metadata(t.join("d")).expect("d").is_dir());
    assert_eq!(
        fs::metadata(sb.outside()).expect("outside").mode() & 0o777,
        0o755
    );
    sb.assert_outside_untouched();
}

#[test]
fn hard_links_to_outside_are_refused() {
    let sb = Sandbox::new();
    refused(
        &sb,
        &archive(&[Member::hardlink("passwd", "/etc/passwd")]),
        "passwd",
    );
    let sb = Sandbox::new();
    refused(
        &sb,
        &archive(&[Member::hardlink("s", "../outside/secret")]),
        "s",
    );
    // Through a symlink: resolved inside the target, where it is absent.
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::symlink("link", sb.outside_bytes()),
        Member::hardlink("s", "link/secret"),
    ]);
    let msg = refused(&sb, &tar, "s");
    assert!(msg.contains("link/secret"), "{msg}");
    // A link to a missing entry names its target.
    let sb = Sandbox::new();
    let msg = refused(&sb, &archive(&[Member::hardlink("x", "nothing/here")]), "x");
    assert!(msg.contains("nothing/here"), "{msg}");
}

#[test]
fn a_hard_link_to_a_symlink_links_the_symlink() {
    let sb = Sandbox::new();
    let mut secret = sb.outside_bytes();
    secret.extend_from_slice(b"/secret");
    let tar = archive(&[Member::symlink("s", &secret), Member::hardlink("h", "s")]);
    sb.unpack(&tar, &options()).expect("unpack");
    let h = fs::symlink_metadata(sb.target().join("h")).expect("h");
    assert!(h.file_type().is_symlink());
    sb.assert_outside_untouched();
}

#[test]
fn whiteouts_cannot_reach_outside() {
    for name in [".wh...", "a/.wh...", ".wh..", ".wh."] {
        let sb = Sandbox::new();
        refused(&sb, &archive(&[Member::file(name, "")]), name);
    }
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::symlink("link", sb.outside_bytes()),
        Member::file("link/.wh.secret", ""),
        Member::symlink("up", "../outside"),
        Member::file("up/.wh.secret", ""),
        Member::file("../outside/.wh.secret", ""),
    ]);
    let e = sb.unpack(&tar, &options()).expect_err("the traversal");
    assert!(
        matches!(&e, Error::UnsafeEntry { entry, .. } if entry == "../outside/.wh.secret"),
        "{e}"
    );
    sb.assert_outside_untouched();
}

#[test]
fn an_opaque_marker_through_a_symlink_stays_inside() {
    let sb = Sandbox::new();
    fs::write(sb.target().join("lower"), b"lower").expect("lower");
    let tar = archive(&[
        Member::symlink("root", "/"),
        Member::file("root/.wh..wh..opq", ""),
        Member::file("kept", "upper"),
    ]);
    sb.unpack(&tar, &options()).expect("confined");
    // The marker applied to the target's root: lower content hidden.
    assert!(!sb.target().join("lower").exists());
    assert_eq!(fs::read(sb.target().join("kept")).expect("kept"), b"upper");
    sb.assert_outside_untouched();
}

#[test]
fn replacing_a_directory_with_a_symlink_does_not_redirect_later_entries() {
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::dir("d/"),
        Member::file("d/f", "first"),
        Member::symlink("d", sb.outside_bytes()),
        Member::file("d/pwned", "pwned"),
    ]);
    refused(&sb, &tar, "d/pwned");
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::dir("d/"),
        Member::file("d/f", "first"),
        Member::symlink("d", "/"),
        Member::file("d/at-root", "confined"),
    ]);
    sb.unpack(&tar, &options()).expect("confined");
    assert_eq!(
        fs::read(sb.target().join("at-root")).expect("root"),
        b"confined"
    );
    sb.assert_outside_untouched();
}

#[test]
fn huge_sizes_and_truncated_archives_fail_cleanly() {
    // A header promising 10 GiB, followed by 100 bytes and the end.
    let sb = Sandbox::new();
    let mut tar = Member::file("big", vec![7; 100]).size(10 << 30).bytes();
    tar.truncate(512 + 100);
    let e = sb.unpack(&tar, &options()).expect_err("truncated");
    assert!(
        matches!(&e, Error::Tar { entry: Some(n), .. } if n == "big"),
        "{e:?}"
    );
    let written = fs::metadata(sb.target().join("big")).map_or(0, |m| m.len());
    assert!(written <= 100, "wrote {written} bytes");
    sb.assert_outside_untouched();

    // Cut inside a header, and inside a gzip stream.
    let full = archive(&[Member::file("a", vec![1; 5000]), Member::file("b", "b")]);
    let gz = gzip(&full);
    for cut in [&full[..5120 + 100], &gz[..gz.len() / 2]] {
        let sb = Sandbox::new();
        assert!(sb.unpack(cut, &options()).is_err());
        sb.assert_outside_untouched();
    }
}

#[test]
fn oversized_header_records_are_refused_without_buffering_them() {
    let sb = Sandbox::new();
    let junk = vec![b'a'; 4 << 20];
    let tar = archive(&[
        Member::pax(&[("comment", &junk)]),
        Member::file("after", "x"),
    ]);
    let e = sb.unpack(&gzip(&tar), &options()).expect_err("too big");
    assert!(matches!(e, Error::Tar { .. }), "{e}");
    assert!(format!("{:?}", e).contains("1 MiB"), "{e:?}");
    sb.assert_outside_untouched();
}

#[test]
fn a_bad_checksum_is_a_tar_error() {
    let sb = Sandbox::new();
    let mut tar = archive(&[Member::file("ok", "x"), Member::file("bad", "y")]);
    tar[1024 + 10] ^= 0x55;
    let e = sb.unpack(&tar, &options()).expect_err("checksum");
    assert!(
        matches!(&e, Error::Tar { entry: Some(n), .. } if n == "ok"),
        "{e:?}"
    );
    assert!(e.to_string().contains("after entry \"ok\""), "{e}");
}

#[test]
fn unknown_entry_types_are_refused() {
    let sb = Sandbox::new();
    refused(&sb, &archive(&[Member::new(b'V', "volume")]), "volume");
}

#[test]
fn device_nodes_as_root_with_refuse_and_as_nobody() {
    if !require_root("device_nodes_as_root_with_refuse_and_as_nobody") {
        return;
    }
    let sb = Sandbox::new();
    let tar = archive(&[
        Member::device(b'3', "dev/mem", 1, 1).mode(0o666),
        Member::file("after", "x"),
    ]);
    fs::write(sb.tmp.join("layer.tar"), &tar).expect("write layer");
    // The child runs as nobody and must reach the files.
    fs::set_permissions(sb.tmp.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    nix::unistd::chown(&sb.target(), Some(65534.into()), Some(65534.into())).expect("chown");

    let run = |devices: &str| {
        let out = Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "--exact",
                "layer::tests::hostile::child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, devices)
            .env("RBOX_IMAGE_LAYER_DIR", sb.tmp.path())
            .output()
            .expect("run child");
        assert!(out.status.success(), "child: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix('@').map(str::to_owned))
            .expect("child result")
    };
    // Default options as nobody: devices skipped, the rest applied.
    assert_eq!(run("default"), "ok");
    assert!(!sb.target().join("dev/mem").exists());
    assert!(sb.target().join("after").exists());
    // Asking for devices without the privilege is an error naming it.
    let msg = run("create");
    assert!(msg.starts_with("err") && msg.contains("dev/mem"), "{msg}");
    assert!(!sb.target().join("dev/mem").exists());
    fs::remove_file(sb.tmp.join("layer.tar")).expect("remove layer");
    sb.assert_outside_untouched();
}

const CHILD_ENV: &str = "RBOX_IMAGE_LAYER_CHILD";

#[test]
fn child() {
    let Ok(devices) = std::env::var(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(std::env::var("RBOX_IMAGE_LAYER_DIR").expect("dir"));
    nix::unistd::setgroups(&[]).expect("setgroups");
    nix::unistd::setgid(65534.into()).expect("setgid");
    nix::unistd::setuid(65534.into()).expect("setuid");
    let mut options = UnpackOptions::default();
    assert_eq!(options.devices, Devices::Skip, "the default for non-root");
    assert!(!options.same_owner);
    if devices == "create" {
        options.devices = Devices::Create;
    }
    let tar = fs::read(dir.join("layer.tar")).expect("layer");
    match unpack(&tar[..], &dir.join("target"), &options) {
        Ok(_) => println!("\n@ok"),
        Err(e) => println!("\n@err {e}"),
    }
}

#[test]
fn no_partial_file_is_left_readable_as_complete_after_a_failure() {
    // The caller discards the target on error; but a short file must not
    // carry the archive's mode and mtime as if it were complete.
    let sb = Sandbox::new();
    let mut tar = Member::file("x", vec![1; 2000])
        .mode(0o755)
        .mtime(1)
        .bytes();
    tar.truncate(512 + 1000);
    assert!(sb.unpack(&tar, &options()).is_err());
    let m = fs::metadata(sb.target().join("x")).expect("partial");
    assert_ne!(m.mode() & 0o777, 0o755);
    assert_ne!(m.mtime(), 1);
}
