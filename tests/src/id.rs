//! Names that do not collide between tests, test processes or reruns.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh id `prefix-<pid>-<counter>-<time>` (lowercase hex time), unique
/// within this process by the counter and across processes by pid and
/// time. Valid as a container id, cgroup or netns name if `prefix` is.
pub fn unique_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() & 0xffff_ffff);
    format!("{prefix}-{}-{n}-{t:x}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_and_keep_prefix() {
        let ids: std::collections::HashSet<String> = (0..100).map(|_| unique_id("c")).collect();
        assert_eq!(ids.len(), 100);
        assert!(ids.iter().all(|id| id.starts_with("c-")));
    }
}
