//! Capability sets: docker's default 14, `--cap-add`/`--cap-drop` with
//! `ALL` and with or without the `CAP_` prefix.

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// Every capability the kernel defines (as of Linux 6.x), in the kernel's
/// numbering order.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Docker's default capability set.
pub use rbox_runtime::defaults::DOCKER_CAPS as DEFAULT_CAPS;

fn normalize(flag: &'static str, c: &str) -> Result<String> {
    let up = c.trim().to_ascii_uppercase();
    if up == "ALL" {
        return Ok(up);
    }
    let name = if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    };
    if !ALL_CAPS.contains(&name.as_str()) {
        return Err(Error::flag(flag, c, "unknown capability"));
    }
    Ok(name)
}

/// Every capability this process may pass on (its bounding set), so
/// `--privileged` and `--cap-add ALL` mean "all we have", as with docker
/// on a host whose root lacks some (no CAP_SYS_RESOURCE in some VMs).
pub fn available() -> Vec<&'static str> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bounding & (1u64 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// The container's capability set, docker's rules: `--cap-add ALL` is
/// everything minus the drops; `--cap-drop ALL` is only the adds;
/// otherwise the defaults plus adds minus drops. `privileged`: all.
pub fn capabilities(add: &[String], drop: &[String], privileged: bool) -> Result<BTreeSet<String>> {
    let add: Vec<String> = add
        .iter()
        .map(|c| normalize("--cap-add", c))
        .collect::<Result<_>>()?;
    let drop: Vec<String> = drop
        .iter()
        .map(|c| normalize("--cap-drop", c))
        .collect::<Result<_>>()?;
    if privileged {
        return Ok(available().iter().map(|s| s.to_string()).collect());
    }
    let all = |v: &[String]| v.iter().any(|c| c == "ALL");
    let mut set: BTreeSet<String> = if all(&add) {
        available().iter().map(|s| s.to_string()).collect()
    } else if all(&drop) {
        BTreeSet::new()
    } else {
        DEFAULT_CAPS.iter().map(|s| s.to_string()).collect()
    };
    if all(&add) {
        for d in &drop {
            set.remove(d);
        }
        return Ok(set);
    }
    if !all(&drop) {
        for d in &drop {
            set.remove(d);
        }
    }
    for a in add {
        if a != "ALL" {
            set.insert(a);
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sets() {
        let d = capabilities(&[], &[], false).unwrap();
        assert_eq!(d.len(), 14);
        let c = capabilities(&s(&["sys_admin"]), &s(&["CAP_NET_RAW"]), false).unwrap();
        assert!(c.contains("CAP_SYS_ADMIN") && !c.contains("CAP_NET_RAW"));
        let c = capabilities(&s(&["chown"]), &s(&["all"]), false).unwrap();
        assert_eq!(c.into_iter().collect::<Vec<_>>(), vec!["CAP_CHOWN"]);
        let c = capabilities(&s(&["ALL"]), &s(&["mknod"]), false).unwrap();
        assert_eq!(c.len(), available().len() - 1);
        assert_eq!(
            capabilities(&[], &[], true).unwrap().len(),
            available().len()
        );
        assert_eq!(ALL_CAPS[21], "CAP_SYS_ADMIN");
        assert_eq!(ALL_CAPS[40], "CAP_CHECKPOINT_RESTORE");
        assert!(capabilities(&s(&["FLY"]), &[], false).is_err());
    }
}
