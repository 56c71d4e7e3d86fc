//! v1 resources against fake trees: which file gets which value, in
//! which order.

use crate::cgroup::testutil::{TempDir, put, res, v1_setup as setup, w, writes};

#[test]
fn memory_limits_and_swap_order() {
    let tmp = TempDir::new("v1-mem");
    let files = [
        ("memory", "memory.limit_in_bytes", "9223372036854771712\n"),
        (
            "memory",
            "memory.memsw.limit_in_bytes",
            "9223372036854771712\n",
        ),
        ("memory", "memory.soft_limit_in_bytes", ""),
        ("memory", "memory.oom_control", ""),
        ("memory", "memory.swappiness", ""),
    ];
    let m = setup(&tmp, &["memory"], &files);
    let r = res(
        r#"{"memory": {"limit": 104857600, "swap": 209715200, "reservation": 52428800,
        "kernel": 1, "kernelTCP": 1, "swappiness": 10, "disableOOMKiller": true}}"#,
    );
    m.apply(&r).expect("apply");
    let d = "memory/rbox-test/t1";
    // Shrinking from unlimited: memory first, then memory+swap.
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{d}/memory.limit_in_bytes"), "104857600"),
            w(&format!("{d}/memory.memsw.limit_in_bytes"), "209715200"),
            w(&format!("{d}/memory.soft_limit_in_bytes"), "52428800"),
            w(&format!("{d}/memory.oom_control"), "1"),
            w(&format!("{d}/memory.swappiness"), "10"),
        ]
    );
    // Growing past the current memory limit: memory+swap first.
    m.apply(&res(
        r#"{"memory": {"limit": 314572800, "swap": 419430400}}"#,
    ))
    .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{d}/memory.memsw.limit_in_bytes"), "419430400"),
            w(&format!("{d}/memory.limit_in_bytes"), "314572800"),
        ]
    );
    // -1 lifts both limits, swap first.
    m.apply(&res(r#"{"memory": {"limit": -1}}"#))
        .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{d}/memory.memsw.limit_in_bytes"), "-1"),
            w(&format!("{d}/memory.limit_in_bytes"), "-1")
        ]
    );
}

#[test]
fn memory_check_before_update_and_hostile_values() {
    let tmp = TempDir::new("v1-mem-bad");
    let m = setup(
        &tmp,
        &["memory"],
        &[
            ("memory", "memory.usage_in_bytes", "5000\n"),
            ("memory", "memory.limit_in_bytes", ""),
        ],
    );
    let e = m
        .apply(&res(
            r#"{"memory": {"limit": 4096, "checkBeforeUpdate": true}}"#,
        ))
        .expect_err("below usage");
    assert!(e.to_string().contains("current usage of 5000 bytes"), "{e}");
    for (json, field) in [
        (r#"{"memory": {"limit": -2}}"#, "memory.limit \"-2\""),
        (r#"{"memory": {"swap": -100}}"#, "memory.swap \"-100\""),
        (
            r#"{"memory": {"reservation": -9223372036854775808}}"#,
            "memory.reservation",
        ),
        (
            r#"{"memory": {"swappiness": 101}}"#,
            "memory.swappiness \"101\"",
        ),
        (r#"{"pids": {"limit": -3}}"#, "pids.limit \"-3\""),
        (r#"{"cpu": {"quota": -5}}"#, "cpu.quota"),
        (
            r#"{"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]}"#,
            "pageSize",
        ),
        (
            r#"{"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}}"#,
            "throttleReadBpsDevice",
        ),
        (
            r#"{"network": {"priorities": [{"name": "eth0 1\nlo", "priority": 2}]}}"#,
            "priorities.name",
        ),
    ] {
        let e = m.apply(&res(json)).expect_err(json).to_string();
        assert!(e.contains(field), "{json}: {e}");
    }
    assert!(
        writes(tmp.path()).is_empty(),
        "nothing written for refused values"
    );
}

#[test]
fn cpu_cpuset_and_pids() {
    let tmp = TempDir::new("v1-cpu");
    let mut files: Vec<(&str, &str, &str)> = [
        "cpu.rt_period_us",
        "cpu.rt_runtime_us",
        "cpu.shares",
        "cpu.cfs_period_us",
        "cpu.cfs_quota_us",
        "cpu.cfs_burst_us",
        "cpu.idle",
    ]
    .iter()
    .map(|f| ("cpu", *f, ""))
    .collect();
    files.extend([
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("pids", "pids.max", ""),
    ]);
    for dir in ["cpuset", "cpuset/rbox-test"] {
        put(&tmp.path().join(dir), "cpuset.cpus", "0-1\n");
        put(&tmp.path().join(dir), "cpuset.mems", "0\n");
    }
    let m = setup(&tmp, &["cpu", "cpuset", "pids"], &files);
    let r = res(
        r#"{"cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 1000, "idle": 0,
        "realtimePeriod": 1000000, "realtimeRuntime": 950000, "cpus": "1", "mems": "0"},
        "pids": {"limit": 100}}"#,
    );
    m.apply(&r).expect("apply");
    let (c, s, p) = (
        "cpu/rbox-test/t1",
        "cpuset/rbox-test/t1",
        "pids/rbox-test/t1",
    );
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{c}/cpu.rt_period_us"), "1000000"),
            w(&format!("{c}/cpu.rt_runtime_us"), "950000"),
            w(&format!("{c}/cpu.shares"), "512"),
            w(&format!("{c}/cpu.cfs_period_us"), "100000"),
            w(&format!("{c}/cpu.cfs_quota_us"), "50000"),
            w(&format!("{c}/cpu.cfs_burst_us"), "1000"),
            w(&format!("{c}/cpu.idle"), "0"),
            w(&format!("{s}/cpuset.cpus"), "1"),
            w(&format!("{s}/cpuset.mems"), "0"),
            w(&format!("{p}/pids.max"), "100"),
        ]
    );
    m.apply(&res(r#"{"cpu": {"quota": -1}, "pids": {"limit": -1}}"#))
        .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{c}/cpu.cfs_quota_us"), "-1"),
            w(&format!("{p}/pids.max"), "max")
        ]
    );
    // Zero means "not set".
    m.apply(&res(
        r#"{"cpu": {"shares": 0, "quota": 0, "period": 0}, "pids": {"limit": 0}}"#,
    ))
    .expect("apply");
    assert!(writes(tmp.path()).is_empty());
}

