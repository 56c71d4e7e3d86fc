//! Privileged: the cgroup manager on this host's real cgroup v1 hierarchy.
//!
//! Everything lives under `/rbox-test/<unique>` and is removed again; the
//! only processes touched are the test's own children, which are killed
//! and reaped whatever happens.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use rbox_runtime::cgroup::{Hierarchy, Manager, Version};
use rbox_runtime::oci_spec::runtime::LinuxResources;

const V1_ROOT: &str = "/sys/fs/cgroup";
const CONTROLLERS: &[&str] = &[
    "memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices", "blkio",
];

fn skip(test: &str, reason: &str) {
    if std::env::var("RBOX_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: {reason}");
    }
    eprintln!("SKIP {test}: {reason}");
}

/// Whether this host can run the test: root on a v1 (or hybrid) host with
/// the controllers the test uses.
fn usable(test: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        skip(test, "needs root");
        return false;
    }
    match Hierarchy::detect() {
        Ok(h) if h.version() == Version::V1 => {}
        Ok(_) => {
            skip(
                test,
                "the host is cgroup v2 (the v2 path is tested in a VM)",
            );
            return false;
        }
        Err(e) => {
            skip(test, &format!("no cgroup hierarchy: {e}"));
            return false;
        }
    }
    if let Some(c) = CONTROLLERS
        .iter()
        .find(|c| !Path::new(V1_ROOT).join(c).join("tasks").exists())
    {
        skip(
            test,
            &format!("cgroup v1 controller {c} is not mounted at {V1_ROOT}/{c}"),
        );
        return false;
    }
    true
}

/// The container cgroup and the children in it; on drop (also after a
/// failed assertion) thaws, kills and reaps the children, then removes the
/// cgroup and, if empty, the shared `/rbox-test` parent.
struct Fixture {
    manager: Manager,
    children: Vec<Child>,
}

impl Fixture {
    fn new(tag: &str) -> Self {
        let path = format!("/rbox-test/{tag}-{}", std::process::id());
        let manager = Manager::new(Some(&path), tag, false).expect("manager");
        Self {
            manager,
            children: Vec::new(),
        }
    }

    /// The container's directory in a v1 hierarchy.
    fn dir(&self, controller: &str) -> PathBuf {
        let rel = self.manager.path().strip_prefix("/").expect("absolute");
        Path::new(V1_ROOT).join(controller).join(rel)
    }

    fn read(&self, controller: &str, file: &str) -> String {
        let path = self.dir(controller).join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
            .trim()
            .to_owned()
    }

    /// Starts `sh -c script` with piped stdio; returns its pid.
    fn spawn(&mut self, script: &str) -> i32 {
        let child = Command::new("/bin/sh")
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = i32::try_from(child.id()).expect("pid fits");
        self.children.push(child);
        pid
    }

    fn child(&mut self, pid: i32) -> &mut Child {
        self.children
            .iter_mut()
            .find(|c| i32::try_from(c.id()).ok() == Some(pid))
            .expect("our child")
    }

    fn say(&mut self, pid: i32, line: &str) {
        writeln!(self.child(pid).stdin.as_mut().expect("stdin"), "{line}").expect("write to child");
    }

    fn lines(&mut self, pid: i32) -> BufReader<ChildStdout> {
        BufReader::new(self.child(pid).stdout.take().expect("stdout"))
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // A frozen v1 task cannot die: thaw before killing.
        let _ = self.manager.thaw();
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = self.manager.destroy();
        for c in CONTROLLERS.iter().chain(["systemd", "unified"].iter()) {
            let _ = std::fs::remove_dir(Path::new(V1_ROOT).join(c).join("rbox-test"));
        }
    }
}

fn resources(json: &str) -> LinuxResources {
    serde_json::from_str(json).expect("resources json")
}

