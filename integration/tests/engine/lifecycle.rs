//! Container lifecycle: run, create/start/restart, logs, exec, stop, rm,
//! restart policy, crashes of the client and the monitor.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rbox_integration::{ok, rbox_bin, stderr, stdout};

use crate::{Engine, code};

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
    let o = e.rbox(&["run", "--rm", "--pull", "never", "no-such-image", "true"]);
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
fn wait_reports_a_removed_containers_code() {
    guard!("wait_reports_a_removed_containers_code");
    let e = Engine::new();
    let id = ok(&e.rbox(&[
        "run",
        "-d",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "sleep 0.3; exit 42",
    ]))
    .trim()
    .to_string();
    assert_eq!(ok(&e.rbox(&["wait", &id])).trim(), "42");
    // wait returns at the exit; the monitor removes the container after.
    for _ in 0..400 {
        if !e.rbox(&["inspect", &id]).status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    e.assert_clean(&id);
}

#[test]
fn a_killed_create_is_cleaned_up_by_the_next() {
    guard!("a_killed_create_is_cleaned_up_by_the_next");
    let e = Engine::new();
    ok(&e.rbox(&["run", "--rm", "busybox", "true"]));
    // What a create killed after its rootfs mount leaves: a directory
    // without a record (its lock free), a mount, a claimed name; and one
    // killed before its rename.
    let dead = "d".repeat(64);
    let dir = e.data.join("containers").join(&dead);
    std::fs::create_dir_all(dir.join("rootfs")).expect("mkdir");
    nix::mount::mount(
        Some("tmpfs"),
        &dir.join("rootfs"),
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("mount tmpfs");
    std::fs::write(e.data.join("container-names/ghost"), &dead).expect("name");
    let tmp = e
        .data
        .join("containers")
        .join(format!(".{}.tmp", "e".repeat(64)));
    std::fs::create_dir_all(&tmp).expect("mkdir");
    // Old enough not to be a create in progress.
    let epoch = nix::sys::time::TimeVal::new(0, 0);
    nix::sys::stat::utimes(&tmp, &epoch, &epoch).expect("utimes");
    let o = e.rbox(&[
        "run", "--rm", "--name", "ghost", "busybox", "echo", "took it",
    ]);
    assert_eq!(ok(&o), "took it\n");
    assert!(!dir.exists() && !tmp.exists(), "remains removed");
    e.assert_clean("");
}
