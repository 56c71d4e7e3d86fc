//! config.json is untrusted input: every hostile or malformed config gets
//! a clear error naming what is wrong (never a panic), leaves no state,
//! cgroup or process behind, and never writes outside the rootfs.

use std::path::Path;

use rbox_integration::{Bundle, privileged, stderr};
use serde_json::{Value, json};

type Edit = fn(&mut Value, &Path);

fn cases() -> Vec<(&'static str, Edit, &'static str)> {
    vec![
        ("no process", |s, _| s["process"] = Value::Null, "process"),
        (
            "empty args",
            |s, _| s["process"]["args"] = json!([]),
            "process.args",
        ),
        (
            "relative cwd",
            |s, _| s["process"]["cwd"] = json!("tmp"),
            "process.cwd",
        ),
        (
            "negative uid",
            |s, _| s["process"]["user"]["uid"] = json!(-1),
            "config.json",
        ),
        (
            "uid as string",
            |s, _| s["process"]["user"]["uid"] = json!("0"),
            "config.json",
        ),
        (
            "unknown namespace",
            |s, _| s["linux"]["namespaces"] = json!([{"type": "bogus"}]),
            "config.json",
        ),
        (
            "duplicate namespace",
            |s, _| s["linux"]["namespaces"] = json!([{"type": "mount"}, {"type": "mount"}]),
            "twice",
        ),
        (
            "no mount namespace",
            |s, _| s["linux"]["namespaces"] = json!([{"type": "pid"}]),
            "mount namespace",
        ),
        (
            "namespace path missing",
            |s, _| {
                s["linux"]["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "cgroup", "path": "/nonexistent/ns"}))
            },
            "/nonexistent/ns",
        ),
        (
            "host sysctl",
            |s, _| s["linux"]["sysctl"] = json!({"kernel.panic": "1"}),
            "kernel.panic",
        ),
        (
            "sysctl traversal",
            |s, _| s["linux"]["sysctl"] = json!({"net/../../../etc/x": "1"}),
            "sysctl",
        ),
        (
            "device outside /dev",
            |s, _| {
                s["linux"]["devices"] =
                    json!([{"path": "/etc/evil", "type": "c", "major": 1, "minor": 3}])
            },
            "/etc/evil",
        ),
        (
            "unknown seccomp action",
            |s, _| s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_EXPLODE"}),
            "config.json",
        ),
        (
            "seccomp arg index",
            |s, _| s["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}),
            "index",
        ),
        (
            "cgroup path traversal",
            |s, _| s["linux"]["cgroupsPath"] = json!("/rbox-test/../../escape"),
            "..",
        ),
        (
            "negative memory limit",
            |s, _| s["linux"]["resources"]["memory"] = json!({"limit": -5}),
            "memory",
        ),
        (
            "bind without source",
            |s, _| {
                s["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/x", "type": "bind", "options": ["bind"]}))
            },
            "no source",
        ),
        (
            "bind source missing",
            |s, _| {
                s["mounts"].as_array_mut().unwrap().push(json!({"destination": "/x", "type": "bind", "source": "/nonexistent/src", "options": ["bind"]}))
            },
            "/nonexistent/src",
        ),
        (
            "bad mount type",
            |s, _| {
                s["mounts"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"destination": "/x", "type": "nosuchfs", "source": "x"}))
            },
            "nosuchfs",
        ),
        (
            "bad rootfs propagation",
            |s, _| s["linux"]["rootfsPropagation"] = json!("sideways"),
            "rootfsPropagation",
        ),
        (
            "rootfs missing",
            |s, _| s["root"]["path"] = json!("/nonexistent/rootfs"),
            "/nonexistent/rootfs",
        ),
        (
            "user mappings without userns",
            |s, _| {
                s["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            },
            "user namespace",
        ),
        (
            "NUL in args",
            |s, _| s["process"]["args"] = json!(["sh\u{0}x"]),
            "NUL",
        ),
        (
            "raise hard rlimit",
            |s, _| {
                s["process"]["rlimits"] =
                    json!([{"type": "RLIMIT_NOFILE", "hard": u64::MAX, "soft": u64::MAX}])
            },
            "RLIMIT",
        ),
        (
            "hook missing",
            |s, _| s["hooks"] = json!({"createRuntime": [{"path": "/nonexistent/hook"}]}),
            "/nonexistent/hook",
        ),
        ("not an object", |s, _| *s = json!([1, 2, 3]), "config.json"),
    ]
}

