//! Resource flags → `linux.resources`, `process.rlimits`, devices and
//! sysctls, with docker's defaults (swap = 2 × memory when only
//! `--memory` is given).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::options::{RunOptions, key_value, parse_bytes, parse_cpus};

/// `linux.resources` from the flags (devices added by the caller).
pub fn resources(o: &RunOptions) -> Result<Map<String, Value>> {
    let mut r = Map::new();
    let mut mem = Map::new();
    let limit = o
        .memory
        .as_deref()
        .map(|m| parse_bytes("--memory", m))
        .transpose()?;
    if let Some(l) = limit {
        // The kernel refuses tiny limits with a less helpful error.
        if l < 6 * 1024 * 1024 {
            return Err(Error::flag(
                "--memory",
                o.memory.as_deref().unwrap_or(""),
                "minimum memory limit allowed is 6MB",
            ));
        }
        mem.insert("limit".into(), json!(l));
    }
    match o.memory_swap.as_deref() {
        Some("-1") => {
            mem.insert("swap".into(), json!(-1));
        }
        Some(s) => {
            let swap = parse_bytes("--memory-swap", s)?;
            let Some(l) = limit else {
                return Err(Error::flag("--memory-swap", s, "needs --memory as well"));
            };
            if swap < l {
                return Err(Error::flag(
                    "--memory-swap",
                    s,
                    "must be larger than --memory (it is memory + swap)",
                ));
            }
            mem.insert("swap".into(), json!(swap));
        }
        None => {
            if let Some(l) = limit {
                mem.insert("swap".into(), json!(l.saturating_mul(2)));
            }
        }
    }
    if let Some(s) = &o.memory_reservation {
        let v = parse_bytes("--memory-reservation", s)?;
        if limit.is_some_and(|l| v > l) {
            return Err(Error::flag(
                "--memory-reservation",
                s,
                "must be smaller than --memory",
            ));
        }
        mem.insert("reservation".into(), json!(v));
    }
    if !mem.is_empty() {
        r.insert("memory".into(), Value::Object(mem));
    }
    let mut cpu = Map::new();
    if let Some(c) = &o.cpus {
        let (quota, period) = parse_cpus(c)?;
        cpu.insert("quota".into(), json!(quota));
        cpu.insert("period".into(), json!(period));
    }
    if let Some(s) = o.cpu_shares {
        if s != 0 && s < 2 {
            return Err(Error::flag("--cpu-shares", &s.to_string(), "minimum is 2"));
        }
        if s != 0 {
            cpu.insert("shares".into(), json!(s));
        }
    }
    if let Some(c) = &o.cpuset_cpus {
        let ok = !c.is_empty()
            && c.split(',').all(|part| {
                let mut it = part.splitn(2, '-');
                let a = it.next().is_some_and(|n| n.parse::<u32>().is_ok());
                let b = it.next().is_none_or(|n| n.parse::<u32>().is_ok());
                a && b
            });
        if !ok {
            return Err(Error::flag(
                "--cpuset-cpus",
                c,
                "expected a list like 0-2,4",
            ));
        }
        cpu.insert("cpus".into(), json!(c));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(p) = o.pids_limit
        && p != 0
    {
        // docker: 0 and -1 both mean unlimited.
        r.insert("pids".into(), json!({"limit": if p < 0 { -1 } else { p }}));
    }
    Ok(r)
}

/// `--ulimit name=soft[:hard]` → rlimits.
pub fn rlimits(o: &RunOptions) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for u in &o.ulimits {
        let (name, v) = key_value("--ulimit", u)?;
        let (soft, hard) = v.split_once(':').unwrap_or((v, v));
        let num = |s: &str| -> Result<u64> {
            if s == "-1" || s == "unlimited" {
                return Ok(u64::MAX);
            }
            s.parse()
                .map_err(|_| Error::flag("--ulimit", u, "limits must be numbers"))
        };
        let (soft, hard) = (num(soft)?, num(hard)?);
        if soft > hard {
            return Err(Error::flag(
                "--ulimit",
                u,
                "the soft limit exceeds the hard limit",
            ));
        }
        let known = [
            "core",
            "cpu",
            "data",
            "fsize",
            "locks",
            "memlock",
            "msgqueue",
            "nice",
            "nofile",
            "nproc",
            "rss",
            "rtprio",
            "rttime",
            "sigpending",
            "stack",
            "as",
        ];
        if !known.contains(&name) {
            return Err(Error::flag("--ulimit", u, "unknown limit name"));
        }
        out.push(json!({
            "type": format!("RLIMIT_{}", name.to_ascii_uppercase()),
            "soft": soft,
            "hard": hard,
        }));
    }
    Ok(out)
}

