//! v2 against fake trees: which file gets which value, in which order.

use nix::sys::signal::Signal;

use crate::cgroup::testutil::{TempDir, get, put, res, v2_manager, writes};
use crate::cgroup::{CgroupError, Hierarchy, Manager, Version};

const LEAF: &str = "rbox-test/t1";

fn w(file: &str, value: &str) -> (String, String) {
    (format!("{LEAF}/{file}"), value.to_owned())
}

/// A created v2 cgroup whose leaf holds the named files.
fn setup(tmp: &TempDir, files: &[(&str, &str)]) -> Manager {
    put(
        tmp.path(),
        "cgroup.controllers",
        "cpuset cpu io memory hugetlb pids rdma misc\n",
    );
    let m = v2_manager(tmp.path());
    m.create().expect("create");
    for (file, content) in files {
        put(&tmp.path().join(LEAF), file, content);
    }
    writes(tmp.path());
    m
}

#[test]
fn create_enables_controllers_above_the_leaf_only() {
    let tmp = TempDir::new("v2-create");
    let root = tmp.path();
    put(root, "cgroup.controllers", "cpu io memory pids\n");
    put(root, "cgroup.subtree_control", "");
    put(&root.join("rbox-test"), "cgroup.subtree_control", "");
    let m = v2_manager(root);
    assert_eq!(m.version(), Version::V2);
    m.create().expect("create");
    assert!(root.join(LEAF).is_dir());
    let all = "+cpu +io +memory +pids";
    assert_eq!(
        writes(root),
        [
            ("cgroup.subtree_control".to_owned(), all.to_owned()),
            (
                "rbox-test/cgroup.subtree_control".to_owned(),
                all.to_owned()
            )
        ]
    );
    m.destroy().expect("destroy");
    assert!(!root.join(LEAF).exists());
    assert!(root.join("rbox-test").is_dir(), "parents stay");
}

#[test]
fn create_refuses_threaded_parents_and_tolerates_refused_controllers() {
    let tmp = TempDir::new("v2-threaded");
    let root = tmp.path();
    put(root, "cgroup.controllers", "cpu memory\n");
    // No subtree_control file: every enable fails, one by one, harmlessly.
    put(&root.join("rbox-test"), "cgroup.type", "threaded\n");
    let e = v2_manager(root).create().expect_err("threaded");
    assert!(e.to_string().contains("type \"threaded\""), "{e}");
    assert_eq!(
        writes(root),
        [
            (
                "cgroup.subtree_control".to_owned(),
                "+cpu +memory".to_owned()
            ),
            ("cgroup.subtree_control".to_owned(), "+cpu".to_owned()),
            ("cgroup.subtree_control".to_owned(), "+memory".to_owned()),
        ]
    );
}

#[test]
fn systemd_paths_land_where_systemd_would_put_them() {
    let tmp = TempDir::new("v2-systemd");
    put(tmp.path(), "cgroup.controllers", "");
    let m = Manager::with_root(
        Hierarchy::unified(tmp.path()),
        Some("machine.slice:libpod:abc"),
        "abc",
        true,
    )
    .expect("manager");
    assert_eq!(m.path().to_str(), Some("/machine.slice/libpod-abc.scope"));
    m.create().expect("create");
    assert!(tmp.path().join("machine.slice/libpod-abc.scope").is_dir());
}

