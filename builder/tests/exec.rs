//! Privileged: build steps on real overlay snapshots of the busybox
//! image — RUN in a build container, COPY from a context, the upper
//! directory committed as a layer.

use std::fs;
use std::io::Read;
use std::path::Path;

use rbox_builder::exec::container::{self, Network, RunOptions};
use rbox_builder::exec::copy::{self, CopyOptions};
use rbox_builder::exec::{ExecError, commit, user};
use rbox_image::Store;
use rbox_image::manifest::Platform;
use rbox_image::store::OverlayOptions;
use rbox_test_support::{CgroupGuard, TempRoot, require_root, unique_id};

struct Fixture {
    tmp: TempRoot,
    store: Store,
    lowers: Vec<std::path::PathBuf>,
    cgroup: String,
    _guard: CgroupGuard,
}

fn fixture() -> Fixture {
    let tmp = TempRoot::new("builder-exec").unwrap();
    let store = Store::open(tmp.join("data")).unwrap();
    rbox_fixtures::busybox_image(&store, "busybox").unwrap();
    let img = store.resolve("busybox", &Platform::host()).unwrap();
    let lowers = store.layer_dirs(&img).unwrap();
    let cgroup = format!("/rbox-test/{}", unique_id("bld"));
    let guard = CgroupGuard::new(cgroup.clone());
    Fixture {
        tmp,
        store,
        lowers,
        cgroup,
        _guard: guard,
    }
}

fn run_opts(f: &Fixture, rootfs: &Path, cmd: &str, network: Network) -> RunOptions {
    RunOptions {
        args: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
        env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into(), "STEP=1".into()],
        cwd: "/".into(),
        user: user::resolve(rootfs, "root").unwrap(),
        network,
        mounts: vec![],
        hostname: "build".into(),
        cgroup_parent: f.cgroup.clone(),
        state_root: f.tmp.join("state"),
    }
}

