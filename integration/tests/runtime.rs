//! The runtime end to end: each test runs a busybox container through the
//! built `rbox runtime` and checks the effect from inside the container.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;

use rbox_integration::{Bundle, ok, privileged, stderr, stdout, wait_status};
use serde_json::json;

macro_rules! guard {
    ($name:expr) => {
        if !privileged($name) {
            return;
        }
    };
}

fn recv_fd(conn: &std::os::unix::net::UnixStream) -> (Vec<u8>, i32) {
    let mut buf = vec![0u8; 8192];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .expect("recvmsg");
    let fd = msg
        .cmsgs()
        .expect("cmsgs")
        .find_map(|c| match c {
            nix::sys::socket::ControlMessageOwned::ScmRights(f) => f.first().copied(),
            _ => None,
        })
        .expect("an fd arrived");
    let n = msg.bytes;
    buf.truncate(n);
    (buf, fd)
}

fn with_cgroupns(b: &mut Bundle) {
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "cgroup"}));
}

#[test]
fn runs_and_reports_exit_code() {
    guard!("runs_and_reports_exit_code");
    let b = Bundle::new(&["sh", "-c", "echo hello; exit 3"]);
    let o = b.run();
    assert_eq!(stdout(&o), "hello\n");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(
        b.state().is_none(),
        "run without --keep deletes the container"
    );
}

#[test]
fn signal_death_maps_to_128_plus_n() {
    guard!("signal_death_maps_to_128_plus_n");
    // pid 1 ignores signals sent from inside its namespace: kill from out.
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let mut run = b
        .cmd(&["run", "--bundle", b.dir().to_str().unwrap(), &b.id])
        .spawn()
        .unwrap();
    wait_status(&b, "running");
    ok(&b.rbox(&["kill", &b.id, "9"]));
    assert_eq!(run.wait().unwrap().code(), Some(137));
}

#[test]
fn run_forwards_signals() {
    guard!("run_forwards_signals");
    let b = Bundle::new(&[
        "sh",
        "-c",
        "trap 'exit 42' TERM; while :; do sleep 0.05; done",
    ]);
    b.write();
    let mut run = b
        .cmd(&["run", "--bundle", b.dir().to_str().unwrap(), &b.id])
        .spawn()
        .unwrap();
    wait_status(&b, "running");
    std::thread::sleep(std::time::Duration::from_millis(200));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(42));
}

#[test]
fn namespaces_hostname_and_pid_one() {
    guard!("namespaces_hostname_and_pid_one");
    let b = Bundle::new(&["sh", "-c", "hostname; echo $$; cat /proc/net/dev | wc -l"]);
    let out = ok(&b.run());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "rbox-test");
    assert_eq!(lines[1], "1", "init is pid 1 in its pid namespace");
    // Two header lines plus lo only: a fresh network namespace.
    assert_eq!(lines[2].trim(), "3");
}

#[test]
fn capabilities_nnp_and_rlimits() {
    guard!("capabilities_nnp_and_rlimits");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "grep -E '^(CapEff|CapBnd|CapPrm|CapAmb|NoNewPrivs)' /proc/self/status; ulimit -n",
    ]);
    b.spec["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]);
    b.spec["process"]["noNewPrivileges"] = json!(true);
    // Ambient needs the capability in inheritable too.
    b.spec["process"]["capabilities"]["inheritable"] =
        b.spec["process"]["capabilities"]["ambient"].clone();
    let out = ok(&b.run());
    // CAP_KILL(5), CAP_NET_BIND_SERVICE(10), CAP_AUDIT_WRITE(29).
    for set in ["CapEff", "CapBnd", "CapPrm", "CapAmb"] {
        assert!(
            out.contains(&format!("{set}:\t0000000020000420")),
            "{set} wrong: {out}"
        );
    }
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.trim_end().ends_with("256"), "ulimit -n: {out}");
}

