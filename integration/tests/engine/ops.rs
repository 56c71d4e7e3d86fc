//! Operations on existing containers: stats, cp, pause/unpause, rename.

use rbox_integration::{ok, stderr};

use crate::Engine;

#[test]
fn stats_shows_limits_and_pids() {
    guard!("stats_shows_limits_and_pids");
    let e = Engine::new();
    let id = ok(&e.rbox(&[
        "run", "-d", "--name", "st", "--memory", "64m", "busybox", "sleep", "1000",
    ]))
    .trim()
    .to_string();
    let o = e.rbox(&["stats", "--no-stream", "--format", "json", "st"]);
    let line = ok(&o);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON object");
    assert_eq!(v["Name"], "st");
    assert_eq!(v["ID"], &id[..12]);
    let mem = v["MemUsage"].as_str().expect("MemUsage");
    assert!(mem.ends_with(" / 64MiB"), "{mem}");
    let pids: u64 = v["PIDs"].as_str().expect("PIDs").parse().expect("a count");
    assert!(pids >= 1, "{v}");
    assert!(v["CPUPerc"].as_str().expect("CPUPerc").ends_with('%'));
    assert!(v["NetIO"].as_str().expect("NetIO").contains(" / "));
    // The table, and -a lists a stopped container with dashes.
    let table = ok(&e.rbox(&["stats", "--no-stream"]));
    assert!(table.starts_with("CONTAINER ID"), "{table}");
    assert!(table.contains("64MiB"), "{table}");
    ok(&e.rbox(&["create", "--name", "idle", "busybox", "true"]));
    let all = ok(&e.rbox(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}} {{.PIDs}}",
    ]));
    assert!(all.lines().any(|l| l == "idle --"), "{all}");
    assert!(!ok(&e.rbox(&["stats", "--no-stream", "--format", "{{.Name}}"])).contains("idle"));
    let o = e.rbox(&["stats", "--no-stream", "nope"]);
    assert!(!o.status.success() && stderr(&o).contains("no such container"));
    ok(&e.rbox(&["rm", "-f", "st", "idle"]));
    e.assert_clean(&id);
}

/// Runs `sh -c script` in the container; its stdout.
fn sh(e: &Engine, c: &str, script: &str) -> String {
    ok(&e.rbox(&["exec", c, "sh", "-c", script]))
}

