//! Writing `linux.resources` to v2 interface files, converting the v1
//! vocabulary of the OCI spec as runc does (shares to cpu.weight,
//! memory+swap to memory.swap.max, blkio to io.*), in runc's order: pids,
//! memory, io, cpu, devices, cpuset, hugetlb, rdma, then `unified`, whose
//! keys are written as given and so override the rest.

use std::io;
use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use tracing::{debug, warn};

use super::V2;
use crate::cgroup::devices::{self, Emulator};
use crate::cgroup::resources::{self, Limit, invalid, rdma_line};
use crate::cgroup::{CgroupError, Version, devicefilter, fs};

/// cpu.max's period when the config gives a quota only.
const DEFAULT_CPU_PERIOD: u64 = 100_000;

impl V2 {
    pub(in crate::cgroup) fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let dir = self.dir();
        if let Some(p) = r.pids()
            && let Some(v) = Limit::parse("pids.limit", Some(p.limit()))?.v2()
        {
            fs::write(dir, "pids.max", &v)?;
        }
        if let Some(m) = r.memory() {
            apply_memory(dir, m)?;
        }
        if let Some(b) = r.block_io() {
            apply_io(dir, b)?;
        }
        if let Some(c) = r.cpu() {
            apply_cpu(dir, c)?;
        }
        if let Some(rules) = r.devices() {
            let emu = Emulator::from_rules(&devices::parse_rules(rules)?)?;
            devicefilter::attach(dir, &emu)?;
        }
        if let Some(c) = r.cpu() {
            if let Some(v) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                fs::write(dir, "cpuset.cpus", v)?;
            }
            if let Some(v) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                fs::write(dir, "cpuset.mems", v)?;
            }
        }
        for h in r.hugepage_limits().iter().flatten() {
            let size = resources::hugepage_size(h.page_size())?;
            let Some(v) = Limit::parse("hugepageLimits.limit", Some(h.limit()))?.v2() else {
                continue;
            };
            fs::write(dir, &format!("hugetlb.{size}.max"), &v)?;
            // Reservation limits (5.7+) also cover reserved pages.
            match fs::write(dir, &format!("hugetlb.{size}.rsvd.max"), &v) {
                Err(CgroupError::Write { source, .. })
                    if source.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        for (device, limit) in r.rdma().iter().flatten() {
            if let Some(line) = rdma_line(device, limit.hca_handles(), limit.hca_objects())? {
                fs::write(dir, "rdma.max", &line)?;
            }
        }
        if let Some(n) = r.network()
            && (n.class_id().is_some_and(|id| id != 0)
                || n.priorities().as_ref().is_some_and(|p| !p.is_empty()))
        {
            // runc ignores these too: v2 has no net_cls/net_prio; BPF or
            // nftables matching on the cgroup path replaces them.
            warn!(
                "ignoring linux.resources.network: cgroup v2 has no net_cls or net_prio controller"
            );
        }
        for (key, value) in r.unified().iter().flatten() {
            self.write_unified(key, value)?;
        }
        Ok(())
    }

    fn write_unified(&self, key: &str, value: &str) -> Result<(), CgroupError> {
        let dir = self.dir();
        let bad = |reason: &str| invalid("unified", key, reason);
        if key.is_empty() || key.contains('/') || key.contains('\0') || key.starts_with('.') {
            return Err(bad("a key must be the name of a file of the cgroup"));
        }
        let Some((controller, _)) = key.split_once('.') else {
            return Err(bad("a key must have the form CONTROLLER.PARAMETER"));
        };
        match fs::write(dir, key, value) {
            Err(CgroupError::Write { source, .. })
                if matches!(
                    source.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied
                ) && controller != "cgroup"
                    && !fs::read_opt(dir, "cgroup.controllers")?
                        .unwrap_or_default()
                        .split_whitespace()
                        .any(|c| c == controller) =>
            {
                Err(CgroupError::ControllerMissing {
                    controller: controller.to_owned(),
                    field: "unified",
                })
            }
            other => other,
        }
    }
}

fn apply_memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    #[allow(deprecated)] // read only to say it is ignored
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        debug!(
            "ignoring linux.resources.memory.kernel and kernelTCP: kernel memory limits are obsolete"
        );
    }
    if m.swappiness().is_some() {
        debug!("ignoring linux.resources.memory.swappiness: cgroup v2 has no such knob");
    }
    if m.disable_oom_killer() == Some(true) {
        debug!("ignoring linux.resources.memory.disableOOMKiller: cgroup v2 has no such knob");
    }
    let limit = Limit::parse("memory.limit", m.limit())?;
    let swap = resources::swap_v2(Limit::parse("memory.swap", m.swap())?, limit)?;
    let reservation = Limit::parse("memory.reservation", m.reservation())?;
    resources::check_above_usage(m, limit, dir, "memory.current")?;
    // memory.swap.max is independent of memory.max, so order is free.
    if let Some(v) = swap.v2() {
        fs::write(dir, "memory.swap.max", &v)?;
    }
    if let Some(v) = limit.v2() {
        fs::write(dir, "memory.max", &v)?;
    }
    if let Some(v) = reservation.v2() {
        fs::write(dir, "memory.low", &v)?;
    }
    Ok(())
}