fn layer_names(store: &Store, d: &rbox_image::Digest) -> Vec<String> {
    let (_, r) = rbox_image::layer::decompress(store.open_blob(d).unwrap()).unwrap();
    let mut a = tar::Archive::new(r);
    let mut out: Vec<String> = a
        .entries()
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn run_step_commits_its_changes_only() {
    if !require_root("run_step_commits_its_changes_only") {
        return;
    }
    let f = fixture();
    let merged = f.tmp.join("merged");
    let ovl = f
        .store
        .mount_overlay(
            &f.lowers,
            &f.tmp.join("upper"),
            &f.tmp.join("work"),
            &merged,
            OverlayOptions::throwaway(),
        )
        .unwrap();
    let mut lines = Vec::new();
    let o = run_opts(
        &f,
        &merged,
        "echo made > /made; rm /bin/ls; echo step=$STEP; hostname",
        Network::Default,
    );
    let out = container::run(
        &merged,
        &f.tmp.join("b1"),
        &unique_id("run"),
        &o,
        &mut |l| lines.push(l.to_string()),
    )
    .unwrap();
    assert_eq!(out.code, 0, "{lines:?}");
    assert_eq!(lines, ["step=1", "build"]);
    assert_eq!(fs::read_to_string(merged.join("made")).unwrap(), "made\n");

    // A failing step reports its code and last lines.
    let o = run_opts(
        &f,
        &merged,
        "for i in $(seq 1 20); do echo line$i; done; exit 3",
        Network::None,
    );
    let out = container::run(
        &merged,
        &f.tmp.join("b2"),
        &unique_id("run"),
        &o,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(out.code, 3);
    assert_eq!(out.tail.len(), 10);
    assert_eq!(out.tail.last().unwrap(), "line20");

    // Network none: only loopback.
    let o = run_opts(&f, &merged, "ls /sys/class/net", Network::None);
    let mut ifs = Vec::new();
    container::run(
        &merged,
        &f.tmp.join("b3"),
        &unique_id("run"),
        &o,
        &mut |l| ifs.push(l.to_string()),
    )
    .unwrap();
    assert_eq!(ifs, ["lo"]);
    drop(ovl);

    let c = commit::commit_upper(&f.store, &f.tmp.join("upper"), Some(0)).unwrap();
    let names = layer_names(&f.store, &c.descriptor.digest);
    assert!(names.contains(&"made".to_string()), "{names:?}");
    assert!(names.contains(&"bin/.wh.ls".to_string()), "{names:?}");
    // The bind-mount stubs the runtime made were removed again.
    assert!(
        !names
            .iter()
            .any(|n| n.contains("resolv.conf") || n.contains("hosts")),
        "{names:?}"
    );
}

#[test]
fn copy_step_writes_context_files_safely() {
    if !require_root("copy_step_writes_context_files_safely") {
        return;
    }
    let f = fixture();
    let ctx = f.tmp.join("ctx");
    fs::create_dir_all(ctx.join("sub/deep")).unwrap();
    fs::write(ctx.join("a.txt"), "A").unwrap();
    fs::write(ctx.join("b.txt"), "B").unwrap();
    fs::write(ctx.join("sub/deep/c"), "C").unwrap();
    std::os::unix::fs::symlink("a.txt", ctx.join("sub/link")).unwrap();
    std::os::unix::fs::symlink("/etc/shadow", ctx.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../..", ctx.join("up")).unwrap();

    let merged = f.tmp.join("merged");
    let upper = f.tmp.join("upper");
    let _ovl = f
        .store
        .mount_overlay(
            &f.lowers,
            &upper,
            &f.tmp.join("work"),
            &merged,
            OverlayOptions::throwaway(),
        )
        .unwrap();
    let opts = CopyOptions {
        chown: Some((1000, 1000)),
        chmod: None,
        preserve_owner: false,
    };
    let p = copy::plan(
        &ctx,
        &["*.txt".into()],
        "/app/",
        "/",
        Some(&merged),
        &opts,
        None,
    )
    .unwrap();
    // The same inputs on the same snapshot give the same key.
    let again = copy::plan(
        &ctx,
        &["*.txt".into()],
        "/app/",
        "/",
        Some(&merged),
        &opts,
        None,
    )
    .unwrap();
    assert_eq!(again.content_key, p.content_key);
    copy::apply(&ctx, &p, &merged).unwrap();
    let p2 = copy::plan(
        &ctx,
        &["sub".into()],
        "data",
        "/work",
        Some(&merged),
        &CopyOptions::default(),
        None,
    )
    .unwrap();
    copy::apply(&ctx, &p2, &merged).unwrap();
    assert_eq!(fs::read_to_string(merged.join("app/a.txt")).unwrap(), "A");
    assert_eq!(fs::read_to_string(merged.join("app/b.txt")).unwrap(), "B");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(merged.join("app/a.txt")).unwrap().uid(), 1000);
    assert_eq!(
        fs::read_to_string(merged.join("work/data/deep/c")).unwrap(),
        "C"
    );
    assert_eq!(
        fs::read_link(merged.join("work/data/link")).unwrap(),
        Path::new("a.txt")
    );

    // Other content, another key.
    let before = copy::plan(
        &ctx,
        &["*.txt".into()],
        "/app/",
        "/",
        Some(&merged),
        &opts,
        None,
    )
    .unwrap();
    fs::write(ctx.join("b.txt"), "b").unwrap();
    let changed = copy::plan(
        &ctx,
        &["*.txt".into()],
        "/app/",
        "/",
        Some(&merged),
        &opts,
        None,
    )
    .unwrap();
    assert_ne!(changed.content_key, before.content_key);

    // Hostile and wrong sources.
    let err = |src: &str, dest: &str| -> String {
        match copy::plan(
            &ctx,
            &[src.to_string()],
            dest,
            "/",
            Some(&merged),
            &CopyOptions::default(),
            None,
        ) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{src} -> {dest} accepted"),
        }
    };
    assert!(err("../outside", "/x").contains("outside the build context"));
    assert!(err("missing", "/x").contains("not found in the build context"));
    assert!(err("*.none", "/x/").contains("no file in the build context matches"));
    // A symlink to a host file resolves inside the context (missing).
    assert!(
        err("evil", "/x").contains("not found"),
        "{}",
        err("evil", "/x")
    );
    // A symlink climbing out stays at the context root.
    let p3 = copy::plan(
        &ctx,
        &["up/a.txt".into()],
        "/via-up",
        "/",
        Some(&merged),
        &CopyOptions::default(),
        None,
    )
    .unwrap();
    copy::apply(&ctx, &p3, &merged).unwrap();
    assert_eq!(fs::read_to_string(merged.join("via-up")).unwrap(), "A");
    // A directory reached through that link is the context root too: its
    // listing never comes from the host (whose / has an etc/).
    for src in ["up/", "up/*.txt"] {
        let p = copy::plan(
            &ctx,
            &[src.to_string()],
            "/upcopy/",
            "/",
            Some(&merged),
            &CopyOptions::default(),
            None,
        )
        .unwrap();
        copy::apply(&ctx, &p, &merged).unwrap();
        assert_eq!(
            fs::read_to_string(merged.join("upcopy/a.txt")).unwrap(),
            "A",
            "{src}"
        );
        assert!(
            !merged.join("upcopy/etc").exists(),
            "{src}: the host's / was listed"
        );
    }
    assert!(matches!(
        copy::plan(
            &ctx,
            &["a.txt".into(), "b.txt".into()],
            "/single",
            "/",
            Some(&merged),
            &CopyOptions::default(),
            None
        ),
        Err(ExecError::Dest { .. })
    ));

    // The image's own symlinked parent cannot send a COPY out of the
    // rootfs: make /evil-dir -> / (absolute) in the snapshot.
    std::os::unix::fs::symlink("/../../../../tmp", merged.join("escape")).unwrap();
    let p4 = copy::plan(
        &ctx,
        &["a.txt".into()],
        "/escape/planted",
        "/",
        Some(&merged),
        &CopyOptions::default(),
        None,
    )
    .unwrap();
    copy::apply(&ctx, &p4, &merged).unwrap();
    assert!(merged.join("tmp/planted").exists());
    assert!(!Path::new("/tmp/planted").exists());

    let c = commit::commit_upper(&f.store, &upper, None).unwrap();
    let names = layer_names(&f.store, &c.descriptor.digest);
    for want in [
        "app",
        "app/a.txt",
        "app/b.txt",
        "work/data/deep/c",
        "work/data/link",
    ] {
        assert!(names.contains(&want.to_string()), "{want} not in {names:?}");
    }
    let mut r = f.store.open_blob(&c.descriptor.digest).unwrap();
    let mut head = [0u8; 2];
    r.read_exact(&mut head).unwrap();
    assert_eq!(head, [0x1f, 0x8b], "gzip layer");
}

#[test]
fn glob_segments_match_like_go() {
    let m = copy::match_segment;
    assert!(m("*.txt", "a.txt"));
    assert!(!m("*.txt", "a.txt.bak"));
    assert!(m("a?c", "abc"));
    assert!(m("[a-c]x", "bx"));
    assert!(!m("[^a-c]x", "bx"));
    assert!(m("\\*", "*"));
    assert!(!m("[a", "a"));
}
