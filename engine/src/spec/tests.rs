//! Flag sets → expected spec fields.

use super::*;
use rbox_test_support::TempRoot;

struct Fixture {
    _tmp: TempRoot,
    rootfs: PathBuf,
    etc: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = TempRoot::new("rbox-spec").unwrap();
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\napp:x:1000:\nwheel:x:10:app\n",
    )
    .unwrap();
    let etc = tmp.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    Fixture {
        _tmp: tmp,
        rootfs,
        etc,
    }
}

fn image() -> ContainerConfig {
    serde_json::from_value(json!({
        "Env": ["PATH=/bin:/usr/bin", "FOO=image"],
        "Entrypoint": ["/entry"],
        "Cmd": ["default-arg"],
        "WorkingDir": "/srv",
        "StopSignal": "SIGQUIT",
    }))
    .unwrap()
}

fn build_with(o: &RunOptions, img: &ContainerConfig) -> Result<Built> {
    let f = fixture();
    let ctx = SpecContext {
        id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        rootfs: &f.rootfs,
        etc_files: EtcFiles {
            hosts: &f.etc.join("hosts"),
            hostname: &f.etc.join("hostname"),
            resolv_conf: &f.etc.join("resolv.conf"),
        },
        hostname: "0123456789ab",
        netns: NetNs::New,
        init_binary: Some(Path::new("/usr/bin/tini-static")),
    };
    build(&ctx, o, img)
}

fn opts(f: impl FnOnce(&mut RunOptions)) -> RunOptions {
    let mut o = RunOptions::new("busybox", vec![]);
    f(&mut o);
    o
}

fn has(v: &Value, x: &str) -> bool {
    v.as_array().is_some_and(|a| a.iter().any(|e| e == x))
}

