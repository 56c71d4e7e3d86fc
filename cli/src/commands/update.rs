//! `update`: new resource limits for a container, from `--resources FILE`
//! (`-` for stdin, runtime-spec `linux.resources` JSON) or runc's flags.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use rbox_runtime::oci_spec::runtime::LinuxResources;
use serde_json::{Map, Value, json};

use crate::runtime_cli::Ctx;

/// runc update's flags.
#[derive(Args, Debug, Default)]
pub struct UpdateArgs {
    /// Resources JSON file, or - for stdin.
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    /// Memory limit in bytes.
    #[arg(long)]
    pub memory: Option<i64>,
    /// Memory reservation in bytes.
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<i64>,
    /// Memory plus swap limit in bytes.
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<i64>,
    /// CPU shares (runc spells the flag `--cpu-share`).
    #[arg(long = "cpu-share", alias = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// CFS quota in microseconds.
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// Realtime period.
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// Realtime runtime.
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs allowed (cpuset).
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes allowed (cpuset).
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Maximum number of pids.
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Block I/O weight (10-1000).
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// Intel RDT L3 cache schema (not supported: rbox has no resctrl code).
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema (not supported).
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
    /// Container id.
    pub id: String,
}

fn set(obj: &mut Map<String, Value>, section: &str, key: &str, v: Value) -> Result<()> {
    let sec = obj
        .entry(section)
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .with_context(|| format!("--resources: {section:?} must be an object"))?;
    sec.insert(key.into(), v);
    Ok(())
}

/// The resources the flags describe, on top of `base`.
pub fn resources(a: &UpdateArgs, base: Value) -> Result<LinuxResources> {
    let mut obj = match base {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let o = &mut obj;
    if let Some(v) = a.memory {
        set(o, "memory", "limit", json!(v))?;
    }
    if let Some(v) = a.memory_reservation {
        set(o, "memory", "reservation", json!(v))?;
    }
    if let Some(v) = a.memory_swap {
        set(o, "memory", "swap", json!(v))?;
    }
    if let Some(v) = a.cpu_shares {
        set(o, "cpu", "shares", json!(v))?;
    }
    if let Some(v) = a.cpu_quota {
        set(o, "cpu", "quota", json!(v))?;
    }
    if let Some(v) = a.cpu_period {
        set(o, "cpu", "period", json!(v))?;
    }
    if let Some(v) = a.cpu_rt_period {
        set(o, "cpu", "realtimePeriod", json!(v))?;
    }
    if let Some(v) = a.cpu_rt_runtime {
        set(o, "cpu", "realtimeRuntime", json!(v))?;
    }
    if let Some(v) = &a.cpuset_cpus {
        set(o, "cpu", "cpus", json!(v))?;
    }
    if let Some(v) = &a.cpuset_mems {
        set(o, "cpu", "mems", json!(v))?;
    }
    if let Some(v) = a.pids_limit {
        set(o, "pids", "limit", json!(v))?;
    }
    if let Some(v) = a.blkio_weight {
        set(o, "blockIO", "weight", json!(v))?;
    }
    serde_json::from_value(Value::Object(obj)).context("resources are not valid linux.resources")
}

/// Runs `update`.
pub fn run(ctx: &Ctx, a: &UpdateArgs) -> Result<()> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        anyhow::bail!(
            "--l3-cache-schema/--mem-bw-schema: Intel RDT (resctrl) is not supported by rbox"
        );
    }
    let c = super::load(ctx, &a.id)?;
    let base = match &a.resources {
        Some(p) => {
            let mut s = String::new();
            if p.as_os_str() == "-" {
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading resources from stdin")?;
            } else {
                s = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
            }
            serde_json::from_str(&s).context("--resources is not JSON")?
        }
        None => json!({}),
    };
    let r = resources(a, base)?;
    c.update(&r)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_merge_over_json() {
        let a = UpdateArgs {
            memory: Some(1 << 20),
            pids_limit: Some(10),
            ..Default::default()
        };
        let r = resources(&a, json!({"cpu": {"shares": 512}})).unwrap();
        assert_eq!(r.memory().as_ref().unwrap().limit(), Some(1 << 20));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
        assert_eq!(r.cpu().as_ref().unwrap().shares(), Some(512));
        assert!(resources(&UpdateArgs::default(), json!({"memory": {"limit": "x"}})).is_err());
    }
}