#[test]
fn cp_resolves_inside_the_container() {
    guard!("cp_resolves_inside_the_container");
    let e = Engine::new();
    let tmp = rbox_test_support::TempRoot::new("rbox-cp").expect("temp dir");
    let host = tmp.path().to_path_buf();
    let h = host.display().to_string();
    let hs = |p: &str| format!("{h}/{p}");
    // Hostile links: absolute to a host-looking path, and climbing out.
    let setup = format!(
        "echo container-shadow > /etc/shadow; ln -s /etc/shadow /shadowlink; \
         ln -s ../../../../../../.. /up; ln -s ../../../../../../..{h} /evil; \
         ln -s {h} /evil2; mkdir -p /data/sub; echo a > /data/sub/f; \
         chown 1234:5678 /data/sub/f; ln -s /etc/passwd /data/link; touch /ready; sleep 1000"
    );
    let id = ok(&e.rbox(&["run", "-d", "--name", "cpc", "busybox", "sh", "-c", &setup]))
        .trim()
        .to_string();
    while !e
        .rbox(&["exec", "cpc", "test", "-e", "/ready"])
        .status
        .success()
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A link is copied as a link; -L copies what it points to in the
    // container, never the host's /etc/shadow.
    ok(&e.rbox(&["cp", "cpc:/shadowlink", &hs("link")]));
    let l = std::fs::read_link(hs("link")).expect("a symlink");
    assert_eq!(l, std::path::Path::new("/etc/shadow"));
    ok(&e.rbox(&["cp", "-L", "cpc:/shadowlink", &hs("shadow")]));
    assert_eq!(
        std::fs::read_to_string(hs("shadow")).expect("copied"),
        "container-shadow\n"
    );
    ok(&e.rbox(&["cp", "cpc:/up/etc/shadow", &hs("up")]));
    assert_eq!(
        std::fs::read_to_string(hs("up")).expect("copied"),
        "container-shadow\n"
    );
    // Into the container through links that point at the host dir: they
    // resolve inside the container, where that path does not exist.
    std::fs::write(hs("payload"), "p\n").expect("payload");
    for dest in ["cpc:/evil/x", "cpc:/evil2/x", "cpc:/up/evil2/x"] {
        let o = e.rbox(&["cp", &hs("payload"), dest]);
        assert!(!o.status.success(), "{dest}: {}", stderr(&o));
        assert!(!host.join("x").exists(), "{dest} wrote to the host");
    }
    // A file into an existing directory keeps its name; .. stays inside.
    ok(&e.rbox(&["cp", &hs("payload"), "cpc:/up/../etc/"]));
    assert_eq!(sh(&e, "cpc", "cat /etc/payload"), "p\n");
    // Directories: into an existing dir by name, SRC/. as contents into
    // a new one; owners only with -a.
    ok(&e.rbox(&["cp", "cpc:/data", &h]));
    assert_eq!(
        std::fs::read_to_string(hs("data/sub/f")).expect("copied"),
        "a\n"
    );
    assert!(
        std::fs::symlink_metadata(hs("data/link"))
            .expect("link")
            .is_symlink()
    );
    let owner = |p: &str| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).expect("stat");
        (m.uid(), m.gid())
    };
    assert_eq!(owner(&hs("data/sub/f")), (0, 0));
    ok(&e.rbox(&["cp", "-a", "cpc:/data/.", &hs("archive")]));
    assert_eq!(owner(&hs("archive/sub/f")), (1234, 5678));
    assert!(!host.join("archive/data").exists());
    // Host to container, with and without -a.
    std::os::unix::fs::chown(hs("archive/sub/f"), Some(4321), Some(8765)).expect("chown");
    ok(&e.rbox(&["cp", &hs("archive"), "cpc:/plain"]));
    ok(&e.rbox(&["cp", "-a", &hs("archive"), "cpc:/kept"]));
    assert_eq!(
        sh(
            &e,
            "cpc",
            "stat -c %u:%g /plain/sub/f /kept/sub/f; cat /kept/sub/f"
        ),
        "0:0\n4321:8765\na\n"
    );
    // Errors as docker's: a dir onto a file, a missing parent.
    let o = e.rbox(&["cp", "cpc:/data", &hs("payload")]);
    assert!(!o.status.success(), "{}", stderr(&o));
    let o = e.rbox(&["cp", &hs("payload"), "cpc:/no/such/dir/"]);
    assert!(!o.status.success(), "{}", stderr(&o));
    // Tar streams both ways.
    let o = e.command(&["cp", "cpc:/data", "-"]).output().expect("cp -");
    assert!(o.status.success(), "{}", stderr(&o));
    let tar = std::process::Command::new("tar")
        .args(["-tvf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(&o.stdout)?;
            c.wait_with_output()
        })
        .expect("tar -t");
    let list = String::from_utf8_lossy(&tar.stdout).to_string();
    assert!(list.contains("data/sub/f"), "{list}");
    assert!(list.contains("1234/5678"), "{list}");
    assert!(list.contains("data/link -> /etc/passwd"), "{list}");
    let archive = std::process::Command::new("tar")
        .args(["-C", &hs("archive"), "-cf", "-", "."])
        .output()
        .expect("tar -c");
    let mut child = e
        .command(&["cp", "-a", "-", "cpc:/tmp"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("cp - in");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&archive.stdout)
            .expect("writing the tar");
    }
    assert!(child.wait().expect("cp").success());
    assert_eq!(sh(&e, "cpc", "stat -c %u:%g /tmp/sub/f"), "4321:8765\n");
    // A stopped container's files are still reachable.
    ok(&e.rbox(&["stop", "-t", "0", "cpc"]));
    ok(&e.rbox(&["cp", &hs("payload"), "cpc:/after"]));
    ok(&e.rbox(&["cp", "cpc:/after", &hs("after")]));
    assert_eq!(std::fs::read_to_string(hs("after")).expect("copied"), "p\n");
    ok(&e.rbox(&["rm", "cpc"]));
    e.assert_clean(&id);
}