#[test]
fn blkio_weights_and_throttles() {
    let tmp = TempDir::new("v1-blkio");
    let names = [
        "blkio.bfq.weight",
        "blkio.bfq.weight_device",
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ];
    let files: Vec<_> = names.iter().map(|f| ("blkio", *f, "")).collect();
    let m = setup(&tmp, &["blkio"], &files);
    let r = res(
        r#"{"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
        "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 0}],
        "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
        "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 200}]}}"#,
    );
    m.apply(&r).expect("apply");
    let d = "blkio/rbox-test/t1";
    let bfq = [
        w(&format!("{d}/blkio.bfq.weight"), "300"),
        w(&format!("{d}/blkio.bfq.weight_device"), "8:0 500"),
        w(
            &format!("{d}/blkio.throttle.read_bps_device"),
            "8:0 1048576",
        ),
        w(&format!("{d}/blkio.throttle.write_bps_device"), "8:16 0"),
        w(&format!("{d}/blkio.throttle.read_iops_device"), "8:0 100"),
        w(&format!("{d}/blkio.throttle.write_iops_device"), "8:0 200"),
    ];
    assert_eq!(writes(tmp.path()), bfq);
    // With CFQ's files present, those are used instead.
    put(&tmp.path().join(d), "blkio.weight", "");
    put(&tmp.path().join(d), "blkio.weight_device", "");
    m.apply(&res(r#"{"blockIO": {"weight": 300, "weightDevice": [{"major": 8, "minor": 0, "weight": 500}]}}"#))
        .expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{d}/blkio.weight"), "300"),
            w(&format!("{d}/blkio.weight_device"), "8:0 500")
        ]
    );
}

