//! Writing `linux.resources` to the v1 controllers, in runc's order:
//! devices, memory, cpu, cpuset, pids, blkio, hugetlb, network, rdma.
//! Only what the config sets is written; a setting whose controller is not
//! mounted is an error, never silently dropped.

use std::io;
use std::path::Path;

use nix::sys::statfs::{CGROUP_SUPER_MAGIC, statfs};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};
use tracing::debug;

use super::V1;
use crate::cgroup::devices::{self, Emulator};
use crate::cgroup::resources::{self, Limit, invalid, rdma_line};
use crate::cgroup::{CgroupError, Version, fs};

impl V1 {
    pub(in crate::cgroup) fn apply(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(CgroupError::Unsupported {
                field: "unified",
                version: Version::V1,
            });
        }
        if let Some(rules) = r.devices() {
            self.apply_devices(rules)?;
        }
        if let Some(m) = r.memory() {
            self.apply_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c)?;
            self.apply_cpuset(c)?;
        }
        if let Some(p) = r.pids()
            && let Some(v) = Limit::parse("pids.limit", Some(p.limit()))?.v1()
        {
            // pids.max takes "max", not -1.
            let v = if v == "-1" { "max".to_owned() } else { v };
            fs::write(self.need("pids", "pids.limit")?, "pids.max", &v)?;
        }
        if let Some(b) = r.block_io() {
            self.apply_blkio(b)?;
        }
        for h in r.hugepage_limits().iter().flatten() {
            let size = resources::hugepage_size(h.page_size())?;
            let Some(v) = Limit::parse("hugepageLimits.limit", Some(h.limit()))?.v1() else {
                continue;
            };
            let dir = self.need("hugetlb", "hugepageLimits")?;
            fs::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &v)?;
            // Reservation limits (5.7+) also cover pages reserved but not
            // yet faulted in; older kernels lack the file.
            write_if_present(dir, &format!("hugetlb.{size}.rsvd.limit_in_bytes"), &v)?;
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id().filter(|&id| id != 0) {
                fs::write(
                    self.need("net_cls", "network.classID")?,
                    "net_cls.classid",
                    &id.to_string(),
                )?;
            }
            for p in n.priorities().iter().flatten() {
                let name = resources::word("network.priorities.name", p.name())?;
                let dir = self.need("net_prio", "network.priorities")?;
                fs::write(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{name} {}", p.priority()),
                )?;
            }
        }
        for (device, limit) in r.rdma().iter().flatten() {
            let line = rdma_line(device, limit.hca_handles(), limit.hca_objects())?;
            if let Some(line) = line {
                fs::write(self.need("rdma", "rdma")?, "rdma.max", &line)?;
            }
        }
        Ok(())
    }

    /// Writes only the rules that change the live state, then (on a real
    /// cgroupfs) checks devices.list holds exactly what was asked.
    fn apply_devices(
        &self,
        rules: &[oci_spec::runtime::LinuxDeviceCgroup],
    ) -> Result<(), CgroupError> {
        let target = Emulator::from_rules(&devices::parse_rules(rules)?)?;
        let dir = self.need("devices", "devices")?;
        let current = read_devices_list(dir)?;
        for rule in current.transition(&target) {
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            fs::write(dir, file, &rule.to_string())?;
        }
        if statfs(dir).is_ok_and(|s| s.filesystem_type() == CGROUP_SUPER_MAGIC) {
            let after = read_devices_list(dir)?;
            // devices.list hides the deny exceptions of an allow-all cgroup,
            // so only its mode can be checked.
            let same = if target.default_allow() {
                after.default_allow()
            } else {
                after == target
            };
            if !same {
                return Err(CgroupError::DevicesMismatch {
                    path: dir.join("devices.list"),
                });
            }
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<(), CgroupError> {
        #[allow(deprecated)] // read only to say it is ignored
        if m.kernel().is_some() || m.kernel_tcp().is_some() {
            debug!(
                "ignoring linux.resources.memory.kernel and kernelTCP: kernel memory limits are obsolete"
            );
        }
        let limit = Limit::parse("memory.limit", m.limit())?;
        let mut swap = Limit::parse("memory.swap", m.swap())?;
        let reservation = Limit::parse("memory.reservation", m.reservation())?;
        if let Some(s) = m.swappiness().filter(|&s| s > 100) {
            return Err(invalid("memory.swappiness", s, "must be between 0 and 100"));
        }
        let wanted = limit.is_set()
            || swap.is_set()
            || reservation.is_set()
            || m.swappiness().is_some()
            || m.disable_oom_killer().is_some();
        if !wanted {
            return Ok(());
        }
        let dir = self.need("memory", "memory")?;
        resources::check_above_usage(m, limit, dir, "memory.usage_in_bytes")?;
        // Lifting the memory limit lifts the swap limit too, when the
        // kernel accounts swap.
        if limit == Limit::Max
            && swap == Limit::Unset
            && dir.join("memory.memsw.limit_in_bytes").exists()
        {
            swap = Limit::Max;
        }
        // The kernel insists memory <= memory+swap at every step, so raise
        // memsw first when it grows and lower it last when it shrinks.
        let swap_first = match (limit, swap) {
            (Limit::Unset, _) | (_, Limit::Unset) => false,
            (_, Limit::Max) => true,
            (_, Limit::Value(s)) => fs::read_u64(dir, "memory.limit_in_bytes")? < s,
        };
        let write_limit = || match limit.v1() {
            Some(v) => fs::write(dir, "memory.limit_in_bytes", &v),
            None => Ok(()),
        };
        let write_swap = || match swap.v1() {
            Some(v) => fs::write(dir, "memory.memsw.limit_in_bytes", &v),
            None => Ok(()),
        };
        if swap_first {
            write_swap()?;
            write_limit()?;
        } else {
            write_limit()?;
            write_swap()?;
        }
        if let Some(v) = reservation.v1() {
            fs::write(dir, "memory.soft_limit_in_bytes", &v)?;
        }
        if let Some(disable) = m.disable_oom_killer() {
            fs::write(dir, "memory.oom_control", if disable { "1" } else { "0" })?;
        }
        if let Some(s) = m.swappiness() {
            fs::write(dir, "memory.swappiness", &s.to_string())?;
        }
        Ok(())
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<(), CgroupError> {
        let quota = Limit::parse("cpu.quota", c.quota())?;
        let rt_runtime = Limit::parse("cpu.realtimeRuntime", c.realtime_runtime())?;
        let shares = c.shares().filter(|&s| s != 0);
        let period = c.period().filter(|&p| p != 0);
        let rt_period = c.realtime_period().filter(|&p| p != 0);
        let wanted = shares.is_some()
            || period.is_some()
            || quota.is_set()
            || c.burst().is_some()
            || c.idle().is_some()
            || rt_period.is_some()
            || rt_runtime.is_set();
        if !wanted {
            return Ok(());
        }
        let dir = self.need("cpu", "cpu")?;
        // Real-time budget first: a task already SCHED_RR could not join
        // a cgroup without one.
        let rt_runtime = rt_runtime.v1();
        write_pair(
            dir,
            ("cpu.rt_period_us", rt_period.map(|p| p.to_string())),
            ("cpu.rt_runtime_us", rt_runtime),
        )?;
        if let Some(s) = shares {
            fs::write(dir, "cpu.shares", &s.to_string())?;
            // The kernel clamps out-of-range shares silently.
            let got = fs::read_u64(dir, "cpu.shares")?;
            if got != s {
                return Err(invalid(
                    "cpu.shares",
                    s,
                    &format!("the kernel clamped it to {got}"),
                ));
            }
        }
        write_pair(
            dir,
            ("cpu.cfs_period_us", period.map(|p| p.to_string())),
            ("cpu.cfs_quota_us", quota.v1()),
        )?;
        if let Some(b) = c.burst() {
            fs::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            fs::write(dir, "cpu.idle", &i.to_string())?;
        }
        Ok(())
    }

    fn apply_cpuset(&self, c: &LinuxCpu) -> Result<(), CgroupError> {
        let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
        let mems = c.mems().as_deref().filter(|s| !s.is_empty());
        if cpus.is_none() && mems.is_none() {
            return Ok(());
        }
        let dir = self.need("cpuset", "cpu.cpus/mems")?;
        if let Some(v) = cpus {
            fs::write(dir, "cpuset.cpus", v)?;
        }
        if let Some(v) = mems {
            fs::write(dir, "cpuset.mems", v)?;
        }
        Ok(())
    }

    fn apply_blkio(&self, b: &LinuxBlockIo) -> Result<(), CgroupError> {
        // Weight files are named once the directory is known.
        const WEIGHT: &str = "@weight";
        const WEIGHT_DEVICE: &str = "@weight_device";
        let mut writes: Vec<(&str, String)> = Vec::new();
        if let Some(w) = b.weight().filter(|&w| w != 0) {
            writes.push((WEIGHT, w.to_string()));
        }
        if let Some(w) = b.leaf_weight().filter(|&w| w != 0) {
            writes.push(("blkio.leaf_weight", w.to_string()));
        }
        for wd in b.weight_device().iter().flatten() {
            let dev = resources::device("blockIO.weightDevice", wd.major(), wd.minor())?;
            if let Some(w) = wd.weight().filter(|&w| w != 0) {
                writes.push((WEIGHT_DEVICE, format!("{dev} {w}")));
            }
            if let Some(w) = wd.leaf_weight().filter(|&w| w != 0) {
                writes.push(("blkio.leaf_weight_device", format!("{dev} {w}")));
            }
        }
        let throttles = [
            (
                "blockIO.throttleReadBpsDevice",
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blockIO.throttleWriteBpsDevice",
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blockIO.throttleReadIOPSDevice",
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blockIO.throttleWriteIOPSDevice",
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ];
        for (field, file, list) in throttles {
            for td in list.iter().flatten() {
                // A rate of 0 removes the device's limit in v1.
                let dev = resources::device(field, td.major(), td.minor())?;
                writes.push((file, format!("{dev} {}", td.rate())));
            }
        }
        if writes.is_empty() {
            return Ok(());
        }
        let dir = self.need("blkio", "blockIO")?;
        // CFQ's blkio.weight is gone from current kernels; BFQ has its own.
        let cfq = dir.join("blkio.weight").exists();
        for (file, value) in writes {
            let file = match (file, cfq) {
                (WEIGHT, true) => "blkio.weight",
                (WEIGHT, false) => "blkio.bfq.weight",
                (WEIGHT_DEVICE, true) => "blkio.weight_device",
                (WEIGHT_DEVICE, false) => "blkio.bfq.weight_device",
                (f, _) => f,
            };
            fs::write(dir, file, &value)?;
        }
        Ok(())
    }
}

/// Writes two related settings (period and runtime/quota). The kernel
/// checks each write against the other's current value, so when the first
/// write is refused, the second goes first.
fn write_pair(
    dir: &Path,
    first: (&str, Option<String>),
    second: (&str, Option<String>),
) -> Result<(), CgroupError> {
    let write = |(file, value): &(&str, Option<String>)| match value {
        Some(v) => fs::write(dir, file, v),
        None => Ok(()),
    };
    match write(&first) {
        Err(CgroupError::Write { source, .. })
            if source.raw_os_error() == Some(libc::EINVAL) && second.1.is_some() =>
        {
            write(&second)?;
            write(&first)
        }
        Err(e) => Err(e),
        Ok(()) => write(&second),
    }
}

/// Writes `value` to `file` when the kernel has that file.
fn write_if_present(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    match fs::write(dir, file, value) {
        Err(CgroupError::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(())
        }
        other => other,
    }
}

fn read_devices_list(dir: &Path) -> Result<Emulator, CgroupError> {
    let text = fs::read(dir, "devices.list")?;
    Emulator::from_list(&text).ok_or_else(|| fs::parse_error(dir, "devices.list", &text))
}

#[cfg(test)]
mod tests;