#[test]
fn user_and_groups() {
    guard!("user_and_groups");
    let mut b = Bundle::new(&["sh", "-c", "id; umask; echo $HOME"]);
    b.spec["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 65534], "umask": 23});
    let out = ok(&b.run());
    assert!(out.contains("uid=1000(rbox) gid=1000(rbox)"), "{out}");
    assert!(out.contains("5(tty)") && out.contains("65534"), "{out}");
    assert!(out.contains("0027"), "umask: {out}");
    assert!(out.contains("/home/rbox"), "HOME from /etc/passwd: {out}");
}

#[test]
fn seccomp_errno_rule_applies() {
    guard!("seccomp_errno_rule_applies");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "grep ^Seccomp: /proc/self/status; mkdir /tmp/x 2>&1; echo rc=$?",
    ]);
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
    });
    let out = ok(&b.run());
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(
        out.contains("Permission denied") && out.contains("rc=1"),
        "{out}"
    );
}

#[test]
fn seccomp_notify_sends_listener_fd() {
    guard!("seccomp_notify_sends_listener_fd");
    use std::os::unix::net::UnixListener;
    let mut b = Bundle::new(&["true"]);
    let sock = b.tmp.join("seccomp.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "meta-1",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.write();
    let mut child = b
        .cmd(&["create", "--bundle", b.dir().to_str().unwrap(), &b.id])
        .spawn()
        .unwrap();
    let (conn, _) = listener.accept().unwrap();
    let (body, fd) = recv_fd(&conn);
    let state: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(state["metadata"], "meta-1");
    assert_eq!(state["state"]["id"], b.id.as_str());
    assert!(state["pid"].as_i64().unwrap() > 0);
    assert!(child.wait().unwrap().success());
    // SAFETY: test-only close of the fd we just received.
    unsafe { libc::close(fd) };
}

#[test]
fn readonly_root_masked_and_readonly_paths() {
    guard!("readonly_root_masked_and_readonly_paths");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "touch /x 2>/dev/null && echo root-rw || echo root-ro; \
         (echo 1 > /proc/sys/kernel/domainname) 2>/dev/null && echo sys-rw || echo sys-ro; \
         stat -c %F /proc/keys; grep -c ' /proc/acpi .* - tmpfs ' /proc/self/mountinfo",
    ]);
    b.spec["root"]["readonly"] = json!(true);
    let out = ok(&b.run());
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "root-ro", "{out}");
    assert_eq!(l[1], "sys-ro", "{out}");
    assert_eq!(
        l[2], "character special file",
        "/proc/keys masked by /dev/null: {out}"
    );
    assert_eq!(l[3].trim(), "1", "/proc/acpi masked by a tmpfs: {out}");
}

#[test]
fn mounts_bind_tmpfs_and_options() {
    guard!("mounts_bind_tmpfs_and_options");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /data/hello; (echo x > /data/w) 2>/dev/null && echo data-rw || echo data-ro; \
         grep ' /scratch ' /proc/self/mountinfo; df -k /scratch | tail -1",
    ]);
    let host = b.tmp.join("hostdata");
    std::fs::create_dir_all(&host).unwrap();
    std::fs::write(host.join("hello"), "from host\n").unwrap();
    b.spec["mounts"].as_array_mut().unwrap().extend([
        json!({"destination": "/data", "type": "bind", "source": host, "options": ["rbind", "ro", "nosuid"]}),
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nodev", "size=1m", "mode=1777"]}),
    ]);
    let out = ok(&b.run());
    assert!(out.contains("from host"), "{out}");
    assert!(out.contains("data-ro"), "{out}");
    assert!(out.contains(" /scratch ") && out.contains("nodev"), "{out}");
    assert!(out.contains(" 1024 "), "tmpfs size=1m: {out}");
    assert!(!host.join("w").exists());
}