fn apply_cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_period().is_some_and(|p| p != 0) || c.realtime_runtime().is_some_and(|r| r != 0) {
        return Err(CgroupError::Unsupported {
            field: "cpu.realtimePeriod/realtimeRuntime",
            version: Version::V2,
        });
    }
    let quota = Limit::parse("cpu.quota", c.quota())?;
    let period = c.period().filter(|&p| p != 0);
    if let Some(idle) = c.idle() {
        fs::write(dir, "cpu.idle", &idle.to_string())?;
    }
    // An idle cgroup has no weight to set.
    let weight = c.shares().map_or(0, resources::shares_to_weight);
    if weight != 0 && c.idle().is_none_or(|i| i == 0) {
        fs::write(dir, "cpu.weight", &weight.to_string())?;
    }
    let mut burst_pending = None;
    if let Some(b) = c.burst() {
        match fs::write(dir, "cpu.max.burst", &b.to_string()) {
            // A burst above the current quota is refused; retry after
            // cpu.max is written, if it is.
            Err(CgroupError::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota.is_set() =>
            {
                burst_pending = Some(b);
            }
            other => other?,
        }
    }
    if quota.is_set() || period.is_some() {
        let max = match quota {
            Limit::Value(q) => q.to_string(),
            Limit::Unset | Limit::Max => "max".to_owned(),
        };
        fs::write(
            dir,
            "cpu.max",
            &format!("{max} {}", period.unwrap_or(DEFAULT_CPU_PERIOD)),
        )?;
    }
    if let Some(b) = burst_pending {
        fs::write(dir, "cpu.max.burst", &b.to_string())?;
    }
    Ok(())
}

fn apply_io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    if b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device()
            .iter()
            .flatten()
            .any(|wd| wd.leaf_weight().is_some_and(|w| w != 0))
    {
        debug!("ignoring linux.resources.blockIO leaf weights: cgroup v2 has none");
    }
    let weights: Vec<(String, u16)> = b
        .weight_device()
        .iter()
        .flatten()
        .filter_map(|wd| {
            wd.weight()
                .filter(|&w| w != 0)
                .map(|w| (wd.major(), wd.minor(), w))
        })
        .map(|(major, minor, w)| Ok((resources::device("blockIO.weightDevice", major, minor)?, w)))
        .collect::<Result<_, CgroupError>>()?;
    let weight = b.weight().filter(|&w| w != 0);
    if weight.is_some() || !weights.is_empty() {
        // BFQ takes blkio's 1..1000 scale as is; io.weight (the cost
        // model) needs the conversion to 1..10000.
        let bfq = fs::read_opt(dir, "io.bfq.weight")?;
        // Kernels before 5.4 show a bare number and take no device weights.
        let bfq_devices = bfq
            .as_deref()
            .is_some_and(|t| t.trim().parse::<u64>().is_err());
        if let Some(w) = weight {
            match bfq {
                Some(_) => fs::write(dir, "io.bfq.weight", &w.to_string())?,
                None => fs::write(
                    dir,
                    "io.weight",
                    &resources::blkio_to_io_weight(w).to_string(),
                )?,
            }
        }
        for (dev, w) in &weights {
            if bfq_devices {
                fs::write(dir, "io.bfq.weight", &format!("{dev} {w}"))?;
            } else {
                fs::write(
                    dir,
                    "io.weight",
                    &format!("{dev} {}", resources::blkio_to_io_weight(*w)),
                )?;
            }
        }
    }
    let throttles = [
        (
            "blockIO.throttleReadBpsDevice",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "blockIO.throttleWriteBpsDevice",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "blockIO.throttleReadIOPSDevice",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "blockIO.throttleWriteIOPSDevice",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    for (field, key, list) in throttles {
        // A rate of 0 means unset, as in runc.
        for td in list.iter().flatten().filter(|td| td.rate() != 0) {
            let dev = resources::device(field, td.major(), td.minor())?;
            fs::write(dir, "io.max", &format!("{dev} {key}={}", td.rate()))?;
        }
    }
    Ok(())
}
