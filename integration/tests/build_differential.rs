//! Differential: the same Dockerfiles built by rbox and by buildah give
//! the same image config (Env, Cmd, Entrypoint, WorkingDir, User,
//! ExposedPorts, Labels, Volumes, StopSignal, Healthcheck) and the same
//! file tree (paths, types, modes, owners, contents, link targets; not
//! times). buildah runs with its own storage in the test's temp dir, vfs
//! driver and chroot isolation, so it touches nothing else on the host.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

use rbox_image::Store;
use rbox_image::manifest::Platform;
use rbox_integration::{ok, rbox_bin, stderr};
use rbox_test_support::{CgroupGuard, TempRoot, have_command, require, require_root, unique_id};
use serde_json::Value;

const CASES: &[(&str, &str)] = &[
    (
        "config",
        r#"FROM busybox
ARG VERSION=1.2
ENV APP_HOME=/srv/app VERSION=$VERSION
ENV LEGACY value with spaces
WORKDIR $APP_HOME/data
USER 1000:1000
EXPOSE 80 443/tcp 53/udp
LABEL a=1 "b c"="two words" version=$VERSION
VOLUME ["/srv/data", "/cache"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD wget -q -O- http://localhost/ || exit 1
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo hello"]
"#,
    ),
    (
        // SHELL for RUN. (buildah 1.28 ignores SHELL for a shell-form
        // ENTRYPOINT/CMD, which docker documents it applies to; rbox
        // follows docker, checked in tests/build.rs.)
        "shell",
        r#"FROM busybox
SHELL ["/bin/sh", "-e", "-c"]
RUN echo "$0 $-" > /shell.txt
CMD ["sh"]
"#,
    ),
    (
        "files",
        r#"FROM busybox AS build
WORKDIR /out
COPY app/ ./app/
COPY --chown=1000:1000 conf.ini /etc/app/conf.ini
RUN mkdir -p /out/gen && echo generated > /out/gen/file && chmod 0640 /out/gen/file \
 && ln -s gen/file /out/link && rm /bin/vi && rm -rf /home
FROM busybox
COPY --from=build /out /opt/out
COPY --from=build /etc/app /etc/app
RUN rm /bin/ls && mkdir -p /var/empty && chmod 0711 /var/empty
CMD ["sh"]
"#,
    ),
];

fn context(dir: &Path, dockerfile: &str) {
    fs::create_dir_all(dir.join("app/sub")).unwrap();
    fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    fs::write(dir.join("app/main.sh"), "#!/bin/sh\necho main\n").unwrap();
    fs::set_permissions(
        dir.join("app/main.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    fs::write(dir.join("app/sub/data.txt"), "data\n").unwrap();
    std::os::unix::fs::symlink("main.sh", dir.join("app/run")).unwrap();
    fs::write(dir.join("conf.ini"), "[app]\nx=1\n").unwrap();
}

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("spawn");
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Config fields compared, normalised: absent, null, "" and {} are the same.
fn config_view(c: &Value) -> BTreeMap<&'static str, Value> {
    let norm = |v: &Value| match v {
        Value::Null => Value::Null,
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Object(o) if o.is_empty() => Value::Null,
        Value::Array(a) if a.is_empty() => Value::Null,
        other => other.clone(),
    };
    let mut out = BTreeMap::new();
    for k in [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Healthcheck",
    ] {
        out.insert(k, norm(&c[k]));
    }
    // buildah adds its own version label.
    let mut labels = c["Labels"].clone();
    if let Some(o) = labels.as_object_mut() {
        o.remove("io.buildah.version");
    }
    out.insert("Labels", norm(&labels));
    out
}

/// path -> (type, mode, uid, gid, content or link target)
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let what = if m.file_type().is_symlink() {
                format!("link {}", fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else if m.is_file() {
                let data = fs::read(&p).unwrap();
                format!("file {}", rbox_image::Digest::sha256(&data))
            } else {
                format!("special {:o}", m.mode() & 0o170000)
            };
            out.insert(
                rel,
                format!(
                    "{what} mode={:o} owner={}:{}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ),
            );
        }
    }
    out
}

#[test]
fn rbox_and_buildah_build_the_same_images() {
    if !require_root("rbox_and_buildah_build_the_same_images")
        || !require(
            "rbox_and_buildah_build_the_same_images",
            "buildah",
            have_command("buildah"),
        )
    {
        return;
    }
    let tmp = TempRoot::new("rbox-build-diff").unwrap();
    let data = tmp.join("data");
    let cgroup = format!("/rbox-test/{}", unique_id("bdiff"));
    let _guard = CgroupGuard::new(cgroup.clone());
    let archive = tmp.join("busybox.tar");
    rbox_fixtures::busybox_archive(&archive, "busybox", &tmp.join("scratch")).unwrap();
    let rbox = |args: &[&str]| {
        Command::new(rbox_bin())
            .arg("--data-root")
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    ok(&rbox(&["load", "-i", archive.to_str().unwrap()]));
    let bh_root = tmp.join("buildah");
    let buildah = |args: &[&str]| {
        let mut c = Command::new("buildah");
        c.arg("--root")
            .arg(bh_root.join("root"))
            .arg("--runroot")
            .arg(bh_root.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("BUILDAH_ISOLATION", "chroot")
            .env("HOME", tmp.path());
        c
    };
    run(&mut buildah(&[
        "pull",
        "-q",
        &format!("docker-archive:{}", archive.display()),
    ]));
    // buildah names it localhost/busybox; FROM busybox finds it by short name.
    let store_b = tmp.join("from-buildah");
    let mut failures = Vec::new();
    for (name, dockerfile) in CASES {
        let ctx = tmp.join(format!("ctx-{name}"));
        context(&ctx, dockerfile);
        let o = rbox(&[
            "build",
            "--cgroup-parent",
            &cgroup,
            "-t",
            &format!("r-{name}"),
            ctx.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "rbox build {name}: {}", stderr(&o));
        run(buildah(&[
            "bud",
            "--format",
            "docker",
            "--isolation",
            "chroot",
            "-t",
            &format!("b-{name}"),
            ctx.to_str().unwrap(),
        ])
        .current_dir(&ctx));
        let out = tmp.join(format!("b-{name}.tar"));
        run(&mut buildah(&[
            "push",
            "-q",
            &format!("b-{name}"),
            &format!("docker-archive:{}:b-{name}:latest", out.display()),
        ]));
        let o = Command::new(rbox_bin())
            .arg("--data-root")
            .arg(&store_b)
            .args(["load", "-i", out.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));

        let sa = Store::open(&data).unwrap();
        let sb = Store::open(&store_b).unwrap();
        let ia = sa.resolve(&format!("r-{name}"), &Platform::host()).unwrap();
        let ib = sb.resolve(&format!("b-{name}"), &Platform::host()).unwrap();
        let ca = serde_json::to_value(ia.config.container_config()).unwrap();
        let cb = serde_json::to_value(ib.config.container_config()).unwrap();
        let (va, vb) = (config_view(&ca), config_view(&cb));
        if va != vb {
            failures.push(format!(
                "{name}: config differs:\n rbox    {va:?}\n buildah {vb:?}"
            ));
        }
        let (ra, rb) = (
            tmp.join(format!("tree-r-{name}")),
            tmp.join(format!("tree-b-{name}")),
        );
        fs::create_dir_all(&ra).unwrap();
        fs::create_dir_all(&rb).unwrap();
        sa.flatten_into(&ia, &ra).unwrap();
        sb.flatten_into(&ib, &rb).unwrap();
        let (ta, mut tb) = (tree(&ra), tree(&rb));
        // buildah's chroot isolation leaves the empty /run it mounted on.
        if !ta.contains_key("run")
            && tb.get("run").is_some_and(|v| v.starts_with("dir "))
            && !tb.keys().any(|k| k.starts_with("run/"))
        {
            tb.remove("run");
        }
        let mut diffs = Vec::new();
        for k in ta
            .keys()
            .chain(tb.keys())
            .collect::<std::collections::BTreeSet<_>>()
        {
            let (a, b) = (ta.get(k), tb.get(k));
            if a != b {
                diffs.push(format!("  {k}: rbox {a:?} buildah {b:?}"));
            }
        }
        if !diffs.is_empty() {
            failures.push(format!("{name}: trees differ:\n{}", diffs.join("\n")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