#[test]
fn devices_and_dev_links() {
    guard!("devices_and_dev_links");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "ls -l /dev/mynull /dev/fd /dev/ptmx; echo hi > /dev/mynull && echo wrote",
    ]);
    b.spec["linux"]["devices"] = json!([{"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3, "fileMode": 438, "uid": 0, "gid": 0}]);
    b.spec["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]);
    let out = ok(&b.run());
    assert!(
        out.contains("crw-rw-rw-") && out.contains("/dev/mynull"),
        "{out}"
    );
    assert!(out.contains("/dev/fd -> /proc/self/fd"), "{out}");
    assert!(out.contains("/dev/ptmx -> pts/ptmx"), "{out}");
    assert!(out.contains("wrote"), "{out}");
}

#[test]
fn sysctl_is_applied() {
    guard!("sysctl_is_applied");
    let mut b = Bundle::new(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    b.spec["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    assert_eq!(ok(&b.run()).trim(), "1");
}

#[test]
fn user_namespace_maps_ids() {
    guard!("user_namespace_maps_ids");
    let mut b = Bundle::new(&["sh", "-c", "cat /proc/self/uid_map; id -u"]);
    b.spec["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    b.spec["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    b.spec["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    let out = ok(&b.run());
    let f: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(&f[..3], ["0", "100000", "65536"], "{out}");
    assert_eq!(f[3], "0");
}

#[test]
fn cgroup_limits_visible_inside() {
    guard!("cgroup_limits_visible_inside");
    let mut b = Bundle::new(&[
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; \
         grep memory /proc/self/cgroup",
    ]);
    with_cgroupns(&mut b);
    b.spec["linux"]["resources"]["memory"] = json!({"limit": 67108864});
    b.spec["linux"]["resources"]["pids"] = json!({"limit": 42});
    let out = ok(&b.run());
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "67108864", "{out}");
    assert_eq!(l[1], "42", "{out}");
    assert_eq!(
        l[2], "4:memory:/",
        "cgroup namespace roots at the container: {out}"
    );
}

#[test]
fn lifecycle_create_start_state_kill_delete() {
    guard!("lifecycle_create_start_state_kill_delete");
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    let pidfile = b.tmp.join("pid");
    ok(&b.rbox(&[
        "create",
        "--bundle",
        b.dir().to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &b.id,
    ]));
    let st = b.state().unwrap();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], b.id.as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    let cg = format!("/sys/fs/cgroup/memory/rbox-test/{}", b.id);
    assert!(Path::new(&cg).is_dir());
    let list = stdout(&b.rbox(&["list", "--format", "json"]));
    assert!(list.contains(&b.id));
    ok(&b.rbox(&["start", &b.id]));
    assert_eq!(b.state().unwrap()["status"], "running");
    let ps: Vec<i64> =
        serde_json::from_str(&ok(&b.rbox(&["ps", "--format", "json", &b.id]))).unwrap();
    assert_eq!(ps, vec![pid]);
    let o = b.rbox(&["delete", &b.id]);
    assert!(!o.status.success(), "a running container needs --force");
    assert!(stderr(&o).contains("running"), "{}", stderr(&o));
    ok(&b.rbox(&["kill", &b.id, "KILL"]));
    wait_status(&b, "stopped");
    let o = b.rbox(&["kill", &b.id, "TERM"]);
    assert!(!o.status.success(), "killing a stopped container fails");
    ok(&b.rbox(&["delete", &b.id]));
    assert!(b.state().is_none());
    assert!(!Path::new(&cg).exists());
}

#[test]
fn pause_and_resume_freeze_the_cgroup() {
    guard!("pause_and_resume_freeze_the_cgroup");
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    ok(&b.rbox(&["run", "-d", "--bundle", b.dir().to_str().unwrap(), &b.id]));
    ok(&b.rbox(&["pause", &b.id]));
    assert_eq!(b.state().unwrap()["status"], "paused");
    let fz = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/freezer/rbox-test/{}/freezer.state",
        b.id
    ))
    .unwrap();
    assert_eq!(fz.trim(), "FROZEN");
    ok(&b.rbox(&["resume", &b.id]));
    assert_eq!(b.state().unwrap()["status"], "running");
    ok(&b.rbox(&["delete", "--force", &b.id]));
}

#[test]
fn exec_joins_the_container() {
    guard!("exec_joins_the_container");
    let mut b = Bundle::new(&["sleep", "1000"]);
    with_cgroupns(&mut b);
    b.write();
    ok(&b.rbox(&["run", "-d", "--bundle", b.dir().to_str().unwrap(), &b.id]));
    let out = ok(&b.rbox(&[
        "exec",
        "--user",
        "1000:1000",
        "--env",
        "FOO=bar",
        &b.id,
        "sh",
        "-c",
        "hostname; id -u; echo $FOO; tr '\\0' ' ' < /proc/1/cmdline; echo; grep pids /proc/self/cgroup",
    ]));
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[0], "rbox-test", "{out}");
    assert_eq!(l[1], "1000", "{out}");
    assert_eq!(l[2], "bar", "{out}");
    assert_eq!(l[3].trim(), "sleep 1000", "{out}");
    assert_eq!(
        l[4], "8:pids:/",
        "exec joined the cgroup and cgroupns: {out}"
    );
    let o = b.rbox(&["exec", &b.id, "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    let o = b.rbox(&["exec", &b.id, "no-such-binary"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no-such-binary"), "{}", stderr(&o));
    let pj = b.tmp.join("p.json");
    std::fs::write(
        &pj,
        json!({"args": ["sleep", "5"], "cwd": "/tmp", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]})
            .to_string(),
    )
    .unwrap();
    let pf = b.tmp.join("exec.pid");
    ok(&b.rbox(&[
        "exec",
        "--process",
        pj.to_str().unwrap(),
        "-d",
        "--pid-file",
        pf.to_str().unwrap(),
        &b.id,
    ]));
    let epid: i32 = std::fs::read_to_string(&pf).unwrap().parse().unwrap();
    let cwd = std::fs::read_link(format!("/proc/{epid}/cwd")).unwrap();
    // Seen from the host the cwd is relative to the container's mount.
    assert_eq!(cwd, Path::new("/tmp"));
    ok(&b.rbox(&["delete", "--force", &b.id]));
}

#[test]
fn init_errors_name_the_problem_and_leave_nothing() {
    guard!("init_errors_name_the_problem_and_leave_nothing");
    let b = Bundle::new(&["/no/such/binary"]);
    let o = b.run();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/no/such/binary"), "{}", stderr(&o));
    assert!(b.state().is_none(), "failed create leaves no state");
    assert!(!Path::new(&format!("/sys/fs/cgroup/memory/rbox-test/{}", b.id)).exists());
    let mut b = Bundle::new(&["true"]);
    // A missing cwd is created (as runc does); a file in its way is not.
    b.spec["process"]["cwd"] = json!("/etc/passwd/sub");
    let o = b.run();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("/etc/passwd/sub"), "{}", stderr(&o));
    let mut b = Bundle::new(&["true"]);
    b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.spec["process"]["cwd"] = json!("/root");
    std::fs::set_permissions(
        b.rootfs().join("root"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let o = b.run();
    assert!(
        stderr(&o).contains("/root") && stderr(&o).contains("EACCES"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_config_is_a_clear_error() {
    guard!("bad_config_is_a_clear_error");
    let b = Bundle::new(&["true"]);
    std::fs::write(b.dir().join("config.json"), "{\"ociVersion\": 12").unwrap();
    let id = b.id.clone();
    let o = b.rbox(&["create", "--bundle", b.dir().to_str().unwrap(), &id]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("config.json"), "{}", stderr(&o));
    let o = b.rbox(&["create", "--bundle", b.dir().to_str().unwrap(), "../evil"]);
    assert!(
        stderr(&o).contains("invalid container id"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn hooks_run_in_order_with_state() {
    guard!("hooks_run_in_order_with_state");
    let mut b = Bundle::new(&["true"]);
    let log = b.tmp.join("hooks.log");
    let hook = |name: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read s; echo {name} \"$s\" >> {}", log.display())]});
    b.spec["hooks"] = json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")],
    });
    ok(&b.run());
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        ["prestart", "createRuntime", "poststart", "poststop"],
        "{text}"
    );
    assert!(text.contains(&format!("\"id\":\"{}\"", b.id)), "{text}");
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .contains("\"status\":\"creating\""),
        "{text}"
    );
    let mut b = Bundle::new(&["true"]);
    b.spec["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "echo no-network-plugin >&2; exit 2"]}]});
    let o = b.run();
    assert!(
        stderr(&o)
            .contains("createRuntime hook /bin/sh: exited with exit status: 2: no-network-plugin"),
        "{}",
        stderr(&o)
    );
    let mut b = Bundle::new(&["true"]);
    b.spec["hooks"] =
        json!({"prestart": [{"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1}]});
    let o = b.run();
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
}

#[test]
fn no_leaked_fds_but_preserved_ones() {
    guard!("no_leaked_fds_but_preserved_ones");
    let b = Bundle::new(&["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"]);
    b.write();
    let devnull = std::fs::File::open("/dev/null").unwrap();
    let raw = devnull.as_raw_fd();
    let run = |preserve: &str| {
        let mut c = b.cmd(&[
            "run",
            "--preserve-fds",
            preserve,
            "--bundle",
            b.dir().to_str().unwrap(),
            &b.id,
        ]);
        // SAFETY: dup2 in the forked child before exec is async-signal-safe.
        unsafe {
            c.pre_exec(move || {
                libc::dup2(raw, 3);
                libc::dup2(raw, 9);
                Ok(())
            });
        }
        c.output().unwrap()
    };
    let out = ok(&run("0"));
    // 0 1 2 and the fd ls reads the directory with.
    assert_eq!(out.split_whitespace().count(), 4, "leaked fds: {out}");
    let out = ok(&run("1"));
    let fds: Vec<&str> = out.split_whitespace().collect();
    assert!(fds.contains(&"3"), "--preserve-fds 1 keeps fd 3: {out}");
    assert!(!fds.contains(&"9"), "{out}");
}

#[test]
fn refuses_to_execute_the_runtime_binary() {
    guard!("refuses_to_execute_the_runtime_binary");
    // CVE-2019-5736: the entrypoint resolves to the runtime itself.
    let b = Bundle::new(&["/proc/self/exe"]);
    let o = b.run();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("CVE-2019-5736"), "{}", stderr(&o));
    let b = Bundle::new(&["/evil.sh"]);
    std::fs::write(b.rootfs().join("evil.sh"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(
        b.rootfs().join("evil.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let o = b.run();
    assert!(stderr(&o).contains("CVE-2019-5736"), "{}", stderr(&o));
}

#[test]
fn mount_target_symlink_cannot_escape_rootfs() {
    guard!("mount_target_symlink_cannot_escape_rootfs");
    let mut b = Bundle::new(&["true"]);
    let outside = b.tmp.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, b.rootfs().join("evil")).unwrap();
    b.spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/evil/target", "type": "tmpfs", "source": "tmpfs"}));
    ok(&b.run());
    assert!(!outside.join("target").exists(), "mount escaped the rootfs");
}

#[test]
fn pid_reuse_is_detected() {
    guard!("pid_reuse_is_detected");
    let b = Bundle::new(&["sleep", "1000"]);
    b.write();
    ok(&b.rbox(&["run", "-d", "--bundle", b.dir().to_str().unwrap(), &b.id]));
    // Pretend the init died and its pid went to an unrelated process.
    // Start times count clock ticks (10 ms): a real reuse comes a pid
    // wrap-around later, so let a few ticks pass first.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let mut victim = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let sp = b.state_root().join(&b.id).join("state.json");
    let mut st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sp).unwrap()).unwrap();
    let real = st["pid"].clone();
    st["pid"] = json!(victim.id());
    std::fs::write(&sp, st.to_string()).unwrap();
    assert_eq!(b.state().unwrap()["status"], "stopped");
    let o = b.rbox(&["kill", &b.id, "KILL"]);
    assert!(!o.status.success());
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the unrelated process was signalled"
    );
    victim.kill().unwrap();
    victim.wait().unwrap();
    st["pid"] = real;
    std::fs::write(&sp, st.to_string()).unwrap();
    ok(&b.rbox(&["delete", "--force", &b.id]));
}

#[test]
fn console_socket_receives_the_pty() {
    guard!("console_socket_receives_the_pty");
    use std::os::unix::net::UnixListener;
    let mut b = Bundle::new(&["sh", "-c", "tty; stty size; stat -c %t:%T /dev/console"]);
    b.spec["process"]["terminal"] = json!(true);
    b.spec["process"]["consoleSize"] = json!({"height": 40, "width": 100});
    b.write();
    let sock = b.tmp.join("console.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    ok(&b.rbox(&[
        "create",
        "--bundle",
        b.dir().to_str().unwrap(),
        "--console-socket",
        sock.to_str().unwrap(),
        &b.id,
    ]));
    let (conn, _) = listener.accept().unwrap();
    let (_, fd) = recv_fd(&conn);
    // SAFETY: we own the received descriptor.
    let mut master = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    ok(&b.rbox(&["start", &b.id]));
    let mut out = Vec::new();
    let mut chunk = [0u8; 256];
    // EIO once the slave side is closed by the exiting process.
    while let Ok(n) = master.read(&mut chunk) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("40 100"), "{text}");
    // /dev/console is the same pty (major 0x88 = 136, minor 0).
    assert!(text.contains("88:0"), "{text}");
}
