//! ECR tokens on disk, so separate `rbox` processes (a build, then a push)
//! share one `GetAuthorizationToken` call per 12 hours.
//!
//! One JSON file, `ecr-tokens.json`, mode 0600 in a 0700 directory,
//! replaced atomically. It is a cache: a missing, unreadable or corrupt
//! file is an empty cache, and failing to write it is logged, never an
//! error for the caller. Entries are keyed by registry, endpoint, region
//! and the identity settings in effect, so another profile or key never
//! reuses a token.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::ecr::EcrToken;

const FILE: &str = "ecr-tokens.json";

#[derive(Serialize, Deserialize)]
struct Entry {
    username: String,
    password: String,
    /// Seconds since the epoch.
    fresh_until: u64,
    #[serde(default)]
    expires_at: Option<u64>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The on-disk token cache in one directory.
#[derive(Debug, Clone)]
pub(crate) struct DiskCache {
    dir: PathBuf,
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn load(&self) -> BTreeMap<String, Entry> {
        fs::read(self.dir.join(FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// A token still fresh at `now`, with its refresh time.
    pub(crate) fn get(&self, key: &str, now: SystemTime) -> Option<(EcrToken, SystemTime)> {
        let entries = self.load();
        let e = entries.get(key)?;
        let fresh_until = UNIX_EPOCH + Duration::from_secs(e.fresh_until);
        (now < fresh_until).then(|| {
            (
                EcrToken {
                    username: e.username.clone(),
                    password: e.password.clone(),
                    expires_at: e.expires_at.map(|s| UNIX_EPOCH + Duration::from_secs(s)),
                    proxy_endpoint: None,
                },
                fresh_until,
            )
        })
    }

    /// Stores a token, dropping entries no longer fresh at `now`.
    pub(crate) fn put(
        &self,
        key: &str,
        token: &EcrToken,
        fresh_until: SystemTime,
        now: SystemTime,
    ) {
        let mut entries = self.load();
        entries.retain(|_, e| e.fresh_until > secs(now));
        entries.insert(
            key.to_owned(),
            Entry {
                username: token.username.clone(),
                password: token.password.clone(),
                fresh_until: secs(fresh_until),
                expires_at: token.expires_at.map(secs),
            },
        );
        if let Err(e) = self.write(&entries) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot write the ECR token cache");
        }
    }

    fn write(&self, entries: &BTreeMap<String, Entry>) -> std::io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        let tmp = self.dir.join(format!(".{FILE}.tmp-{}", std::process::id()));
        let result = (|| {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&serde_json::to_vec(entries).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
            fs::rename(&tmp, self.dir.join(FILE))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}