#[test]
fn pause_unpause_rename() {
    guard!("pause_unpause_rename");
    let e = Engine::new();
    let id = ok(&e.rbox(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "while true; do date +%s%N > /tick; sleep 0.05; done",
    ]))
    .trim()
    .to_string();
    let tick = || ok(&e.rbox(&["cp", "ticker:/tick", "-"]));
    ok(&e.rbox(&["pause", "ticker"]));
    let v = e.inspect("ticker");
    assert_eq!(
        (
            v["State"]["Status"].as_str(),
            v["State"]["Paused"].as_bool()
        ),
        (Some("paused"), Some(true))
    );
    let st = ok(&e.rbox(&["ps", "--format", "{{.Status}}|{{.State}}"]));
    assert!(st.trim().ends_with("(Paused)|paused"), "{st}");
    assert_eq!(
        ok(&e.rbox(&["ps", "-q", "--filter", "status=paused"])).trim(),
        &id[..12]
    );
    // Frozen: the file does not change.
    let a = tick();
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(a, tick(), "the loop ran while paused");
    let o = e.rbox(&["exec", "ticker", "true"]);
    assert!(stderr(&o).contains("paused"), "{}", stderr(&o));
    assert!(!e.rbox(&["pause", "ticker"]).status.success());
    ok(&e.rbox(&["unpause", "ticker"]));
    assert_eq!(e.inspect("ticker")["State"]["Status"], "running");
    let a = tick();
    let mut moved = false;
    for _ in 0..100 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if tick() != a {
            moved = true;
            break;
        }
    }
    assert!(moved, "the loop did not resume");
    assert!(!e.rbox(&["unpause", "ticker"]).status.success());
    // Rename: the old name is free, the new one taken.
    ok(&e.rbox(&["create", "--name", "other", "busybox", "true"]));
    let o = e.rbox(&["rename", "ticker", "other"]);
    assert!(stderr(&o).contains("already in use"), "{}", stderr(&o));
    ok(&e.rbox(&["rename", "ticker", "tocker"]));
    assert_eq!(e.inspect("tocker")["Id"], id.as_str());
    assert!(!e.rbox(&["inspect", "ticker"]).status.success());
    ok(&e.rbox(&["rename", "other", "ticker"]));
    // A paused container is still removed by rm -f (thawed after SIGKILL).
    ok(&e.rbox(&["pause", "tocker"]));
    ok(&e.rbox(&["rm", "-f", "tocker", "ticker"]));
    e.assert_clean(&id);
}

#[test]
fn network_none_has_loopback_up() {
    guard!("network_none_has_loopback_up");
    let e = Engine::new();
    let out = ok(&e.rbox(&[
        "run", "--rm", "--network", "none", "busybox", "sh", "-c",
        "ip -o link show lo; ip -o addr show lo; ping -c 1 -W 2 127.0.0.1 >/dev/null && echo pong; ls /sys/class/net",
    ]));
    assert!(out.contains("LOOPBACK,UP"), "{out}");
    assert!(out.contains("inet 127.0.0.1/8"), "{out}");
    assert!(out.contains("pong"), "{out}");
    assert!(out.trim_end().ends_with("\nlo"), "only lo: {out}");
    e.assert_clean("");
}

#[test]
fn cp_goes_through_volumes_and_binds() {
    guard!("cp_goes_through_volumes_and_binds");
    let e = Engine::new();
    let tmp = rbox_test_support::TempRoot::new("rbox-cp-mounts").expect("temp dir");
    let bind = tmp.path().join("bind");
    std::fs::create_dir(&bind).expect("bind dir");
    std::fs::write(bind.join("host.txt"), "from host\n").expect("host file");
    let file = tmp.path().join("payload");
    std::fs::write(&file, "p\n").expect("payload");
    let ro = format!("{}:/ro:ro", bind.display());
    let id = ok(&e.rbox(&[
        "run",
        "-d",
        "--name",
        "vols",
        "-v",
        "cpvol:/data",
        "-v",
        &ro,
        "busybox",
        "sleep",
        "1000",
    ]))
    .trim()
    .to_string();
    // Into the volume, as the container sees it.
    ok(&e.rbox(&["cp", &file.display().to_string(), "vols:/data/in.txt"]));
    assert_eq!(sh(&e, "vols", "cat /data/in.txt"), "p\n");
    ok(&e.rbox(&["cp", &file.display().to_string(), "vols:/data/../data/"]));
    assert_eq!(sh(&e, "vols", "cat /data/payload"), "p\n");
    // Out of a read-only bind; into it is refused.
    let out = tmp.path().join("out.txt");
    ok(&e.rbox(&["cp", "vols:/ro/host.txt", &out.display().to_string()]));
    assert_eq!(
        std::fs::read_to_string(&out).expect("copied"),
        "from host\n"
    );
    let o = e.rbox(&["cp", &file.display().to_string(), "vols:/ro/"]);
    assert!(stderr(&o).contains("read-only"), "{}", stderr(&o));
    assert!(!bind.join("payload").exists());
    ok(&e.rbox(&["rm", "-f", "-v", "vols"]));
    ok(&e.rbox(&["volume", "rm", "cpvol"]));
    e.assert_clean(&id);
}
