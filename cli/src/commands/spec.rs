//! `spec`: a default config.json, as `runc spec` writes it.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The default spec (rootless: with a user namespace mapping the caller).
pub fn default_spec(rootless: bool) -> Value {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let mut v = json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "rbox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                "/proc/sysrq-trigger"]
        }
    });
    if rootless {
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
        v["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
        v["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"},
            {"type": "mount"}, {"type": "cgroup"}, {"type": "user"}]);
        v["linux"]["resources"] = json!(null);
        // No sysfs or cgroup mounts without owning the namespaces: bind /sys.
        if let Some(m) = v["mounts"].as_array_mut() {
            m.truncate(5);
            m.push(
                json!({"destination": "/sys", "type": "none", "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}),
            );
        }
    }
    v
}

/// Runs `spec`.
pub fn run(bundle: &Path, rootless: bool) -> Result<()> {
    let path = bundle.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    let text = serde_json::to_string_pretty(&default_spec(rootless))?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses_and_validates() {
        for rootless in [false, true] {
            let v = default_spec(rootless);
            let b = serde_json::to_vec(&v).unwrap();
            let s = rbox_runtime::parse_spec(&b, Path::new("config.json")).unwrap();
            rbox_runtime::validate(&s).unwrap();
        }
    }
}