#[test]
fn v1_limits_tasks_freezer_stats_and_destroy() {
    const TEST: &str = "v1_limits_tasks_freezer_stats_and_destroy";
    if !usable(TEST) {
        return;
    }
    let mut fx = Fixture::new("v1-life");
    assert_eq!(fx.manager.version(), Version::V1);
    fx.manager.create().expect("create");
    for c in CONTROLLERS {
        assert!(fx.dir(c).is_dir(), "{c} directory created");
    }
    // The root's cpus/mems were copied down, so the cpuset can hold tasks.
    assert_eq!(
        fx.read("cpuset", "cpuset.mems"),
        std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.mems")
            .expect("root mems")
            .trim()
    );

    let swap_file = fx.dir("memory").join("memory.memsw.limit_in_bytes");
    let swap = if swap_file.exists() {
        r#", "swap": 134217728"#
    } else {
        ""
    };
    let r = resources(&format!(
        r#"{{"memory": {{"limit": 67108864, "reservation": 33554432{swap}}},
            "cpu": {{"shares": 512, "quota": 20000, "period": 100000, "cpus": "0", "mems": "0"}},
            "pids": {{"limit": 32}},
            "devices": [
                {{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}},
                {{"allow": true, "type": "c", "major": 1, "minor": 9, "access": "r"}}]}}"#
    ));
    fx.manager.apply(&r).expect("apply");
    assert_eq!(fx.read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(fx.read("memory", "memory.soft_limit_in_bytes"), "33554432");
    if !swap.is_empty() {
        assert_eq!(
            fx.read("memory", "memory.memsw.limit_in_bytes"),
            "134217728"
        );
    }
    assert_eq!(fx.read("cpu", "cpu.shares"), "512");
    assert_eq!(fx.read("cpu", "cpu.cfs_quota_us"), "20000");
    assert_eq!(fx.read("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(fx.read("cpuset", "cpuset.cpus"), "0");
    assert_eq!(fx.read("pids", "pids.max"), "32");
    assert_eq!(fx.read("devices", "devices.list"), "c 1:3 rwm\nc 1:9 r");

    // Update: apply again, only what changes.
    fx.manager
        .update(&resources(
            r#"{"memory": {"limit": 100663296}, "pids": {"limit": -1}}"#,
        ))
        .expect("update");
    assert_eq!(fx.read("memory", "memory.limit_in_bytes"), "100663296");
    assert_eq!(fx.read("pids", "pids.max"), "max");
    fx.manager
        .update(&resources(r#"{"pids": {"limit": 32}}"#))
        .expect("update");

    // A child that probes devices and burns a little CPU on request.
    let pid = fx.spawn(
        "read go; \
         for t in 'head -c1 /dev/zero' 'head -c1 /dev/urandom' 'echo x >/dev/urandom'; do \
         if sh -c \"$t\" >/dev/null 2>&1; then echo ok; else echo denied; fi; done; \
         i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo done; read end",
    );
    fx.manager.add_task(pid).expect("add_task");
    let proc_cgroup =
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("/proc/pid/cgroup");
    let path = fx.manager.path().display().to_string();
    for c in ["memory", "pids", "freezer", "devices"] {
        assert!(
            proc_cgroup
                .lines()
                .any(|l| l.contains(&format!(":{c}:")) && l.ends_with(&path)),
            "{c} membership in {proc_cgroup}"
        );
    }
    if Path::new("/sys/fs/cgroup/unified").exists() {
        assert!(
            proc_cgroup.lines().any(|l| l == format!("0::{path}")),
            "hybrid cgroup2 membership: {proc_cgroup}"
        );
    }
    assert_eq!(fx.manager.pids().expect("pids"), [pid]);

    // Freeze and thaw while it waits.
    fx.manager.freeze().expect("freeze");
    assert_eq!(fx.read("freezer", "freezer.state"), "FROZEN");
    assert!(fx.manager.is_frozen().expect("state"));
    fx.manager.thaw().expect("thaw");
    assert_eq!(fx.read("freezer", "freezer.state"), "THAWED");
    assert!(!fx.manager.is_frozen().expect("state"));

    fx.say(pid, "go");
    let mut out = fx.lines(pid);
    let mut next = || {
        let mut l = String::new();
        out.read_line(&mut l).expect("read child");
        l.trim().to_owned()
    };
    let seen: Vec<String> = (0..4).map(|_| next()).collect();
    assert_eq!(
        seen,
        ["denied", "ok", "denied", "done"],
        "/dev/zero, read and write /dev/urandom"
    );

    let s = fx.manager.stats().expect("stats");
    assert_eq!(s.pids.current, 1);
    assert_eq!(s.pids.limit, Some(32));
    assert_eq!(s.memory.usage.limit, 100_663_296);
    assert!(
        s.memory.usage.max_usage > 0,
        "memory was charged: {:?}",
        s.memory
    );
    assert!(s.cpu.usage.total > 0, "cpu time was accounted: {:?}", s.cpu);
    // Counters are read one after another, so no ordering between them.
    assert!(s.cpu.usage.user + s.cpu.usage.kernel > 0, "{:?}", s.cpu);
    assert_eq!(fx.manager.oom_events().expect("oom"), 0);

    // kill_all reaches every process, frozen or not.
    let sleeper = fx.spawn("exec sleep 1000");
    fx.manager.add_task(sleeper).expect("add sleeper");
    assert_eq!(fx.manager.pids().expect("pids").len(), 2);
    fx.manager
        .kill_all(nix::sys::signal::Signal::SIGKILL)
        .expect("kill_all");
    for c in &mut fx.children {
        let status = c.wait().expect("reap");
        assert!(!status.success(), "killed");
    }
    assert!(fx.manager.pids().expect("pids").is_empty());

    fx.manager.destroy().expect("destroy");
    for c in CONTROLLERS {
        assert!(!fx.dir(c).exists(), "{c} directory removed");
    }
    assert!(!fx.manager.exists());
}

#[test]
fn v1_refuses_hostile_settings_without_writing() {
    const TEST: &str = "v1_refuses_hostile_settings_without_writing";
    if !usable(TEST) {
        return;
    }
    let fx = Fixture::new("v1-hostile");
    fx.manager.create().expect("create");
    let before = fx.read("memory", "memory.limit_in_bytes");
    let e = fx
        .manager
        .apply(&resources(r#"{"memory": {"limit": -5}}"#))
        .expect_err("negative");
    assert!(e.to_string().contains("memory.limit"), "{e}");
    assert_eq!(fx.read("memory", "memory.limit_in_bytes"), before);
    // The kernel's own refusal names the file and the value.
    let e = fx
        .manager
        .apply(&resources(r#"{"cpu": {"cpus": "999"}}"#))
        .expect_err("no cpu 999");
    let want = format!(
        "writing 999 to {}",
        fx.dir("cpuset").join("cpuset.cpus").display()
    );
    assert_eq!(e.to_string(), want);
    let e = Manager::new(Some("/rbox-test/../etc"), "x", false).expect_err("dot-dot");
    assert!(e.to_string().contains("\"..\" is not allowed"), "{e}");
}