#[test]
fn hugetlb_network_and_rdma() {
    let tmp = TempDir::new("v1-misc");
    let m = setup(
        &tmp,
        &["hugetlb", "net_cls", "net_prio", "rdma"],
        &[
            ("hugetlb", "hugetlb.2MB.limit_in_bytes", ""),
            ("hugetlb", "hugetlb.1GB.limit_in_bytes", ""),
            ("hugetlb", "hugetlb.1GB.rsvd.limit_in_bytes", ""),
            ("net_cls", "net_cls.classid", ""),
            ("net_prio", "net_prio.ifpriomap", ""),
            ("rdma", "rdma.max", ""),
        ],
    );
    let r = res(
        r#"{"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}, {"pageSize": "1GB", "limit": -1}],
        "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}, {"name": "lo", "priority": 1}]},
        "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}}}"#,
    );
    m.apply(&r).expect("apply");
    let p = "rbox-test/t1";
    assert_eq!(
        writes(tmp.path()),
        [
            w(
                &format!("hugetlb/{p}/hugetlb.2MB.limit_in_bytes"),
                "4194304"
            ),
            // Attempted, absent on this "kernel", skipped.
            w(
                &format!("hugetlb/{p}/hugetlb.2MB.rsvd.limit_in_bytes"),
                "4194304"
            ),
            w(&format!("hugetlb/{p}/hugetlb.1GB.limit_in_bytes"), "-1"),
            w(
                &format!("hugetlb/{p}/hugetlb.1GB.rsvd.limit_in_bytes"),
                "-1"
            ),
            w(&format!("net_cls/{p}/net_cls.classid"), "1048577"),
            w(&format!("net_prio/{p}/net_prio.ifpriomap"), "eth0 5"),
            w(&format!("net_prio/{p}/net_prio.ifpriomap"), "lo 1"),
            w(
                &format!("rdma/{p}/rdma.max"),
                "mlx5_1 hca_handle=3 hca_object=10000"
            ),
        ]
    );
}

#[test]
fn missing_controllers_and_unified_are_errors() {
    let tmp = TempDir::new("v1-missing");
    let m = setup(&tmp, &["memory"], &[]);
    let e = m
        .apply(&res(r#"{"network": {"classID": 1}}"#))
        .expect_err("no net_cls");
    assert_eq!(
        e.to_string(),
        "cgroup controller net_cls is not available, but linux.resources.network.classID needs it"
    );
    let e = m
        .apply(&res(r#"{"unified": {"memory.high": "1"}}"#))
        .expect_err("unified on v1");
    assert_eq!(
        e.to_string(),
        "linux.resources.unified is not supported on cgroup v1"
    );
    // An empty map is fine, as is an empty blockIO.
    m.apply(&res(r#"{"unified": {}, "blockIO": {}}"#))
        .expect("nothing to do");
    // A missing file is a write error naming file and value.
    let e = m
        .apply(&res(r#"{"memory": {"reservation": 1000}}"#))
        .expect_err("no such file");
    let want = format!(
        "writing 1000 to {}",
        tmp.path()
            .join("memory/rbox-test/t1/memory.soft_limit_in_bytes")
            .display()
    );
    assert_eq!(e.to_string(), want);
}

#[test]
fn devices_are_written_as_transitions() {
    let tmp = TempDir::new("v1-devices");
    let m = setup(
        &tmp,
        &["devices"],
        &[
            ("devices", "devices.list", "a *:* rwm\n"),
            ("devices", "devices.allow", ""),
            ("devices", "devices.deny", ""),
        ],
    );
    let r = res(r#"{"devices": [{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rw"}]}"#);
    m.apply(&r).expect("apply");
    let d = "devices/rbox-test/t1";
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{d}/devices.deny"), "a"),
            w(&format!("{d}/devices.allow"), "c 1:3 rwm"),
            w(&format!("{d}/devices.allow"), "c 136:* rw"),
        ]
    );
    // An update against the live list only writes the difference.
    put(
        &tmp.path().join(d),
        "devices.list",
        "c 1:3 rwm\nc 136:* rw\n",
    );
    let r = res(
        r#"{"devices": [{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"}]}"#,
    );
    m.apply(&r).expect("apply");
    assert_eq!(
        writes(tmp.path()),
        [
            w(&format!("{d}/devices.deny"), "c 1:3 wm"),
            w(&format!("{d}/devices.deny"), "c 136:* rw"),
            w(&format!("{d}/devices.allow"), "c 1:5 rwm"),
        ]
    );
    let e = m
        .apply(&res(
            r#"{"devices": [{"allow": true, "type": "u", "access": "rwm"}]}"#,
        ))
        .expect_err("type u");
    assert!(
        e.to_string().contains("cannot be used in a cgroup rule"),
        "{e}"
    );
}
