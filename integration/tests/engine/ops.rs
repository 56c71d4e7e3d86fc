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