/// Sysctls docker lets a container set (namespaced ones); `net.*` only
/// with its own network namespace.
pub fn sysctls(o: &RunOptions, own_netns: bool) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    for s in &o.sysctls {
        let (k, v) = key_value("--sysctl", s)?;
        let ipc = [
            "kernel.msgmax",
            "kernel.msgmnb",
            "kernel.msgmni",
            "kernel.sem",
            "kernel.shmall",
            "kernel.shmmax",
            "kernel.shmmni",
            "kernel.shm_rmid_forced",
        ];
        let ok =
            ipc.contains(&k) || k.starts_with("fs.mqueue.") || (k.starts_with("net.") && own_netns);
        if !ok {
            return Err(Error::flag(
                "--sysctl",
                s,
                "not a namespaced sysctl this container may set",
            ));
        }
        m.insert(k.to_string(), json!(v));
    }
    Ok(m)
}

/// A host device for `linux.devices` and its cgroup allow rule.
pub fn device(host: &Path, container: &str, perms: &str) -> Result<(Value, Value)> {
    let meta = std::fs::metadata(host).map_err(|e| Error::io("stat device", host, e))?;
    let ft = meta.file_type();
    let kind = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Err(Error::flag(
            "--device",
            &host.display().to_string(),
            "not a character or block device",
        ));
    };
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    Ok((
        json!({
            "path": container,
            "type": kind,
            "major": major,
            "minor": minor,
            "fileMode": meta.mode() & 0o777,
            "uid": meta.uid(),
            "gid": meta.gid(),
        }),
        json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": perms}),
    ))
}

/// `--device HOST[:CONTAINER[:PERMS]]`.
pub fn parse_device(s: &str) -> Result<(Value, Value)> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, cont, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if p.chars().all(|c| "rwm".contains(c)) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => {
            return Err(Error::flag(
                "--device",
                s,
                "expected HOST[:CONTAINER[:PERMS]]",
            ));
        }
    };
    if !perms.chars().all(|c| "rwm".contains(c)) || perms.is_empty() {
        return Err(Error::flag(
            "--device",
            s,
            "permissions are a mix of r, w and m",
        ));
    }
    if !cont.starts_with('/') {
        return Err(Error::flag(
            "--device",
            s,
            "the container path must be absolute",
        ));
    }
    device(Path::new(host), cont, perms)
}

/// Every char/block device directly under the host's /dev (for
/// `--privileged`), skipping the ones a container gets anyway.
pub fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/dev") else {
        return out;
    };
    let skip = [
        "console", "ptmx", "tty", "null", "zero", "full", "random", "urandom",
    ];
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if skip.contains(&name.as_str()) {
            continue;
        }
        let p = e.path();
        if let Ok((d, _)) = device(&p, &p.display().to_string(), "rwm") {
            out.push(d);
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;

    #[test]
    fn memory_defaults_and_errors() {
        let mut o = RunOptions::default();
        o.memory = Some("64m".into());
        let r = resources(&o).unwrap();
        assert_eq!(r["memory"]["limit"], json!(64 << 20));
        assert_eq!(r["memory"]["swap"], json!(128 << 20));
        o.memory_swap = Some("-1".into());
        assert_eq!(resources(&o).unwrap()["memory"]["swap"], json!(-1));
        o.memory_swap = Some("32m".into());
        assert!(resources(&o).is_err());
        o.memory_swap = None;
        o.memory = Some("12q".into());
        assert!(resources(&o).is_err());
        o.memory = Some("1k".into());
        assert!(resources(&o).is_err());
    }

    #[test]
    fn cpu_pids() {
        let mut o = RunOptions::default();
        o.cpus = Some("0.5".into());
        o.cpu_shares = Some(512);
        o.cpuset_cpus = Some("0-1,3".into());
        o.pids_limit = Some(20);
        let r = resources(&o).unwrap();
        assert_eq!(r["cpu"]["quota"], json!(50_000));
        assert_eq!(r["cpu"]["shares"], json!(512));
        assert_eq!(r["cpu"]["cpus"], json!("0-1,3"));
        assert_eq!(r["pids"]["limit"], json!(20));
        o.cpuset_cpus = Some("a-b".into());
        assert!(resources(&o).is_err());
    }

    #[test]
    fn ulimits_sysctls_devices() {
        let mut o = RunOptions::default();
        o.ulimits = vec!["nofile=1024:2048".into()];
        let r = rlimits(&o).unwrap();
        assert_eq!(r[0]["type"], "RLIMIT_NOFILE");
        assert_eq!(r[0]["hard"], 2048);
        o.ulimits = vec!["nofile=10:5".into()];
        assert!(rlimits(&o).is_err());
        o.sysctls = vec!["net.ipv4.ip_forward=1".into()];
        assert!(sysctls(&o, true).is_ok());
        assert!(sysctls(&o, false).is_err());
        o.sysctls = vec!["kernel.panic=1".into()];
        assert!(sysctls(&o, true).is_err());
        let (d, rule) = parse_device("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!(d["path"], "/dev/mynull");
        assert_eq!(d["major"], 1);
        assert_eq!(rule["access"], "r");
        assert!(parse_device("/etc/passwd").is_err());
    }
}