#[test]
fn hostile_configs_fail_cleanly() {
    if !privileged("hostile_configs_fail_cleanly") {
        return;
    }
    for (name, edit, needle) in cases() {
        let mut b = Bundle::new(&["true"]);
        let tmp = b.tmp.path().to_path_buf();
        edit(&mut b.spec, &tmp);
        let o = b.run();
        let err = stderr(&o);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{name}: want a clean failure, got {:?}: {err}",
            o.status
        );
        assert!(err.starts_with("rbox: "), "{name}: {err}");
        assert!(
            err.contains(needle),
            "{name}: error should mention {needle:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{name}: {err}");
        assert!(b.state().is_none(), "{name}: state left behind");
        assert!(
            !Path::new(&format!("/sys/fs/cgroup/memory/rbox-test/{}", b.id)).exists(),
            "{name}: cgroup left behind"
        );
    }
}

#[test]
fn mount_destinations_stay_inside_the_rootfs() {
    if !privileged("mount_destinations_stay_inside_the_rootfs") {
        return;
    }
    let mut b = Bundle::new(&["true"]);
    let marker = b.tmp.join("escape-target");
    // `..` climbing out and an absolute path into the host's temp dir both
    // land inside the rootfs.
    let climb = format!("/../../../../../../..{}", marker.display());
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": climb, "type": "tmpfs", "source": "tmpfs"}));
    // A /dev that is a symlink to a host directory must not receive
    // device nodes.
    let hostdev = b.tmp.join("hostdev");
    std::fs::create_dir_all(&hostdev).unwrap();
    let rootfs = b.rootfs();
    std::fs::remove_dir_all(rootfs.join("dev")).unwrap();
    std::os::unix::fs::symlink(&hostdev, rootfs.join("dev")).unwrap();
    let o = b.run();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!marker.exists(), "a mount target was created on the host");
    assert!(
        std::fs::read_dir(&hostdev).unwrap().next().is_none(),
        "devices were created in the host directory"
    );
    assert!(rootfs.join(marker.strip_prefix("/").unwrap()).is_dir());
}

#[test]
fn mounts_cannot_land_in_proc_and_labels_fail_closed() {
    if !privileged("mounts_cannot_land_in_proc_and_labels_fail_closed") {
        return;
    }
    // An image symlink into /proc used as a volume destination would let
    // the volume stand in for /proc/self/attr (CVE-2019-16884 class).
    let mut b = Bundle::new(&["true"]);
    std::os::unix::fs::symlink("/proc/self/attr", b.rootfs().join("vol")).unwrap();
    let host = b.tmp.join("vol-src");
    std::fs::create_dir_all(&host).unwrap();
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/vol", "type": "bind", "source": host, "options": ["rbind"]}));
    let o = b.run();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("resolves into /proc"), "{}", stderr(&o));
    // A label the host cannot enforce is an error, never silently dropped.
    if !Path::new("/sys/fs/selinux/enforce").exists() {
        let mut b = Bundle::new(&["true"]);
        b.spec["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0");
        let o = b.run();
        assert!(stderr(&o).contains("SELinux is disabled"), "{}", stderr(&o));
    }
    let aa = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y");
    if !aa {
        let mut b = Bundle::new(&["true"]);
        b.spec["process"]["apparmorProfile"] = json!("rbox-default");
        let o = b.run();
        assert!(
            stderr(&o).contains("AppArmor is not enabled"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn sysctl_in_the_hosts_network_namespace_is_refused() {
    if !privileged("sysctl_in_the_hosts_network_namespace_is_refused") {
        return;
    }
    let mut b = Bundle::new(&["true"]);
    let nss: Vec<Value> = b.spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "network")
        .cloned()
        .chain([json!({"type": "network", "path": "/proc/self/ns/net"})])
        .collect();
    b.spec["linux"]["namespaces"] = json!(nss);
    b.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    let before = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    let o = b.run();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("is the host's"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap(),
        before
    );
}
