//! v1 against fake trees: which file gets which value, in which order.

use crate::cgroup::hierarchy::V1_CONTROLLERS;
use crate::cgroup::testutil::{
    TempDir, get, put, v1_hierarchy, v1_manager, v1_setup as setup, w, writes,
};
use crate::cgroup::{CgroupError, Manager, Version};

#[test]
fn create_makes_every_hierarchy_and_copies_cpusets_down() {
    let tmp = TempDir::new("v1-create");
    let root = tmp.path();
    let h = v1_hierarchy(root, V1_CONTROLLERS, true);
    let m = Manager::with_root(h, Some("rbox-test/t1"), "t1", false).expect("manager");
    assert_eq!(m.version(), Version::V1);
    assert_eq!(m.path().to_str(), Some("/rbox/rbox-test/t1"));
    let m = v1_manager(root, V1_CONTROLLERS);
    // What a fresh v1 cpuset looks like: empty cpus and mems below root.
    put(&root.join("cpuset"), "cpuset.cpus", "0-3\n");
    put(&root.join("cpuset"), "cpuset.mems", "0\n");
    for level in ["rbox-test", "rbox-test/t1"] {
        put(&root.join("cpuset").join(level), "cpuset.cpus", "\n");
        put(&root.join("cpuset").join(level), "cpuset.mems", "\n");
    }
    m.create().expect("create");
    for c in ["cpu", "memory", "devices", "net_cls", "systemd"] {
        assert!(root.join(c).join("rbox-test/t1").is_dir(), "{c}");
    }
    assert_eq!(
        writes(root),
        [
            w("cpuset/rbox-test/cpuset.cpus", "0-3"),
            w("cpuset/rbox-test/cpuset.mems", "0"),
            w("cpuset/rbox-test/t1/cpuset.cpus", "0-3"),
            w("cpuset/rbox-test/t1/cpuset.mems", "0"),
        ]
    );
    // A second create finds everything in place.
    m.create().expect("create again");
    assert!(writes(root).is_empty());
    // Destroy removes the leaf in every hierarchy, never the parent.
    for level in ["rbox-test", "rbox-test/t1"] {
        for f in ["cpuset.cpus", "cpuset.mems"] {
            std::fs::remove_file(root.join("cpuset").join(level).join(f)).expect("rm fake file");
        }
    }
    assert!(m.exists());
    m.destroy().expect("destroy");
    assert!(!m.exists());
    assert!(root.join("memory/rbox-test").is_dir());
    m.destroy().expect("destroying twice is fine");
}

#[test]
fn hybrid_hosts_track_the_container_in_cgroup2_too() {
    let tmp = TempDir::new("v1-hybrid");
    let root = tmp.path();
    let m = Manager::with_root(
        v1_hierarchy(root, &["memory", "pids"], true),
        Some("/c"),
        "c",
        false,
    )
    .expect("manager");
    m.create().expect("create");
    assert!(root.join("unified/c").is_dir());
    for d in ["memory/c", "pids/c", "unified/c"] {
        put(&root.join(d), "cgroup.procs", "");
    }
    m.add_task(4242).expect("add");
    assert_eq!(
        writes(root),
        [
            w("memory/c/cgroup.procs", "4242"),
            w("pids/c/cgroup.procs", "4242"),
            w("unified/c/cgroup.procs", "4242")
        ]
    );
    assert!(matches!(
        m.add_task(0),
        Err(CgroupError::InvalidPid { pid: 0 })
    ));
    assert!(matches!(
        m.add_task(-7),
        Err(CgroupError::InvalidPid { pid: -7 })
    ));
}