#[test]
fn table() {
    type Check = fn(&Built);
    let cases: Vec<(&str, RunOptions, Check)> = vec![
        ("defaults", opts(|_| {}), |b| {
            let p = &b.spec["process"];
            assert_eq!(p["args"], json!(["/entry", "default-arg"]));
            assert_eq!(p["cwd"], "/srv");
            assert_eq!(p["user"]["uid"], 0);
            assert!(has(&p["env"], "HOSTNAME=0123456789ab"));
            assert!(has(&p["env"], "PATH=/bin:/usr/bin"));
            assert!(has(&p["env"], "HOME=/root"));
            assert_eq!(p["capabilities"]["bounding"].as_array().unwrap().len(), 14);
            assert_eq!(p["noNewPrivileges"], false);
            assert_eq!(b.stop_signal, libc::SIGQUIT);
            let l = &b.spec["linux"];
            assert_eq!(
                l["maskedPaths"].as_array().unwrap().len(),
                MASKED_PATHS.len()
            );
            assert_eq!(l["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
            assert!(l["cgroupsPath"].as_str().unwrap().starts_with("/rbox/0123"));
            let ns: Vec<&str> = l["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["type"].as_str().unwrap())
                .collect();
            for t in ["pid", "ipc", "uts", "mount", "cgroup", "network"] {
                assert!(ns.contains(&t), "{t}");
            }
            let shm = b.spec["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["destination"] == "/dev/shm")
                .unwrap();
            assert!(has(&shm["options"], "size=67108864"));
            assert!(
                b.spec["mounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["destination"] == "/etc/hosts")
            );
            assert_eq!(b.spec["root"]["readonly"], false);
        }),
        (
            "args replace cmd",
            opts(|o| o.args = vec!["x".into(), "y".into()]),
            |b| {
                assert_eq!(b.spec["process"]["args"], json!(["/entry", "x", "y"]));
            },
        ),
        (
            "entrypoint drops image cmd",
            opts(|o| o.entrypoint = Some("/bin/sh".into())),
            |b| {
                assert_eq!(b.spec["process"]["args"], json!(["/bin/sh"]));
            },
        ),
        (
            "empty entrypoint",
            opts(|o| {
                o.entrypoint = Some(String::new());
                o.args = vec!["echo".into(), "hi".into()];
            }),
            |b| {
                assert_eq!(b.spec["process"]["args"], json!(["echo", "hi"]));
            },
        ),
        (
            "env, tty, workdir, user",
            opts(|o| {
                o.env = vec!["FOO=cli".into(), "UNSET".into(), "BAR=1".into()];
                o.tty = true;
                o.workdir = Some("/tmp".into());
                o.user = Some("app".into());
                o.group_add = vec!["root".into()];
            }),
            |b| {
                let p = &b.spec["process"];
                assert!(has(&p["env"], "FOO=cli") && !has(&p["env"], "FOO=image"));
                assert!(has(&p["env"], "BAR=1") && !has(&p["env"], "UNSET"));
                assert!(has(&p["env"], "TERM=xterm"));
                assert!(has(&p["env"], "HOME=/home/app"));
                assert_eq!(p["terminal"], true);
                assert_eq!(p["cwd"], "/tmp");
                assert_eq!(
                    (p["user"]["uid"].as_u64(), p["user"]["gid"].as_u64()),
                    (Some(1000), Some(1000))
                );
                assert_eq!(p["user"]["additionalGids"], json!([10, 0]));
            },
        ),
        (
            "numeric user with group",
            opts(|o| o.user = Some("4000:10".into())),
            |b| {
                let u = &b.spec["process"]["user"];
                assert_eq!(
                    (u["uid"].as_u64(), u["gid"].as_u64()),
                    (Some(4000), Some(10))
                );
            },
        ),
        (
            "read-only, tmpfs, shm",
            opts(|o| {
                o.read_only = true;
                o.tmpfs = vec!["/run:size=1m".into()];
                o.shm_size = Some("128m".into());
            }),
            |b| {
                assert_eq!(b.spec["root"]["readonly"], true);
                let m = b.spec["mounts"].as_array().unwrap();
                assert!(
                    m.iter()
                        .any(|m| m["destination"] == "/run" && m["type"] == "tmpfs")
                );
                let shm = m.iter().find(|m| m["destination"] == "/dev/shm").unwrap();
                assert!(has(&shm["options"], "size=134217728"));
                assert_eq!(b.mounts.len(), 1);
            },
        ),
        (
            "caps",
            opts(|o| {
                o.cap_add = vec!["SYS_ADMIN".into()];
                o.cap_drop = vec!["cap_chown".into()];
            }),
            |b| {
                let c = &b.spec["process"]["capabilities"]["effective"];
                assert!(has(c, "CAP_SYS_ADMIN") && !has(c, "CAP_CHOWN"));
                // CAP_SYS_ADMIN unlocks unshare in the default profile.
                assert!(has(
                    &b.spec["linux"]["seccomp"]["syscalls"][0]["names"],
                    "unshare"
                ));
            },
        ),
        ("privileged", opts(|o| o.privileged = true), |b| {
            let l = &b.spec["linux"];
            assert!(l.get("seccomp").is_none() && l.get("maskedPaths").is_none());
            assert_eq!(
                l["resources"]["devices"],
                json!([{"allow": true, "access": "rwm"}])
            );
            assert_eq!(
                b.spec["process"]["capabilities"]["bounding"]
                    .as_array()
                    .unwrap()
                    .len(),
                caps::available().len()
            );
        }),
        (
            "security opts",
            opts(|o| {
                o.security_opt = vec!["seccomp=unconfined".into(), "no-new-privileges".into()]
            }),
            |b| {
                assert!(b.spec["linux"].get("seccomp").is_none());
                assert_eq!(b.spec["process"]["noNewPrivileges"], true);
            },
        ),
        (
            "resources",
            opts(|o| {
                o.memory = Some("64m".into());
                o.pids_limit = Some(10);
                o.cpus = Some("0.5".into());
                o.cgroup_parent = Some("/rbox-test/x".into());
                o.oom_score_adj = Some(100);
                o.ulimits = vec!["nofile=100:200".into()];
            }),
            |b| {
                let r = &b.spec["linux"]["resources"];
                assert_eq!(r["memory"]["limit"], 64 << 20);
                assert_eq!(r["pids"]["limit"], 10);
                assert_eq!(r["cpu"]["quota"], 50_000);
                assert!(
                    b.spec["linux"]["cgroupsPath"]
                        .as_str()
                        .unwrap()
                        .starts_with("/rbox-test/x/")
                );
                assert_eq!(b.spec["process"]["oomScoreAdj"], 100);
                assert_eq!(b.spec["process"]["rlimits"][0]["soft"], 100);
            },
        ),
        ("init", opts(|o| o.init = true), |b| {
            assert_eq!(
                b.spec["process"]["args"],
                json!([INIT_PATH, "--", "/entry", "default-arg"])
            );
            assert!(
                b.spec["mounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["destination"] == INIT_PATH)
            );
            assert_eq!(b.command, vec!["/entry", "default-arg"]);
        }),
        (
            "stop signal flag",
            opts(|o| o.stop_signal = Some("USR1".into())),
            |b| {
                assert_eq!(b.stop_signal, libc::SIGUSR1);
            },
        ),
        (
            "device and sysctl",
            opts(|o| {
                o.devices = vec!["/dev/null:/dev/n2".into()];
                o.sysctls = vec!["net.ipv4.ping_group_range=0 0".into()];
            }),
            |b| {
                assert_eq!(b.spec["linux"]["devices"][0]["path"], "/dev/n2");
                assert_eq!(
                    b.spec["linux"]["sysctl"]["net.ipv4.ping_group_range"],
                    "0 0"
                );
            },
        ),
    ];
    for (name, o, check) in cases {
        let b = build_with(&o, &image()).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(&b);
    }
}

#[test]
fn errors() {
    let bad: Vec<(&str, RunOptions)> = vec![
        ("memory unit", opts(|o| o.memory = Some("12q".into()))),
        ("unknown user", opts(|o| o.user = Some("ghost".into()))),
        ("unknown cap", opts(|o| o.cap_add = vec!["FLY".into()])),
        ("relative workdir", opts(|o| o.workdir = Some("tmp".into()))),
        (
            "missing bind",
            opts(|o| o.volumes = vec!["/no/such/dir:/x".into()]),
        ),
        (
            "bad signal",
            opts(|o| o.stop_signal = Some("SIGNOPE".into())),
        ),
        (
            "relative cgroup parent",
            opts(|o| o.cgroup_parent = Some("rbox".into())),
        ),
        (
            "bad security opt",
            opts(|o| o.security_opt = vec!["selinux=yes".into()]),
        ),
    ];
    for (name, o) in bad {
        assert!(build_with(&o, &image()).is_err(), "{name} should fail");
    }
    let empty = ContainerConfig::default();
    assert!(matches!(
        build_with(&RunOptions::new("x", vec![]), &empty),
        Err(Error::NoCommand)
    ));
}

#[test]
fn docker_format_seccomp_file() {
    let t = TempRoot::new("rbox-seccomp").unwrap();
    let p = t.path().join("p.json");
    std::fs::write(
        &p,
        r#"{"defaultAction":"SCMP_ACT_ERRNO","archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":["SCMP_ARCH_X86"]},{"architecture":"SCMP_ARCH_AARCH64","subArchitectures":["SCMP_ARCH_ARM"]}],
        "syscalls":[{"names":["read","write","exit_group","futex","execve","brk","mmap","arch_prctl"],"action":"SCMP_ACT_ALLOW"},
        {"names":["mount"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_SYS_ADMIN"]}},
        {"names":["chroot"],"action":"SCMP_ACT_ALLOW","excludes":{"caps":["CAP_SYS_CHROOT"]}}]}"#,
    )
    .unwrap();
    let o = opts(|o| o.security_opt = vec![format!("seccomp={}", p.display())]);
    let b = build_with(&o, &image()).unwrap();
    let s = &b.spec["linux"]["seccomp"];
    assert!(s.get("archMap").is_none());
    let rules = s["syscalls"].as_array().unwrap();
    // mount needs CAP_SYS_ADMIN (not held); chroot is excluded because
    // CAP_SYS_CHROOT is held.
    assert_eq!(rules.len(), 1);
}
