//! Real clients driving rbox as their OCI runtime: podman (through conmon),
//! containerd (`ctr`, through the runc v2 shim) and dockerd (through its
//! own containerd), each with the built `rbox` behind a symlink named
//! `rbox-runc`. Every test sets up its own client storage or daemon, so
//! the tests are independent and may run in parallel.

use std::time::Duration;

use rbox_integration::clients::{Containerd, Dockerd, Podman, ok};
use rbox_test_support::{have_command, require, require_root};

/// Root, plus every binary in `cmds`.
fn guard(test: &str, cmds: &[&str]) -> bool {
    require_root(test)
        && cmds.iter().all(|c| {
            require(
                test,
                &format!("needs `{c}` (apt: podman containerd docker.io)"),
                have_command(c),
            )
        })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Polls `f` until it returns true (at most ~10 s).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..200 {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("never happened: {what}");
}

/// A container process that exits 0 on SIGTERM (pid 1 only gets signals it
/// handles) and otherwise runs until killed.
const SERVICE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; while :; do sleep 0.1; done",
];

// ---------------------------------------------------------------- podman

#[test]
fn podman_run_rm_output_and_exit_code() {
    const T: &str = "podman_run_rm_output_and_exit_code";
    if !guard(T, &["podman", "conmon"]) {
        return;
    }
    let p = Podman::new().expect("podman dirs");
    let image = p.import_busybox().expect("podman import");
    let o = p.run_container(&["--rm", image, "sh", "-c", "echo hello from rbox; exit 3"]);
    assert_eq!(
        text(&o.stdout),
        "hello from rbox\n",
        "stderr: {}",
        text(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(3), "stderr: {}", text(&o.stderr));
    // The error comes from rbox (it names itself) and maps to podman's 127.
    let o = p.run_container(&["--rm", image, "/nonexistent"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(127), "stderr: {err}");
    assert!(
        err.contains("rbox: exec: \"/nonexistent\": stat /nonexistent: no such file or directory"),
        "{err}"
    );
    assert_eq!(ok("podman ps", &p.run(&["ps", "--all", "--quiet"])), "");
}

#[test]
fn podman_detached_exec_pause_stop_rm() {
    const T: &str = "podman_detached_exec_pause_stop_rm";
    if !guard(T, &["podman", "conmon"]) {
        return;
    }
    let p = Podman::new().expect("podman dirs");
    let image = p.import_busybox().expect("podman import");
    let mut args = vec!["-d", "--name", "svc", image];
    args.extend_from_slice(SERVICE);
    ok("podman run -d", &p.run_container(&args));
    let runtime = ok(
        "podman inspect",
        &p.run(&["inspect", "--format", "{{.OCIRuntime}}", "svc"]),
    );
    assert_eq!(runtime.trim(), p.runtime().to_str().expect("utf-8"));

    let out = ok(
        "podman exec",
        &p.run(&[
            "exec",
            "svc",
            "sh",
            "-c",
            "echo $((6 * 7)); cat /proc/1/cmdline",
        ]),
    );
    assert!(out.starts_with("42\nsh\0-c\0trap"), "{out:?}");
    let o = p.run(&["exec", "svc", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5), "stderr: {}", text(&o.stderr));

    ok("podman pause", &p.run(&["pause", "svc"]));
    let status = |p: &Podman| {
        ok(
            "podman inspect",
            &p.run(&["inspect", "--format", "{{.State.Status}}", "svc"]),
        )
    };
    assert_eq!(status(&p).trim(), "paused");
    ok("podman unpause", &p.run(&["unpause", "svc"]));
    assert_eq!(status(&p).trim(), "running");

    // The trap makes SIGTERM (via `rbox kill`) end it with 0; a lost
    // signal would end in SIGKILL and 137 after the timeout.
    ok("podman stop", &p.run(&["stop", "--time", "20", "svc"]));
    let code = ok(
        "podman inspect",
        &p.run(&["inspect", "--format", "{{.State.ExitCode}}", "svc"]),
    );
    assert_eq!(code.trim(), "0");
    ok("podman rm", &p.run(&["rm", "svc"]));
    assert_eq!(ok("podman ps", &p.run(&["ps", "--all", "--quiet"])), "");
}

#[test]
fn podman_tty_run_and_exec() {
    const T: &str = "podman_tty_run_and_exec";
    if !guard(T, &["podman", "conmon"]) {
        return;
    }
    let p = Podman::new().expect("podman dirs");
    let image = p.import_busybox().expect("podman import");
    // -t: conmon passes --console-socket and reads the pty rbox sends.
    let o = p.run_container(&["--rm", "-t", image, "sh", "-c", "tty; stty size; exit 7"]);
    let out = text(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(7),
        "stdout: {out:?} stderr: {}",
        text(&o.stderr)
    );
    assert!(out.starts_with("/dev/pts/0\r\n"), "{out:?}");

    let mut args = vec!["-d", "--name", "svc", image];
    args.extend_from_slice(SERVICE);
    ok("podman run -d", &p.run_container(&args));
    let o = p.run(&["exec", "-t", "svc", "sh", "-c", "tty; exit 4"]);
    assert_eq!(o.status.code(), Some(4), "stderr: {}", text(&o.stderr));
    assert!(
        text(&o.stdout).starts_with("/dev/pts/"),
        "{:?}",
        text(&o.stdout)
    );
    // -i: stdin reaches the container through conmon.
    let input = p.scratch_file("stdin", b"abc\n");
    let mut cmd = p.cmd(&["exec", "-i", "svc", "sh", "-c", "read x; echo got $x"]);
    cmd.stdin(std::fs::File::open(&input).expect("open stdin file"));
    assert_eq!(ok("podman exec -i", &p.output(&mut cmd)), "got abc\n");
}

// ------------------------------------------------------------ containerd

const CTR_BINS: &[&str] = &["containerd", "ctr", "containerd-shim-runc-v2"];

#[test]
fn ctr_run_rm_output_exit_code_and_cgroup() {
    const T: &str = "ctr_run_rm_output_exit_code_and_cgroup";
    if !guard(T, CTR_BINS) {
        return;
    }
    let c = Containerd::start().expect("containerd");
    let image = c.import_busybox().expect("ctr images import");
    let run = |id: &str, cmd: &[&str]| {
        let flags = c.run_flags(id);
        let mut args: Vec<&str> = vec!["run", "--rm"];
        args.extend(flags.iter().map(String::as_str));
        args.extend([image, id]);
        args.extend_from_slice(cmd);
        c.output(&mut c.ctr(&args))
    };
    let o = run(
        "c1",
        &[
            "sh",
            "-c",
            "echo hello from rbox; grep pids /proc/self/cgroup; exit 3",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "stderr: {}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        format!("hello from rbox\n{}{}\n", pids_prefix(), c.cgroup_of("c1"))
    );

    // The error containerd reports is the one rbox wrote to --log as
    // JSON: runc's would start "runc create failed".
    let o = run("c2", &["/nonexistent"]);
    let err = text(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("OCI runtime create failed: exec: \"/nonexistent\": stat /nonexistent: no such file or directory"),
        "{err}"
    );
    let left = ok(
        "ctr containers list",
        &c.output(&mut c.ctr(&["containers", "list", "--quiet"])),
    );
    assert_eq!(left, "");
}

/// `N:pids:` as this host numbers its pids hierarchy in /proc/self/cgroup.
fn pids_prefix() -> String {
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
    own.lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (n, ctl) = (f.next()?, f.next()?);
            (ctl == "pids").then(|| format!("{n}:pids:"))
        })
        .expect("a v1 pids hierarchy")
}

#[test]
fn ctr_detached_exec_pause_kill() {
    const T: &str = "ctr_detached_exec_pause_kill";
    if !guard(T, CTR_BINS) {
        return;
    }
    let c = Containerd::start().expect("containerd");
    let image = c.import_busybox().expect("ctr images import");
    let flags = c.run_flags("svc");
    let mut args: Vec<&str> = vec!["run", "--detach"];
    args.extend(flags.iter().map(String::as_str));
    args.extend([image, "svc", "sleep", "1000"]);
    ok("ctr run -d", &c.output(&mut c.ctr(&args)));
    let task_status = || {
        let out = ok("ctr task ls", &c.output(&mut c.ctr(&["tasks", "list"])));
        out.lines()
            .find(|l| l.starts_with("svc "))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(task_status(), "RUNNING");

    let fifo = c.fifo_dir();
    let o = c.output(&mut c.ctr(&[
        "tasks",
        "exec",
        "--fifo-dir",
        fifo.to_str().expect("utf-8"),
        "--exec-id",
        "e1",
        "svc",
        "sh",
        "-c",
        "echo exec next to $(cat /proc/1/comm); exit 6",
    ]));
    assert_eq!(o.status.code(), Some(6), "stderr: {}", text(&o.stderr));
    assert_eq!(text(&o.stdout), "exec next to sleep\n");

    ok(
        "ctr task pause",
        &c.output(&mut c.ctr(&["tasks", "pause", "svc"])),
    );
    assert_eq!(task_status(), "PAUSED");
    ok(
        "ctr task resume",
        &c.output(&mut c.ctr(&["tasks", "resume", "svc"])),
    );
    assert_eq!(task_status(), "RUNNING");
    let ps = ok(
        "ctr task ps",
        &c.output(&mut c.ctr(&["tasks", "ps", "svc"])),
    );
    assert_eq!(ps.lines().count(), 2, "{ps}");

    ok(
        "ctr task kill",
        &c.output(&mut c.ctr(&["tasks", "kill", "--signal", "SIGKILL", "svc"])),
    );
    eventually("task svc stopped", || task_status() == "STOPPED");
    ok(
        "ctr task rm",
        &c.output(&mut c.ctr(&["tasks", "delete", "svc"])),
    );
    ok(
        "ctr c rm",
        &c.output(&mut c.ctr(&["containers", "delete", "svc"])),
    );
}

// --------------------------------------------------------------- dockerd

#[test]
fn docker_run_rm_output_exit_codes_and_cgroup() {
    const T: &str = "docker_run_rm_output_exit_codes_and_cgroup";
    if !guard(T, &["dockerd", "docker"]) {
        return;
    }
    let d = Dockerd::start().expect("dockerd");
    let image = d.import_busybox().expect("docker import");
    let run = |cmd: &[&str]| {
        let mut args = vec![
            "run",
            "--rm",
            "--runtime",
            "rbox",
            "--network",
            "none",
            image,
        ];
        args.extend_from_slice(cmd);
        d.run(&args)
    };
    let o = run(&[
        "sh",
        "-c",
        "echo hello from rbox; grep pids /proc/self/cgroup; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "stderr: {}", text(&o.stderr));
    let out = text(&o.stdout);
    let want = format!("hello from rbox\n{}{}/", pids_prefix(), d.cgroup_parent());
    assert!(
        out.starts_with(&want),
        "{out:?} does not start with {want:?}"
    );

    // docker maps "no such file or directory" / "permission denied" in the
    // runtime's error to 127 / 126, as with runc.
    let o = run(&["/nonexistent"]);
    assert_eq!(o.status.code(), Some(127), "stderr: {}", text(&o.stderr));
    let o = run(&["/etc/passwd"]);
    assert_eq!(o.status.code(), Some(126), "stderr: {}", text(&o.stderr));
    assert_eq!(ok("docker ps", &d.run(&["ps", "--all", "--quiet"])), "");
}

#[test]
fn docker_detached_exec_stop_rm() {
    const T: &str = "docker_detached_exec_stop_rm";
    if !guard(T, &["dockerd", "docker"]) {
        return;
    }
    let d = Dockerd::start().expect("dockerd");
    let image = d.import_busybox().expect("docker import");
    let mut args = vec![
        "run",
        "-d",
        "--name",
        "svc",
        "--runtime",
        "rbox",
        "--network",
        "none",
        image,
    ];
    args.extend_from_slice(SERVICE);
    ok("docker run -d", &d.run(&args));
    let runtime = ok(
        "docker inspect",
        &d.run(&["inspect", "--format", "{{.HostConfig.Runtime}}", "svc"]),
    );
    assert_eq!(runtime.trim(), "rbox");

    let out = ok(
        "docker exec",
        &d.run(&["exec", "svc", "sh", "-c", "echo $((6 * 7))"]),
    );
    assert_eq!(out, "42\n");
    let o = d.run(&["exec", "svc", "sh", "-c", "exit 5"]);
    assert_eq!(o.status.code(), Some(5), "stderr: {}", text(&o.stderr));
    let o = d.run(&["exec", "-t", "svc", "tty"]);
    assert_eq!(ok("docker exec -t", &o), "/dev/pts/0\r\n");

    ok("docker pause", &d.run(&["pause", "svc"]));
    ok("docker unpause", &d.run(&["unpause", "svc"]));
    ok("docker stop", &d.run(&["stop", "--time", "20", "svc"]));
    let code = ok(
        "docker inspect",
        &d.run(&["inspect", "--format", "{{.State.ExitCode}}", "svc"]),
    );
    assert_eq!(code.trim(), "0", "SIGTERM reached the trap");
    ok("docker rm", &d.run(&["rm", "svc"]));
}
