//! More of config.json and the runc command set, end to end: no-pivot,
//! time namespaces, in-container hooks, oom_score_adj, scheduler, kill
//! --all, events, update, the JSON log, foreground terminals and the exec
//! side of CVE-2019-5736.

use std::path::Path;
use std::process::Command;

use rbox_integration::{Bundle, ok, privileged, stderr, stdout, wait_status};
use serde_json::json;

macro_rules! guard {
    ($name:expr) => {
        if !privileged($name) {
            return;
        }
    };
}

#[test]
fn no_pivot_uses_move_and_chroot() {
    guard!("no_pivot_uses_move_and_chroot");
    let b = Bundle::new(&["sh", "-c", "cat /etc/hostname >/dev/null; ls /; echo $$"]);
    b.write();
    let o = b.rbox(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.dir().to_str().unwrap(),
        &b.id,
    ]);
    let out = ok(&o);
    assert!(out.contains("bin") && out.contains("etc"), "{out}");
    assert!(out.trim_end().ends_with('1'), "{out}");
}

#[test]
fn time_namespace_offsets() {
    guard!("time_namespace_offsets");
    if !Path::new("/proc/self/ns/time").exists() {
        assert!(
            !rbox_test_support::privileged_required(),
            "kernel without time namespaces"
        );
        return;
    }
    let mut b = Bundle::new(&["cat", "/proc/uptime"]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    b.spec["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400000, "nanosecs": 0}});
    let out = ok(&b.run());
    let up: f64 = out.split_whitespace().next().unwrap().parse().unwrap();
    assert!(up > 86_400_000.0, "boottime offset not applied: {out}");
}

#[test]
fn container_side_hooks_run_inside() {
    guard!("container_side_hooks_run_inside");
    let mut b = Bundle::new(&["cat", "/tmp/started"]);
    // createContainer runs in the container's namespaces before
    // pivot_root (host paths still visible); startContainer after it.
    b.spec["hooks"] = json!({
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "hostname > /dev/null && echo create-ok"]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "read s; echo \"start $(hostname)\" > /tmp/started"]}],
    });
    let out = ok(&b.run());
    assert_eq!(out.trim(), "start rbox-test", "{out}");
}

#[test]
fn oom_score_adj_and_scheduler() {
    guard!("oom_score_adj_and_scheduler");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /proc/self/oom_score_adj; grep -E '^policy' /proc/self/sched || awk '{print $41}' /proc/self/stat",
    ]);
    b.spec["process"]["oomScoreAdj"] = json!(500);
    b.spec["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 5});
    b.spec["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    let out = ok(&b.run());
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "500", "{out}");
    // SCHED_BATCH is policy 3.
    assert!(l[1].trim().ends_with('3'), "policy: {out}");
}

#[test]
fn kill_all_events_and_update() {
    guard!("kill_all_events_and_update");
    let mut b = Bundle::new(&["sh", "-c", "sleep 1000 & sleep 1000 & wait"]);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 134217728});
    b.write();
    ok(&b.rbox(&["run", "-d", "--bundle", b.dir().to_str().unwrap(), &b.id]));
    wait_status(&b, "running");
    let ev: serde_json::Value =
        serde_json::from_str(&ok(&b.rbox(&["events", "--stats", &b.id]))).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["data"]["memory"]["usage"]["limit"], 134217728);
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1);
    ok(&b.rbox(&[
        "update",
        "--memory",
        "268435456",
        "--pids-limit",
        "50",
        &b.id,
    ]));
    let lim = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/rbox-test/{}/memory.limit_in_bytes",
        b.id
    ))
    .unwrap();
    assert_eq!(lim.trim(), "268435456");
    let mut upd = b.cmd(&["update", "--resources", "-", &b.id]);
    upd.stdin(std::process::Stdio::piped());
    let mut child = upd.spawn().unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        br#"{"pids": {"limit": 77}}"#,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    let pids = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/rbox-test/{}/pids.max", b.id))
        .unwrap();
    assert_eq!(pids.trim(), "77");
    let o = b.rbox(&["update", "--resources", "-", &b.id]);
    assert!(!o.status.success(), "empty stdin is not JSON");
    ok(&b.rbox(&["kill", "--all", &b.id, "KILL"]));
    wait_status(&b, "stopped");
    ok(&b.rbox(&["delete", &b.id]));
}

