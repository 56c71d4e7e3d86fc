//! The docker-style engine end to end: the built `rbox` running the
//! busybox image from a temp data root, every container under the test's
//! own cgroup parent `/rbox-test/<id>`. Each test removes its containers,
//! mounts and cgroups, and checks the engine left none behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rbox_integration::{ok, privileged, rbox_bin, stderr, stdout};
use rbox_test_support::{CgroupGuard, TempRoot, unique_id};

macro_rules! guard {
    ($name:expr) => {
        if !privileged($name) {
            return;
        }
    };
}

/// A data root holding the busybox image, and the test's cgroup parent.
struct Engine {
    data: PathBuf,
    parent: String,
    cgroup: CgroupGuard,
    _tmp: TempRoot,
}

impl Engine {
    fn new() -> Engine {
        let tmp = TempRoot::new("rbox-engine").expect("temp root");
        let data = tmp.path().join("data");
        let store = rbox_image::Store::open(&data).expect("store");
        rbox_fixtures::busybox_image(&store, "busybox").expect("busybox image");
        let parent = format!("/rbox-test/{}", unique_id("eng"));
        Engine {
            data,
            cgroup: CgroupGuard::new(parent.clone()),
            parent,
            _tmp: tmp,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(rbox_bin());
        c.arg("--data-root").arg(&self.data);
        let mut args = args.to_vec();
        if matches!(args.first(), Some(&"run") | Some(&"create")) {
            args.splice(1..1, ["--cgroup-parent", self.parent.as_str()]);
            // The host's shared default bridge stays out of these tests;
            // the network test makes its own network.
            if !args.contains(&"--network") {
                args.splice(1..1, ["--network", "none"]);
            }
        }
        c.args(&args).stdin(Stdio::null());
        c
    }

    fn rbox(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("running rbox")
    }

    fn inspect(&self, c: &str) -> serde_json::Value {
        let v: serde_json::Value =
            serde_json::from_str(&ok(&self.rbox(&["inspect", c]))).expect("inspect JSON");
        v[0].clone()
    }

    /// Polls inspect until `f` holds (the monitor works asynchronously).
    fn until(&self, c: &str, f: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        for _ in 0..600 {
            // The record may not exist yet (a create in progress).
            let o = self.rbox(&["inspect", c]);
            if o.status.success() {
                let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("inspect JSON");
                if f(&v[0]) {
                    return v[0].clone();
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{c} never reached the expected state: {}", self.inspect(c));
    }

    fn container_dirs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data.join("containers"))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Mount points under the data root.
    fn mounts(&self) -> Vec<String> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let root = self.data.display().to_string();
        text.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|m| m.starts_with(&root))
            .map(str::to_string)
            .collect()
    }

    /// The container's cgroup directories that still exist.
    fn cgroups_of(&self, id: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for c in ["memory", "pids", "cpu", "devices"] {
            let parent = Path::new("/sys/fs/cgroup")
                .join(c)
                .join(self.parent.trim_start_matches('/'));
            if !id.is_empty() {
                out.extend(Some(parent.join(id)).filter(|p| p.exists()));
                continue;
            }
            if let Ok(rd) = std::fs::read_dir(&parent) {
                out.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        out
    }

    fn assert_clean(&self, id: &str) {
        if !id.is_empty() {
            let ns = Path::new("/run/rbox/netns").join(id);
            assert!(!ns.exists(), "netns left: {}", ns.display());
        }
        assert!(
            self.container_dirs().is_empty(),
            "records left: {:?}",
            self.container_dirs()
        );
        assert!(self.mounts().is_empty(), "mounts left: {:?}", self.mounts());
        assert!(
            self.cgroups_of(id).is_empty(),
            "cgroups left: {:?}",
            self.cgroups_of(id)
        );
        let ps = ok(&self.rbox(&["ps", "-aq"]));
        assert!(ps.trim().is_empty(), "ps -a lists {ps}");
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let ids = self.rbox(&["ps", "-aq", "--no-trunc"]);
        for id in stdout(&ids).lines() {
            let _ = self.rbox(&["rm", "-f", id]);
        }
        let _ = self.rbox(&["container", "prune", "-f"]);
        for m in self.mounts() {
            let _ = nix::mount::umount2(m.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
        let left = self.cgroup.remove();
        assert!(
            left.is_empty() || std::thread::panicking(),
            "cgroups left: {left:?}"
        );
    }
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn run_rm_echo_leaves_nothing() {
    guard!("run_rm_echo_leaves_nothing");
    let e = Engine::new();
    let o = e.rbox(&["run", "--rm", "--name", "hello", "busybox", "echo", "hello"]);
    assert_eq!(ok(&o), "hello\n");
    e.assert_clean("");
    // The name is free again.
    ok(&e.rbox(&["run", "--rm", "--name", "hello", "busybox", "true"]));
}

#[test]
fn detached_logs_stop_rm() {
    guard!("detached_logs_stop_rm");
    let e = Engine::new();
    let id = ok(&e.rbox(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "--log-opt",
        "max-size=10k",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo ready; echo oops >&2; while true; do sleep 0.1; done",
    ]))
    .trim()
    .to_string();
    assert_eq!(id.len(), 64);
    let v = e.inspect("ticker");
    assert_eq!(v["State"]["Running"], true);
    assert_eq!(v["Id"], id.as_str());
    let running = ok(&e.rbox(&["ps", "--format", "{{.Names}} {{.State}}"]));
    assert_eq!(running.trim(), "ticker running");
    let logs = loop {
        let o = e.rbox(&["logs", &id[..8]]);
        if stdout(&o).contains("ready") && stderr(&o).contains("oops") {
            break o;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(ok(&logs).contains("ready"));
    let pids = ok(&e.rbox(&["top", "ticker", "-o", "pid"]));
    assert!(pids.lines().count() >= 2, "{pids}");
    ok(&e.rbox(&["stop", "-t", "20", "ticker"]));
    let v = e.inspect("ticker");
    assert_eq!(v["State"]["Status"], "exited");
    assert_eq!(
        v["State"]["ExitCode"], 0,
        "the trap ran: stop sent SIGTERM first"
    );
    assert!(ok(&e.rbox(&["logs", "-t", "ticker"])).contains(" bye\n"));
    // A stopped container is not listed without -a.
    assert!(ok(&e.rbox(&["ps", "-q"])).trim().is_empty());
    assert_eq!(ok(&e.rbox(&["wait", "ticker"])).trim(), "0");
    ok(&e.rbox(&["rm", "ticker"]));
    e.assert_clean(&id);
}

#[test]
fn exit_codes_and_errors() {
    guard!("exit_codes_and_errors");
    let e = Engine::new();
    assert_eq!(
        code(&e.rbox(&["run", "--rm", "busybox", "sh", "-c", "exit 3"])),
        3
    );
    let o = e.rbox(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(code(&o), 127, "{}", stderr(&o));
    assert!(stderr(&o).contains("not found"), "{}", stderr(&o));
    assert_eq!(
        code(&e.rbox(&["run", "--rm", "busybox", "/etc/passwd"])),
        126
    );
    let o = e.rbox(&["run", "--rm", "-m", "12q", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(
        stderr(&o).contains("--memory") && stderr(&o).contains("12q"),
        "{}",
        stderr(&o)
    );
    let o = e.rbox(&["run", "--rm", "no-such-image", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("no such image"), "{}", stderr(&o));
    let o = e.rbox(&["run", "--rm", "-v", "/no/such/dir:/x", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("/no/such/dir"), "{}", stderr(&o));
    ok(&e.rbox(&["create", "--name", "taken", "busybox", "true"]));
    let o = e.rbox(&["run", "--name", "taken", "busybox", "true"]);
    assert_eq!(code(&o), 125);
    assert!(stderr(&o).contains("already in use"), "{}", stderr(&o));
    ok(&e.rbox(&["rm", "taken"]));
    e.assert_clean("");
}

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
}

#[test]
fn exec_in_running_container() {
    guard!("exec_in_running_container");
    let e = Engine::new();
    ok(&e.rbox(&[
        "run", "-d", "--name", "box", "-e", "A=1", "busybox", "sleep", "100",
    ]));
    let out = ok(&e.rbox(&[
        "exec",
        "-e",
        "B=2",
        "-w",
        "/tmp",
        "box",
        "sh",
        "-c",
        "echo $A $B $(pwd)",
    ]));
    assert_eq!(out.trim(), "1 2 /tmp");
    assert_eq!(code(&e.rbox(&["exec", "box", "sh", "-c", "exit 5"])), 5);
    let uid = ok(&e.rbox(&["exec", "-u", "nobody", "box", "id", "-u"]));
    assert_eq!(uid.trim(), rbox_fixtures::NOBODY_UID.to_string());
    ok(&e.rbox(&["kill", "box"]));
    let v = e.until("box", |v| v["State"]["Status"] == "exited");
    assert_eq!(v["State"]["ExitCode"], 137);
    let pruned = ok(&e.rbox(&["container", "prune", "-f"]));
    assert!(pruned.contains("Total reclaimed: 1"), "{pruned}");
    e.assert_clean("");
}

#[test]
fn killed_monitor_and_client_leave_consistent_state() {
    guard!("killed_monitor_and_client_leave_consistent_state");
    let e = Engine::new();
    // A foreground run whose client is killed: the container goes on.
    let mut client = e
        .command(&["run", "--name", "fg", "busybox", "sleep", "100"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn rbox run");
    let v = e.until("fg", |v| v["State"]["Running"] == true);
    client.kill().expect("kill client");
    client.wait().expect("reap client");
    assert_eq!(e.inspect("fg")["State"]["Running"], true);
    let pid = v["State"]["Pid"].as_i64().expect("pid") as i32;
    // Its monitor killed: the record says exited, the process is gone.
    let dir = e
        .data
        .join("containers")
        .join(v["Id"].as_str().expect("id"));
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).expect("record"))
            .expect("json");
    let monitor = rec["state"]["monitorPid"].as_i64().expect("monitor pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill monitor");
    let v = e.until("fg", |v| v["State"]["Status"] == "exited");
    assert!(
        v["State"]["Error"]
            .as_str()
            .unwrap_or("")
            .contains("monitor"),
        "{v}"
    );
    for _ in 0..200 {
        if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err(),
        "the orphaned container process was stopped"
    );
    let id = v["Id"].as_str().expect("id").to_string();
    ok(&e.rbox(&["rm", "fg"]));
    e.assert_clean(&id);
}

#[test]
fn tty_and_stdin() {
    guard!("tty_and_stdin");
    if !rbox_test_support::require(
        "tty_and_stdin",
        "needs script(1) from util-linux",
        rbox_test_support::have_command("script"),
    ) {
        return;
    }
    let e = Engine::new();
    // -i: our stdin reaches the container.
    let mut c = e.command(&["run", "--rm", "-i", "busybox", "cat"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), b"through stdin\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(ok(&out), "through stdin\n");
    // -t under a pseudo-terminal: a pty with the caller's size.
    let cmd = format!(
        "stty rows 31 cols 101; {} --data-root {} run --rm -t --network none --cgroup-parent {} busybox sh -c 'tty; stty size; echo $TERM'",
        rbox_bin().display(),
        e.data.display(),
        e.parent
    );
    let out = ok(&Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("script"));
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("31 101"), "{out:?}");
    assert!(out.contains("xterm"), "{out:?}");
    e.assert_clean("");
}

#[test]
fn create_start_restart() {
    guard!("create_start_restart");
    let e = Engine::new();
    let id = ok(&e.rbox(&[
        "create",
        "--name",
        "later",
        "busybox",
        "sh",
        "-c",
        "echo started; sleep 100",
    ]))
    .trim()
    .to_string();
    assert_eq!(e.inspect("later")["State"]["Status"], "created");
    let listed = ok(&e.rbox(&[
        "ps",
        "-a",
        "--filter",
        "status=created",
        "--format",
        "{{.ID}}",
    ]));
    assert_eq!(listed.trim(), &id[..12]);
    ok(&e.rbox(&["start", "later"]));
    assert_eq!(e.inspect("later")["State"]["Running"], true);
    let first = e.inspect("later")["State"]["Pid"].clone();
    ok(&e.rbox(&["restart", "-t", "1", "later"]));
    let v = e.inspect("later");
    assert_eq!(v["State"]["Running"], true);
    assert_ne!(v["State"]["Pid"], first);
    ok(&e.rbox(&["stop", "-s", "KILL", "later"]));
    assert_eq!(e.inspect("later")["State"]["ExitCode"], 137);
    let logs = ok(&e.rbox(&["logs", "later"]));
    assert!(logs.matches("started").count() >= 2, "{logs}");
    ok(&e.rbox(&["rm", &id[..10]]));
    e.assert_clean(&id);
}

#[test]
fn concurrent_names_have_one_winner() {
    guard!("concurrent_names_have_one_winner");
    let e = Engine::new();
    let children: Vec<_> = (0..4)
        .map(|_| {
            e.command(&["create", "--name", "only", "busybox", "true"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait"))
        .collect();
    let won = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "{:?}", outs.iter().map(stderr).collect::<Vec<_>>());
    for o in outs.iter().filter(|o| !o.status.success()) {
        assert!(stderr(o).contains("already in use"), "{}", stderr(o));
    }
    assert_eq!(ok(&e.rbox(&["ps", "-aq"])).lines().count(), 1);
    ok(&e.rbox(&["rm", "only"]));
    e.assert_clean("");
}

#[test]
fn many_layers_mount_through_short_names() {
    guard!("many_layers_mount_through_short_names");
    let e = Engine::new();
    // busybox plus 60 one-file layers: the absolute lowerdir list (about
    // 100 bytes a layer) would not fit in a page.
    let store = rbox_image::Store::open(&e.data).expect("store");
    let base = store
        .resolve("busybox", &rbox_image::manifest::Platform::host())
        .expect("busybox");
    let mut config = base.config.clone();
    let mut layers: Vec<rbox_image::manifest::Descriptor> = base.manifest.layers.clone();
    let tmp = TempRoot::new("rbox-layers").expect("temp");
    for i in 0..60 {
        let dir = tmp.path().join(i.to_string());
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("layer{i}")), format!("{i}\n")).expect("write");
        let mut blob = Vec::new();
        let packed =
            rbox_image::layer::pack(&dir, &rbox_image::layer::PackOptions::default(), &mut blob)
                .expect("pack");
        let digest = store.write_blob(&blob).expect("blob");
        layers.push(rbox_image::manifest::Descriptor::new(
            packed.compression.oci_media_type(),
            digest,
            packed.size,
        ));
        config.rootfs.diff_ids.push(packed.diff_id);
    }
    let target = store.write_image(&config, &layers).expect("image");
    store
        .tag(
            &rbox_image::Reference::parse("tall").expect("name"),
            &target,
        )
        .expect("tag");
    let out = ok(&e.rbox(&[
        "run",
        "--name",
        "tall",
        "tall",
        "sh",
        "-c",
        "cat /layer0 /layer59; ls / | grep -c '^layer'",
    ]));
    assert_eq!(out, "0\n59\n60\n");
    assert_eq!(
        e.inspect("tall")["Driver"],
        "overlay2",
        "not the flattened fallback"
    );
    ok(&e.rbox(&["rm", "tall"]));
    e.assert_clean("");
}

#[test]
fn volumes_and_bridge_network() {
    guard!("volumes_and_bridge_network");
    if !rbox_test_support::require(
        "volumes_and_bridge_network",
        "needs the CNI plugins (containernetworking-plugins) and iptables",
        Path::new("/usr/lib/cni/bridge").exists() && rbox_test_support::have_command("iptables"),
    ) {
        return;
    }
    let e = Engine::new();
    let net = NetGuard::new(&e);
    // A named volume outlives its containers.
    ok(&e.rbox(&[
        "run",
        "--rm",
        "-v",
        "keep:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]));
    let got = ok(&e.rbox(&[
        "run",
        "--rm",
        "-v",
        "keep:/data:ro",
        "busybox",
        "cat",
        "/data/f",
    ]));
    assert_eq!(got, "kept\n");
    // An anonymous volume goes with `rm -v`.
    let id = ok(&e.rbox(&[
        "run",
        "--name",
        "anon",
        "-v",
        "/scratch",
        "busybox",
        "touch",
        "/scratch/x",
    ]))
    .trim()
    .to_string();
    let v = e.inspect("anon");
    assert_eq!(v["Mounts"][0]["Type"], "volume", "{v}");
    let anon = v["Mounts"][0]["Name"]
        .as_str()
        .expect("volume name")
        .to_string();
    assert!(e.data.join("volumes").join(&anon).exists());
    ok(&e.rbox(&["rm", "-v", "anon"]));
    assert!(
        !e.data.join("volumes").join(&anon).exists(),
        "anonymous volume removed"
    );
    let _ = id;
    // A bridge network: an address on eth0, shown by inspect.
    let cid = ok(&e.rbox(&[
        "run",
        "-d",
        "--name",
        "net",
        "--network",
        &net.name,
        "busybox",
        "sleep",
        "100",
    ]))
    .trim()
    .to_string();
    let v = e.inspect("net");
    let ip = v["NetworkSettings"]["IPAddress"]
        .as_str()
        .expect("ip")
        .to_string();
    assert!(!ip.is_empty(), "{v}");
    let inside = ok(&e.rbox(&["exec", "net", "ip", "-4", "addr", "show", "eth0"]));
    assert!(inside.contains(&ip), "{inside}");
    let hosts = ok(&e.rbox(&["exec", "net", "cat", "/etc/hosts"]));
    assert!(hosts.contains(&ip) && hosts.contains("net"), "{hosts}");
    ok(&e.rbox(&["rm", "-f", "net"]));
    e.assert_clean(&cid);
    ok(&e.rbox(&["volume", "rm", "keep"]));
    drop(net);
}

/// A bridge network of the test's own, removed (with its bridge) on drop.
struct NetGuard<'a> {
    e: &'a Engine,
    name: String,
}

impl<'a> NetGuard<'a> {
    fn new(e: &'a Engine) -> Self {
        let name = unique_id("enet");
        ok(&e.rbox(&["network", "create", &name]));
        NetGuard { e, name }
    }
}

impl Drop for NetGuard<'_> {
    fn drop(&mut self) {
        let ids = self.e.rbox(&["ps", "-aq", "--no-trunc"]);
        for id in stdout(&ids).lines() {
            let _ = self.e.rbox(&["rm", "-f", id]);
        }
        let o = self.e.rbox(&["network", "rm", &self.name]);
        assert!(
            o.status.success() || std::thread::panicking(),
            "network rm: {}",
            stderr(&o)
        );
    }
}
