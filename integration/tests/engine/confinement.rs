//! Confinement: docker's defaults, --privileged, users and read-only
//! roots, cgroup limits, OOM kills, --init.

use std::path::Path;

use rbox_integration::ok;

use crate::{Engine, code};

#[test]
fn env_workdir_user_readonly() {
    guard!("env_workdir_user_readonly");
    let e = Engine::new();
    let out = ok(&e.rbox(&[
        "run",
        "--rm",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "-u",
        "nobody",
        "-h",
        "box",
        "busybox",
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u) $(hostname) $HOME",
    ]));
    assert_eq!(
        out.trim(),
        format!("bar /tmp {} box /nonexistent", rbox_fixtures::NOBODY_UID)
    );
    let o = e.rbox(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_ne!(code(&o), 0);
    ok(&e.rbox(&[
        "run",
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]));
    let o = e.rbox(&["run", "--rm", "busybox", "cat", "/etc/hostname"]);
    assert_eq!(ok(&o).trim().len(), 12);
}

#[test]
fn default_confinement_is_dockers() {
    guard!("default_confinement_is_dockers");
    let e = Engine::new();
    // docker's 14 default capabilities.
    let caps = ok(&e.rbox(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    assert!(caps.contains("00000000a80425fb"), "{caps}");
    // Namespace and mount calls are refused (seccomp and capabilities).
    assert_ne!(
        code(&e.rbox(&["run", "--rm", "busybox", "unshare", "-n", "true"])),
        0
    );
    assert_ne!(
        code(&e.rbox(&[
            "run", "--rm", "busybox", "mount", "-t", "tmpfs", "none", "/tmp"
        ])),
        0
    );
    // /proc/timer_list lists the host's timers; masked it reads empty.
    if Path::new("/proc/timer_list").exists() {
        let masked = ok(&e.rbox(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "wc -c < /proc/timer_list",
        ]));
        assert_eq!(masked.trim(), "0", "/proc/timer_list is masked");
    }
    let ro = e.rbox(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/domainname",
    ]);
    assert_ne!(code(&ro), 0, "/proc/sys is read-only");
    // --cap-add SYS_ADMIN lifts both.
    ok(&e.rbox(&[
        "run",
        "--rm",
        "--cap-add",
        "SYS_ADMIN",
        "busybox",
        "mount",
        "-t",
        "tmpfs",
        "none",
        "/tmp",
    ]));
    let seccomp = ok(&e.rbox(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]));
    assert!(seccomp.contains('2'), "{seccomp}");
    let unconfined = ok(&e.rbox(&[
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "busybox",
        "grep",
        "Seccomp:",
        "/proc/self/status",
    ]));
    assert!(unconfined.contains('0'), "{unconfined}");
}

#[test]
fn privileged_gets_everything_we_have() {
    guard!("privileged_gets_everything_we_have");
    let e = Engine::new();
    let ours = std::fs::read_to_string("/proc/self/status").expect("status");
    let bnd = ours
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd")
        .trim()
        .to_string();
    let out = ok(&e.rbox(&[
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; mount -t tmpfs none /tmp && echo mounted",
    ]));
    assert!(out.contains(&format!("CapEff:\t{bnd}")), "{out} vs {bnd}");
    assert!(
        out.contains("Seccomp:\t0") && out.contains("mounted"),
        "{out}"
    );
    ok(&e.rbox(&["run", "-d", "--name", "pe", "busybox", "sleep", "100"]));
    let exec = ok(&e.rbox(&[
        "exec",
        "--privileged",
        "pe",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]));
    assert!(exec.contains(&bnd), "{exec}");
    ok(&e.rbox(&["rm", "-f", "pe"]));
    e.assert_clean("");
}

#[test]
fn cgroup_limits_apply() {
    guard!("cgroup_limits_apply");
    if !rbox_test_support::require(
        "cgroup_limits_apply",
        "needs the memory and pids v1 controllers",
        Path::new("/sys/fs/cgroup/memory").is_dir() && Path::new("/sys/fs/cgroup/pids").is_dir(),
    ) {
        return;
    }
    let e = Engine::new();
    let id = ok(&e.rbox(&[
        "run",
        "-d",
        "-m",
        "32m",
        "--pids-limit",
        "7",
        "busybox",
        "sleep",
        "100",
    ]))
    .trim()
    .to_string();
    let cg = |c: &str, f: &str| {
        std::fs::read_to_string(
            Path::new("/sys/fs/cgroup")
                .join(c)
                .join(e.parent.trim_start_matches('/'))
                .join(&id)
                .join(f),
        )
        .expect("cgroup file")
    };
    assert_eq!(
        cg("memory", "memory.limit_in_bytes").trim(),
        (32u64 << 20).to_string()
    );
    assert_eq!(cg("pids", "pids.max").trim(), "7");
    ok(&e.rbox(&["rm", "-f", &id]));
    e.assert_clean(&id);
}

#[test]
fn oom_kill_is_reported() {
    guard!("oom_kill_is_reported");
    let e = Engine::new();
    let o = e.rbox(&[
        "run",
        "--name",
        "hog",
        "-m",
        "16m",
        "--memory-swap",
        "16m",
        "busybox",
        "sh",
        "-c",
        "x=a; while true; do x=$x$x; done",
    ]);
    assert_eq!(code(&o), 137);
    let v = e.inspect("hog");
    assert_eq!(v["State"]["OOMKilled"], true, "{v}");
    assert_eq!(v["State"]["ExitCode"], 137);
}

#[test]
fn init_reaps_orphans() {
    guard!("init_reaps_orphans");
    if !rbox_test_support::require(
        "init_reaps_orphans",
        "needs tini-static or docker-init (Debian's tini)",
        rbox_test_support::have_command("tini-static")
            || rbox_test_support::have_command("docker-init"),
    ) {
        return;
    }
    let e = Engine::new();
    // The orphaned sleeps become children of pid 1; only an init that
    // reaps leaves no zombie.
    let script =
        "sh -c 'sleep 0.1 & sleep 0.1 &'; sleep 1; ps -o stat,comm | grep -c '^ *Z' || true";
    let zombies = ok(&e.rbox(&["run", "--rm", "--init", "busybox", "sh", "-c", script]));
    assert_eq!(zombies.trim(), "0");
    let first = ok(&e.rbox(&["run", "--rm", "--init", "busybox", "cat", "/proc/1/cmdline"]));
    assert!(first.starts_with("/sbin/docker-init"), "{first:?}");
}

#[test]
fn restart_policy_on_failure() {
    guard!("restart_policy_on_failure");
    let e = Engine::new();
    ok(&e.rbox(&[
        "run",
        "-d",
        "--name",
        "flaky",
        "--restart",
        "on-failure:2",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]));
    let v = e.until("flaky", |v| {
        v["State"]["Status"] == "exited" && v["RestartCount"] == 2
    });
    assert_eq!(v["State"]["ExitCode"], 1);
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(ok(&e.rbox(&["logs", "flaky"])).matches("run").count(), 3);
    let f = ok(&e.rbox(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.RestartCount}} {{json .HostConfig.RestartPolicy.Name}}",
        "flaky",
    ]));
    assert_eq!(f.trim(), "exited 2 \"on-failure\"");
}