#[test]
fn freezer_pids_and_oom() {
    let tmp = TempDir::new("v1-freeze");
    let m = setup(
        &tmp,
        &["freezer", "memory"],
        &[
            ("freezer", "freezer.state", "THAWED\n"),
            ("freezer", "cgroup.procs", "12\n7\n"),
            ("freezer", "sub/cgroup.procs", "99\n7\n"),
            (
                "memory",
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
            ),
        ],
    );
    assert!(!m.is_frozen().expect("state"));
    m.freeze().expect("freeze");
    assert!(m.is_frozen().expect("state"));
    let d = tmp.path().join("freezer/rbox-test/t1");
    put(&d, "freezer.self_freezing", "0\n");
    assert!(
        !m.is_frozen().expect("state"),
        "frozen only through an ancestor"
    );
    m.thaw().expect("thaw");
    assert_eq!(get(&d, "freezer.state"), "THAWED");
    assert_eq!(m.pids().expect("pids"), [7, 12, 99]);
    assert_eq!(m.oom_events().expect("oom"), 3);
    // A freezer that reports nonsense fails and is thawed again.
    let tmp2 = TempDir::new("v1-nofreezer");
    let m2 = setup(&tmp2, &["memory"], &[]);
    assert!(matches!(
        m2.freeze(),
        Err(CgroupError::ControllerMissing { .. })
    ));
    assert!(!m2.is_frozen().expect("no freezer: not frozen"));
}

#[test]
fn stats_from_v1_files() {
    let tmp = TempDir::new("v1-stats");
    let m = setup(
        &tmp,
        &["memory", "cpu", "cpuacct", "pids", "blkio", "hugetlb"],
        &[
            ("memory", "memory.usage_in_bytes", "1000\n"),
            ("memory", "memory.max_usage_in_bytes", "2000\n"),
            ("memory", "memory.limit_in_bytes", "9223372036854771712\n"),
            ("memory", "memory.failcnt", "4\n"),
            ("memory", "memory.stat", "cache 300\nrss 700\n"),
            (
                "memory",
                "memory.oom_control",
                "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
            ),
            ("cpuacct", "cpuacct.usage", "5000000\n"),
            ("cpuacct", "cpuacct.stat", "user 3\nsystem 2\n"),
            ("cpuacct", "cpuacct.usage_percpu", "3000000 2000000 \n"),
            (
                "cpu",
                "cpu.stat",
                "nr_periods 10\nnr_throttled 2\nthrottled_time 777\n",
            ),
            ("pids", "pids.current", "3\n"),
            ("pids", "pids.max", "max\n"),
            ("blkio", "blkio.bfq.io_service_bytes_recursive", "Total 0\n"),
            (
                "blkio",
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 4096\n8:0 Write 512\nTotal 4608\n",
            ),
            (
                "blkio",
                "blkio.throttle.io_serviced_recursive",
                "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
            ),
            (
                "hugetlb",
                "hugetlb.2MB.limit_in_bytes",
                "9223372036854771712\n",
            ),
            (
                "hugetlb",
                "hugetlb.2MB.rsvd.limit_in_bytes",
                "9223372036854771712\n",
            ),
            ("hugetlb", "hugetlb.2MB.usage_in_bytes", "2097152\n"),
            ("hugetlb", "hugetlb.2MB.max_usage_in_bytes", "4194304\n"),
            ("hugetlb", "hugetlb.2MB.failcnt", "1\n"),
        ],
    );
    let s = m.stats().expect("stats");
    assert_eq!(
        (
            s.memory.usage.usage,
            s.memory.usage.max_usage,
            s.memory.usage.failcnt
        ),
        (1000, 2000, 4)
    );
    assert_eq!(s.memory.usage.limit, 9_223_372_036_854_771_712);
    assert_eq!(s.memory.swap.usage, 0, "no memsw files: no swap accounting");
    assert_eq!(
        (s.memory.cache, s.memory.raw["rss"], s.memory.oom_kill_count),
        (300, 700, 1)
    );
    assert_eq!(s.cpu.usage.total, 5_000_000);
    assert_eq!(
        (s.cpu.usage.user, s.cpu.usage.kernel),
        (30_000_000, 20_000_000)
    );
    assert_eq!(s.cpu.usage.per_cpu, [3_000_000, 2_000_000]);
    assert_eq!(
        (s.cpu.throttling.periods, s.cpu.throttling.throttled_time),
        (10, 777)
    );
    assert_eq!((s.pids.current, s.pids.limit), (3, None));
    assert_eq!(s.blkio.io_service_bytes.len(), 2);
    assert_eq!(s.blkio.io_serviced[1].value, 2);
    assert_eq!(s.hugetlb.keys().collect::<Vec<_>>(), ["2MB"]);
    assert_eq!(
        (
            s.hugetlb["2MB"].usage,
            s.hugetlb["2MB"].max_usage,
            s.hugetlb["2MB"].failcnt
        ),
        (2_097_152, 4_194_304, 1)
    );
}
