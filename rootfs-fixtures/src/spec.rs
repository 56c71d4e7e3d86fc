//! The bundle's `config.json`, shaped like the example `runc spec` writes,
//! as a plain JSON value so tests can edit any field before writing it.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::error::{FixtureError, Result};

/// The runtime-spec version the config claims.
pub const OCI_VERSION: &str = "1.2.0";

/// A runtime-spec config like `runc spec`'s example, running `args` (or
/// `sh`, runc's default, when `args` is empty) with `terminal: false` and a
/// writable root at `rootfs`.
pub fn runtime_spec(args: &[&str]) -> Value {
    let args: Vec<&str> = if args.is_empty() {
        vec!["sh"]
    } else {
        args.to_vec()
    };
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
                "ambient": caps
            },
            "rlimits": [
                { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }
            ],
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": "rbox",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            },
            {
                "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
            }
        ],
        "linux": {
            "resources": {
                "devices": [ { "allow": false, "access": "rwm" } ]
            },
            "namespaces": [
                { "type": "pid" },
                { "type": "network" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" }
            ],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/sys/devices/virtual/powercap",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger"
            ]
        }
    })
}

/// Writes `spec` as `bundle/config.json` and returns that path.
pub fn write_spec(bundle: &Path, spec: &Value) -> Result<PathBuf> {
    let path = bundle.join("config.json");
    let mut text = serde_json::to_vec_pretty(spec).map_err(|source| FixtureError::Json {
        path: path.clone(),
        source,
    })?;
    text.push(b'\n');
    fs::write(&path, text).map_err(FixtureError::io("write", &path))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_has_args_and_no_terminal() {
        let spec = runtime_spec(&["/bin/true", "x"]);
        assert_eq!(spec["ociVersion"], OCI_VERSION);
        assert_eq!(spec["process"]["args"], json!(["/bin/true", "x"]));
        assert_eq!(spec["process"]["terminal"], false);
        assert_eq!(spec["root"]["readonly"], false);
        assert_eq!(spec["root"]["path"], "rootfs");
        assert_eq!(
            spec["linux"]["namespaces"].as_array().map(Vec::len),
            Some(5)
        );
    }

    #[test]
    fn empty_args_run_sh() {
        assert_eq!(runtime_spec(&[])["process"]["args"], json!(["sh"]));
    }
}