#[test]
fn memory_maps_to_v2_files() {
    let tmp = TempDir::new("v2-mem");
    let m = setup(
        &tmp,
        &[
            ("memory.max", ""),
            ("memory.swap.max", ""),
            ("memory.low", ""),
            ("memory.current", "100\n"),
        ],
    );
    m.apply(&res(
        r#"{"memory": {"limit": 104857600, "swap": 314572800, "reservation": 1048576,
        "swappiness": 50, "disableOOMKiller": true, "kernel": 1}}"#,
    ))
    .expect("apply");
    // swap is memory+swap in the spec, swap alone in v2.
    assert_eq!(
        writes(tmp.path()),
        [
            w("memory.swap.max", "209715200"),
            w("memory.max", "104857600"),
            w("memory.low", "1048576")
        ]
    );
    m.apply(&res(r#"{"memory": {"limit": -1}}"#))
        .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [w("memory.swap.max", "max"), w("memory.max", "max")]
    );
    m.apply(&res(r#"{"memory": {"limit": 1000, "swap": 1000}}"#))
        .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [w("memory.swap.max", "0"), w("memory.max", "1000")]
    );
    let e = m
        .apply(&res(
            r#"{"memory": {"limit": 50, "checkBeforeUpdate": true}}"#,
        ))
        .expect_err("below usage");
    assert!(e.to_string().contains("current usage of 100 bytes"), "{e}");
    let e = m
        .apply(&res(r#"{"memory": {"swap": 1000}}"#))
        .expect_err("swap alone");
    assert!(e.to_string().contains("needs a memory limit"), "{e}");
    assert!(writes(tmp.path()).is_empty());
}

#[test]
fn cpu_shares_become_weight_and_quota_becomes_cpu_max() {
    let tmp = TempDir::new("v2-cpu");
    let files = [
        ("cpu.weight", ""),
        ("cpu.max", ""),
        ("cpu.max.burst", ""),
        ("cpu.idle", ""),
        ("cpuset.cpus", ""),
        ("cpuset.mems", ""),
    ];
    let m = setup(&tmp, &files);
    m.apply(&res(
        r#"{"cpu": {"shares": 1024, "quota": 50000, "burst": 10000, "cpus": "0-1", "mems": "0"}}"#,
    ))
    .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [
            w("cpu.weight", "100"),
            w("cpu.max.burst", "10000"),
            w("cpu.max", "50000 100000"),
            w("cpuset.cpus", "0-1"),
            w("cpuset.mems", "0")
        ]
    );
    m.apply(&res(
        r#"{"cpu": {"shares": 2, "quota": -1, "period": 20000}}"#,
    ))
    .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [w("cpu.weight", "1"), w("cpu.max", "max 20000")]
    );
    m.apply(&res(r#"{"cpu": {"shares": 262144, "period": 50000}}"#))
        .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [w("cpu.weight", "10000"), w("cpu.max", "max 50000")]
    );
    // An idle cgroup takes no weight.
    m.apply(&res(r#"{"cpu": {"shares": 512, "idle": 1}}"#))
        .expect("apply");
    assert_eq!(writes(tmp.path()), [w("cpu.idle", "1")]);
    let e = m
        .apply(&res(r#"{"cpu": {"realtimeRuntime": 1000}}"#))
        .expect_err("rt on v2");
    assert_eq!(
        e.to_string(),
        "linux.resources.cpu.realtimePeriod/realtimeRuntime is not supported on cgroup v2"
    );
}

#[test]
fn blkio_maps_to_io_files() {
    let tmp = TempDir::new("v2-io");
    let m = setup(&tmp, &[("io.weight", ""), ("io.max", "")]);
    let r = res(r#"{"blockIO": {"weight": 500, "leafWeight": 300,
        "weightDevice": [{"major": 8, "minor": 0, "weight": 1000}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}, {"major": 8, "minor": 16, "rate": 0}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 2097152}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]}}"#);
    m.apply(&r).expect("apply");
    // Without BFQ, io.weight on its 1..10000 scale; rate 0 means unset.
    assert_eq!(
        writes(tmp.path()),
        [
            w("io.weight", "4950"),
            w("io.weight", "8:0 10000"),
            w("io.max", "8:0 rbps=1048576"),
            w("io.max", "8:0 wbps=2097152"),
            w("io.max", "8:0 riops=100"),
            w("io.max", "8:0 wiops=200"),
        ]
    );
    // With BFQ (5.4+: lists "default N"), blkio's scale as is.
    put(&tmp.path().join(LEAF), "io.bfq.weight", "default 100\n");
    m.apply(&res(r#"{"blockIO": {"weight": 500, "weightDevice": [{"major": 8, "minor": 0, "weight": 1000}]}}"#))
        .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [w("io.bfq.weight", "500"), w("io.bfq.weight", "8:0 1000")]
    );
}

#[test]
fn pids_hugetlb_rdma_network_and_unified() {
    let tmp = TempDir::new("v2-misc");
    let m = setup(
        &tmp,
        &[
            ("pids.max", ""),
            ("hugetlb.2MB.max", ""),
            ("hugetlb.2MB.rsvd.max", ""),
            ("rdma.max", ""),
            ("memory.high", ""),
            ("cgroup.controllers", "memory pids\n"),
        ],
    );
    let r = res(
        r#"{"pids": {"limit": -1}, "hugepageLimits": [{"pageSize": "2MB", "limit": 8388608}],
        "rdma": {"mlx4_0": {"hcaHandles": 2}}, "network": {"classID": 7},
        "unified": {"memory.high": "max"}}"#,
    );
    m.apply(&r).expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [
            w("pids.max", "max"),
            w("hugetlb.2MB.max", "8388608"),
            w("hugetlb.2MB.rsvd.max", "8388608"),
            w("rdma.max", "mlx4_0 hca_handle=2"),
            w("memory.high", "max"),
        ]
    );
    for (key, want) in [
        ("../x.max", "must be the name of a file"),
        ("memory", "CONTROLLER.PARAMETER"),
        (".x", "must be the name"),
        ("a/b.c", "must be the name"),
    ] {
        let json = format!(r#"{{"unified": {{"{key}": "1"}}}}"#);
        let e = m.apply(&res(&json)).expect_err(key).to_string();
        assert!(e.contains(want) && e.contains("unified"), "{key}: {e}");
    }
    let e = m
        .apply(&res(r#"{"unified": {"io.weight": "50"}}"#))
        .expect_err("io not enabled");
    assert_eq!(
        e.to_string(),
        "cgroup controller io is not available, but linux.resources.unified needs it"
    );
    // A present controller's missing file is a plain write error.
    let e = m
        .apply(&res(r#"{"unified": {"memory.nosuch": "1"}}"#))
        .expect_err("no such file");
    assert!(matches!(e, CgroupError::Write { .. }), "{e}");
}

#[test]
fn freeze_waits_for_cgroup_events() {
    let tmp = TempDir::new("v2-freeze");
    let m = setup(
        &tmp,
        &[
            ("cgroup.freeze", "0\n"),
            ("cgroup.events", "populated 1\nfrozen 1\n"),
        ],
    );
    assert!(!m.is_frozen().expect("state"));
    m.freeze().expect("freeze");
    assert!(m.is_frozen().expect("state"));
    m.thaw().expect("thaw");
    assert_eq!(
        writes(tmp.path()),
        [w("cgroup.freeze", "1"), w("cgroup.freeze", "0")]
    );
    // Never reported frozen: time out, thaw again.
    put(
        &tmp.path().join(LEAF),
        "cgroup.events",
        "populated 1\nfrozen 0\n",
    );
    assert!(matches!(m.freeze(), Err(CgroupError::FreezeTimeout { .. })));
    assert_eq!(get(&tmp.path().join(LEAF), "cgroup.freeze"), "0");
}

#[test]
fn kill_all_uses_cgroup_kill_for_sigkill() {
    let tmp = TempDir::new("v2-kill");
    let m = setup(&tmp, &[("cgroup.kill", ""), ("cgroup.procs", "")]);
    m.kill_all(Signal::SIGKILL).expect("kill");
    assert_eq!(writes(tmp.path()), [w("cgroup.kill", "1")]);
}

#[test]
fn stats_from_v2_files() {
    let tmp = TempDir::new("v2-stats");
    let m = setup(
        &tmp,
        &[
            ("memory.current", "1000\n"),
            ("memory.max", "max\n"),
            ("memory.peak", "3000\n"),
            ("memory.events", "low 0\nhigh 0\nmax 5\noom 2\noom_kill 1\n"),
            ("memory.swap.current", "10\n"),
            ("memory.swap.max", "max\n"),
            ("memory.stat", "anon 600\nfile 400\n"),
            (
                "cpu.stat",
                "usage_usec 7\nuser_usec 4\nsystem_usec 3\nnr_periods 9\nnr_throttled 1\nthrottled_usec 2\n",
            ),
            ("pids.current", "2\n"),
            ("pids.max", "64\n"),
            (
                "io.stat",
                "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n",
            ),
            ("hugetlb.2MB.max", "max\n"),
            ("hugetlb.2MB.rsvd.max", "max\n"),
            ("hugetlb.2MB.current", "2097152\n"),
            ("hugetlb.2MB.events", "max 3\n"),
        ],
    );
    let s = m.stats().expect("stats");
    let u = &s.memory.usage;
    assert_eq!(
        (u.usage, u.max_usage, u.limit, u.failcnt),
        (1000, 3000, u64::MAX, 5)
    );
    assert_eq!((s.memory.swap.usage, s.memory.swap.limit), (1010, u64::MAX));
    assert_eq!((s.memory.cache, s.memory.oom_kill_count), (400, 1));
    assert_eq!(
        (s.cpu.usage.total, s.cpu.usage.user, s.cpu.usage.kernel),
        (7000, 4000, 3000)
    );
    assert_eq!(
        (
            s.cpu.throttling.periods,
            s.cpu.throttling.throttled_periods,
            s.cpu.throttling.throttled_time
        ),
        (9, 1, 2000)
    );
    assert_eq!((s.pids.current, s.pids.limit), (2, Some(64)));
    assert_eq!(s.blkio.io_service_bytes.len(), 2);
    assert_eq!(s.blkio.io_serviced[0].value, 1);
    assert_eq!(
        (s.hugetlb["2MB"].usage, s.hugetlb["2MB"].failcnt),
        (2_097_152, 3)
    );
    assert_eq!(m.oom_events().expect("oom"), 1);
    // Without the pids controller, processes are counted.
    std::fs::remove_file(tmp.path().join(LEAF).join("pids.current")).expect("rm");
    put(&tmp.path().join(LEAF), "cgroup.procs", "5\n6\n7\n");
    assert_eq!(
        m.stats().expect("stats").pids,
        crate::cgroup::PidsStats {
            current: 3,
            limit: None
        }
    );
}