#[test]
fn log_json_has_the_last_error() {
    guard!("log_json_has_the_last_error");
    let b = Bundle::new(&["true"]);
    let log = b.tmp.join("log.json");
    let o = b.rbox(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(
        last["msg"]
            .as_str()
            .unwrap()
            .contains("\"no-such-container\" does not exist"),
        "{text}"
    );
    assert!(last["time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn foreground_terminal_without_console_socket() {
    guard!("foreground_terminal_without_console_socket");
    if !rbox_test_support::require(
        "foreground_terminal_without_console_socket",
        "script(1) from util-linux",
        rbox_test_support::have_command("script"),
    ) {
        return;
    }
    let mut b = Bundle::new(&["sh"]);
    b.spec["process"]["terminal"] = json!(true);
    b.write();
    let cmd = format!(
        "{} runtime --root {} run --bundle {} {}",
        rbox_integration::rbox_bin().display(),
        b.state_root().display(),
        b.dir().display(),
        b.id
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        b"tty; echo typed-$((40+2)); exit 3\n",
    )
    .unwrap();
    let o = child.wait_with_output().unwrap();
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/0"), "{out}");
    assert!(out.contains("typed-42"), "{out}");
    assert_eq!(o.status.code(), Some(3), "{out}");
}

#[test]
fn exec_refuses_the_runtime_binary() {
    guard!("exec_refuses_the_runtime_binary");
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    ok(&b.rbox(&["run", "-d", "--bundle", b.dir().to_str().unwrap(), &b.id]));
    let o = b.rbox(&["exec", &b.id, "/proc/self/exe", "--version"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("CVE-2019-5736"), "{}", stderr(&o));
    // The exec helper ran from a sealed memfd, never the host binary: the
    // process it left in the container proves it through its own exe link.
    let pf = b.tmp.join("exec.pid");
    ok(&b.rbox(&[
        "exec",
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &b.id,
        "sleep",
        "100",
    ]));
    let pid: i32 = std::fs::read_to_string(&pf).unwrap().parse().unwrap();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(exe.ends_with("bin/busybox"), "{exe:?}");
    ok(&b.rbox(&["delete", "--force", &b.id]));
}

#[test]
fn joins_an_existing_user_and_network_namespace() {
    guard!("joins_an_existing_user_and_network_namespace");
    // A pod-like pair: the first container owns a mapped user namespace
    // and a network namespace; the second joins both by path.
    let mut a = Bundle::new(&["sleep", "1000"]);
    a.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    a.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    a.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    a.write();
    ok(&a.rbox(&["run", "-d", "--bundle", a.dir().to_str().unwrap(), &a.id]));
    let pid = a.state().unwrap()["pid"].as_i64().unwrap();
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /proc/self/uid_map; id -u; readlink /proc/self/ns/net",
    ]);
    let nss: Vec<serde_json::Value> = b.spec["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] != "network")
        .cloned()
        .chain([
            json!({"type": "user", "path": format!("/proc/{pid}/ns/user")}),
            json!({"type": "network", "path": format!("/proc/{pid}/ns/net")}),
        ])
        .collect();
    b.spec["linux"]["namespaces"] = json!(nss);
    let out = ok(&b.run());
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&f[..3], ["0", "100000", "65536"], "{out}");
    assert_eq!(f[3], "0", "{out}");
    let net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_eq!(f[4], net.to_str().unwrap(), "{out}");
    ok(&a.rbox(&["delete", "--force", &a.id]));
}

#[test]
fn spec_features_list_ps_and_systemd_paths() {
    guard!("spec_features_list_ps_and_systemd_paths");
    let b = Bundle::new(&["sleep", "1000"]);
    // `spec` writes a config that runs as-is once terminal is off.
    let specdir = b.tmp.join("specdir");
    std::fs::create_dir_all(&specdir).unwrap();
    ok(&b.rbox(&["spec", "--bundle", specdir.to_str().unwrap()]));
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(specdir.join("config.json")).unwrap())
            .unwrap();
    assert_eq!(spec["process"]["terminal"], true);
    assert_eq!(spec["root"]["path"], "rootfs");
    let o = b.rbox(&["spec", "--bundle", specdir.to_str().unwrap()]);
    assert!(!o.status.success(), "spec refuses to overwrite");
    let f: serde_json::Value = serde_json::from_str(&ok(&b.rbox(&["features"]))).unwrap();
    assert_eq!(f["ociVersionMax"], "1.2.0");
    assert!(
        f["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .contains(&json!("time"))
    );
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
    // systemd-style cgroupsPath with --systemd-cgroup maps to cgroupfs.
    let mut b = b;
    // (A dash in a slice name means nesting, so the test slice has none.)
    b.spec["linux"]["cgroupsPath"] = json!(format!("rboxtest.slice:rbox:{}", b.id));
    b.write();
    ok(&b.rbox(&[
        "--systemd-cgroup",
        "run",
        "-d",
        "--bundle",
        b.dir().to_str().unwrap(),
        &b.id,
    ]));
    let pid = b.state().unwrap()["pid"].as_i64().unwrap();
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cg.contains(&format!(":memory:/rboxtest.slice/rbox-{}.scope", b.id)),
        "{cg}"
    );
    let table = ok(&b.rbox(&["list"]));
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID"), "{table}");
    assert!(
        table.contains(&b.id) && table.contains("running"),
        "{table}"
    );
    let ps = ok(&b.rbox(&["ps", &b.id]));
    assert!(ps.lines().next().unwrap().contains("PID"), "{ps}");
    assert!(ps.contains("sleep 1000"), "{ps}");
    ok(&b.rbox(&["delete", "--force", &b.id]));
    for ctrl in ["memory", "pids", "cpu"] {
        let p = format!("/sys/fs/cgroup/{ctrl}/rboxtest.slice/rbox-{}.scope", b.id);
        assert!(!Path::new(&p).exists(), "{p} left behind");
    }
    for ctrl in [
        "memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "systemd",
        "unified",
    ] {
        let _ = std::fs::remove_dir(format!("/sys/fs/cgroup/{ctrl}/rboxtest.slice"));
    }
}

#[test]
fn capabilities_the_runtime_lacks_are_named() {
    guard!("capabilities_the_runtime_lacks_are_named");
    let mut b = Bundle::new(&["true"]);
    for set in ["bounding", "effective", "permitted"] {
        b.spec["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_RESOURCE"));
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let prm = status
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:\t"))
        .map(|h| u64::from_str_radix(h.trim(), 16).unwrap())
        .unwrap();
    let o = b.run();
    if prm & (1 << 24) == 0 {
        // This machine's root lacks CAP_SYS_RESOURCE (see TESTING.md).
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("the runtime itself lacks CAP_SYS_RESOURCE"),
            "{}",
            stderr(&o)
        );
    } else {
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

#[test]
fn runc_compat_flags_paused_exec_and_rdt() {
    guard!("runc_compat_flags_paused_exec_and_rdt");
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    ok(&b.rbox(&[
        "run",
        "-d",
        "--no-subreaper",
        "--bundle",
        b.dir().to_str().unwrap(),
        &b.id,
    ]));
    ok(&b.rbox(&["pause", &b.id]));
    let o = b.rbox(&["exec", &b.id, "true"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--ignore-paused"), "{}", stderr(&o));
    let marker = "/tmp/ran-after-resume";
    let pf = b.tmp.join("p.pid");
    ok(&b.rbox(&[
        "exec",
        "--ignore-paused",
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &b.id,
        "touch",
        marker,
    ]));
    ok(&b.rbox(&["resume", &b.id]));
    let mut seen = false;
    for _ in 0..200 {
        if b.rootfs().join(marker.trim_start_matches('/')).exists() {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(seen, "the exec'd process ran once resumed");
    let o = b.rbox(&["update", "--l3-cache-schema", "L3:0=f", &b.id]);
    assert!(stderr(&o).contains("Intel RDT"), "{}", stderr(&o));
    ok(&b.rbox(&["delete", "--force", &b.id]));
}

#[test]
fn failed_poststop_hook_is_a_warning() {
    guard!("failed_poststop_hook_is_a_warning");
    let mut b = Bundle::new(&["true"]);
    b.spec["hooks"] =
        json!({"poststop": [{"path": "/bin/false"}], "poststart": [{"path": "/bin/false"}]});
    let o = b.run();
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("rbox: warning: poststart hook /bin/false"),
        "{err}"
    );
    assert!(
        err.contains("rbox: warning: poststop hook /bin/false"),
        "{err}"
    );
    assert!(b.state().is_none(), "deleted despite the failed hook");
}

#[test]
fn non_root_user_can_reopen_stdio() {
    guard!("non_root_user_can_reopen_stdio");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "echo via-proc >> /proc/self/fd/1 && echo via-dev >> /dev/stdout",
    ]);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let out = ok(&b.run());
    assert!(out.contains("via-proc") && out.contains("via-dev"), "{out}");
}

#[test]
fn tmpcopyup_fills_the_tmpfs() {
    guard!("tmpcopyup_fills_the_tmpfs");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "grep -c '^rbox:' /etc/passwd; grep ' /etc ' /proc/self/mountinfo | grep -c tmpfs; ls -l /etc/passwd; touch /etc/x 2>/dev/null && echo rw || echo ro",
    ]);
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "ro", "mode=755"]}));
    let out = ok(&b.run());
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "1", "image's passwd copied in: {out}");
    assert_eq!(l[1], "1", "/etc is a tmpfs: {out}");
    assert!(l[2].starts_with("-rw-r--r--"), "mode kept: {out}");
    assert_eq!(l[3], "ro", "{out}");
}

#[test]
fn hook_timeout_covers_a_large_state_on_stdin() {
    guard!("hook_timeout_covers_a_large_state_on_stdin");
    let mut b = Bundle::new(&["true"]);
    // 256 KiB of annotations: more than a pipe holds.
    b.spec["annotations"] = json!({"big": "x".repeat(256 * 1024)});
    b.spec["hooks"] =
        json!({"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]});
    let o = b.run();
    // Fails (hangs, then the harness times out) if the write blocked and
    // the timeout never fired.
    assert!(stderr(&o).contains("timed out after 1 s"), "{}", stderr(&o));
}

#[test]
fn failed_create_still_runs_poststop() {
    guard!("failed_create_still_runs_poststop");
    let mut b = Bundle::new(&["/no/such/binary"]);
    let marker = b.tmp.join("poststop-ran");
    b.spec["hooks"] = json!({
        "createRuntime": [{"path": "/bin/true"}],
        "poststop": [{"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", marker.display())]}]
    });
    let o = b.run();
    assert!(!o.status.success());
    assert!(
        marker.exists(),
        "poststop did not run after a failed create: {}",
        stderr(&o)
    );
}
