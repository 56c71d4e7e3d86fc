//! Container state on disk: `<root>/<id>/state.json`, written atomically.
//!
//! The stored status is only a hint: the live status is derived from the
//! init process (pid + start time), the exec fifo and the freezer, so a
//! container whose init died is `stopped` without anyone updating a file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lifecycle status of a container (runtime-spec "state").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Being created.
    Creating,
    /// Created; the user process has not started.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by `pause`.
    Paused,
    /// The init process has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What the runtime records about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ContainerState {
    /// Spec version of the bundle.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Status when last written (see [`crate::Container::status`]).
    pub status: Status,
    /// Host pid of the container init (0 when none).
    pub pid: i32,
    /// Start time of the init in clock ticks since boot (pid-reuse guard).
    pub start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339.
    pub created: String,
    /// Owner (user name or uid) that created it.
    pub owner: String,
    /// Annotations from the spec.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// Cgroup path of the container (absolute).
    pub cgroup_path: String,
    /// Whether `--systemd-cgroup` was in effect.
    #[serde(default)]
    pub systemd_cgroup: bool,
}

impl ContainerState {
    /// The runtime-spec state object given to hooks on stdin.
    pub fn spec_state_json(&self, status: Status) -> Vec<u8> {
        #[derive(Serialize)]
        struct S<'a> {
            #[serde(rename = "ociVersion")]
            oci_version: &'a str,
            id: &'a str,
            status: Status,
            #[serde(skip_serializing_if = "Option::is_none")]
            pid: Option<i32>,
            bundle: &'a Path,
            #[serde(skip_serializing_if = "HashMap::is_empty")]
            annotations: &'a HashMap<String, String>,
        }
        serde_json::to_vec(&S {
            oci_version: &self.oci_version,
            id: &self.id,
            status,
            pid: (self.pid > 0 && status != Status::Stopped).then_some(self.pid),
            bundle: &self.bundle,
            annotations: &self.annotations,
        })
        .expect("serializing plain strings and numbers cannot fail")
    }

    /// Loads `<dir>/state.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let p = dir.join("state.json");
        let b = std::fs::read(&p).map_err(|source| Error::Io {
            op: "reading container state",
            path: p.clone(),
            source,
        })?;
        serde_json::from_slice(&b).map_err(|e| Error::CorruptState {
            path: p,
            reason: e.to_string(),
        })
    }

    /// Writes `<dir>/state.json` atomically (temp file + rename). No fsync:
    /// the state dir lives on a tmpfs (/run) and dies with the machine, as
    /// the containers do.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let tmp = dir.join(".state.json.tmp");
        let dst = dir.join("state.json");
        let io = |op, path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { op, path, source }
        };
        write_private(&tmp, &serde_json::to_vec(self).expect("state serializes"))?;
        std::fs::rename(&tmp, &dst).map_err(io("renaming", &dst))
    }
}

/// Writes a file only its owner can read (mode 0600 whatever the umask).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|source| Error::Io {
            op: "writing",
            path: path.to_path_buf(),
            source,
        })
}

/// Formats a UNIX time (seconds, nanoseconds) as RFC 3339 UTC.
pub fn rfc3339(secs: i64, nanos: u32) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil-from-days (H. Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Now as RFC 3339.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    rfc3339(d.as_secs() as i64, d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_795_000_000, 5), "2026-11-18T11:06:40.000000005Z");
        assert_eq!(rfc3339(951_782_400, 0), "2000-02-29T00:00:00.000000000Z");
    }
}
