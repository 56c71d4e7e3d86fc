//! Reading and writing cgroup files, creating and removing cgroup
//! directories.
//!
//! Every value goes to the kernel in a single write(2) on a file opened
//! without `O_CREAT`: cgroupfs parses one write as one command, and a
//! missing file means a missing controller, which must be an error rather
//! than a new regular file. In test builds each write is also recorded, so
//! unit tests can assert the exact sequence of writes on a fake tree.

use std::collections::BTreeMap;
use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use super::CgroupError;

/// Writes `value` to `dir/file`.
pub(super) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    #[cfg(test)]
    log::record(&path, value);
    let result = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .and_then(|mut f| f.write_all(value.as_bytes()));
    result.map_err(|source| CgroupError::Write {
        path,
        value: value.to_owned(),
        source,
    })
}

/// Reads `dir/file`.
pub(super) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|source| CgroupError::Read { path, source })
}

/// Reads `dir/file`, `None` when it does not exist.
pub(super) fn read_opt(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    match read(dir, file) {
        Ok(s) => Ok(Some(s)),
        Err(CgroupError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Reads a single number; `max` (no limit) reads as `u64::MAX`.
pub(super) fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let text = read(dir, file)?;
    parse_u64(&text).ok_or_else(|| parse_error(dir, file, &text))
}

/// Like [`read_u64`], `None` when the file does not exist.
pub(super) fn read_u64_opt(dir: &Path, file: &str) -> Result<Option<u64>, CgroupError> {
    match read_opt(dir, file)? {
        Some(text) => parse_u64(&text)
            .map(Some)
            .ok_or_else(|| parse_error(dir, file, &text)),
        None => Ok(None),
    }
}

/// Parses a number or `max`; cgroup v1 reports some unlimited values as
/// -1, which also reads as `u64::MAX`.
pub(super) fn parse_u64(text: &str) -> Option<u64> {
    match text.trim() {
        "max" | "-1" => Some(u64::MAX),
        t => t.parse().ok(),
    }
}

/// Reads a flat-keyed file (`key value` lines, e.g. memory.stat).
pub(super) fn read_keyed(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    let text = read(dir, file)?;
    parse_keyed(&text).ok_or_else(|| parse_error(dir, file, &text))
}

/// Like [`read_keyed`], empty when the file does not exist.
pub(super) fn read_keyed_opt(dir: &Path, file: &str) -> Result<BTreeMap<String, u64>, CgroupError> {
    match read_opt(dir, file)? {
        Some(text) => parse_keyed(&text).ok_or_else(|| parse_error(dir, file, &text)),
        None => Ok(BTreeMap::new()),
    }
}

/// Parses `key value` lines.
pub(super) fn parse_keyed(text: &str) -> Option<BTreeMap<String, u64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut it = line.split_whitespace();
            let key = it.next()?;
            let value = parse_u64(it.next()?)?;
            Some((key.to_owned(), value))
        })
        .collect()
}

pub(super) fn parse_error(dir: &Path, file: &str, content: &str) -> CgroupError {
    CgroupError::Parse {
        path: dir.join(file),
        content: content.trim().chars().take(200).collect(),
    }
}

/// Creates `path` and its missing parents, mode 0755.
pub(super) fn mkdir_all(path: &Path) -> Result<(), CgroupError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(|source| CgroupError::Create {
            path: path.to_owned(),
            source,
        })
}

/// Creates the single directory `path`; `Ok(false)` if it already existed.
pub(super) fn mkdir(path: &Path) -> Result<bool, CgroupError> {
    match DirBuilder::new().mode(0o755).create(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(false),
        Err(source) => Err(CgroupError::Create {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Removes the cgroup `dir` and every cgroup below it, leaves first.
/// A missing directory is fine; rmdir is retried a few times on EBUSY,
/// which the kernel returns while exiting tasks are still being released.
pub(super) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(CgroupError::Remove {
                path: dir.to_owned(),
                source,
            });
        }
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    let mut delay = Duration::from_millis(10);
    for attempt in 0.. {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < 5 => {
                sleep(delay);
                delay *= 2;
            }
            Err(source) => {
                return Err(CgroupError::Remove {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
    unreachable!("the loop returns")
}

/// Every process listed in `cgroup.procs` of `dir` and its descendants.
pub(super) fn procs_recursive(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let Some(text) = read_opt(&d, "cgroup.procs")? else {
            // A child cgroup removed while walking.
            continue;
        };
        for line in text.lines().filter(|l| !l.is_empty()) {
            let pid = line
                .trim()
                .parse()
                .map_err(|_| parse_error(&d, "cgroup.procs", line))?;
            pids.push(pid);
        }
        if let Ok(entries) = std::fs::read_dir(&d) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(entry.path());
                }
            }
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

/// Moves `pid` into the cgroup `dir`. EINVAL is retried a few times: a
/// freshly forked task cannot move until it is fully set up.
pub(super) fn add_proc(dir: &Path, pid: i32) -> Result<(), CgroupError> {
    let value = pid.to_string();
    for attempt in 0.. {
        match write(dir, "cgroup.procs", &value) {
            Err(CgroupError::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && attempt < 5 =>
            {
                sleep(Duration::from_millis(30));
            }
            other => return other,
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
pub(super) mod log {
    //! The write log of the current test thread.

    use std::cell::RefCell;
    use std::path::{Path, PathBuf};

    thread_local! {
        static WRITES: RefCell<Vec<(PathBuf, String)>> = const { RefCell::new(Vec::new()) };
    }

    pub(in crate::cgroup) fn record(path: &Path, value: &str) {
        WRITES.with(|w| w.borrow_mut().push((path.to_owned(), value.to_owned())));
    }

    /// Takes the writes made so far, as (path relative to `root`, value).
    pub(in crate::cgroup) fn take(root: &Path) -> Vec<(String, String)> {
        WRITES.with(|w| {
            w.borrow_mut()
                .drain(..)
                .map(|(p, v)| {
                    let rel = p
                        .strip_prefix(root)
                        .unwrap_or(&p)
                        .to_string_lossy()
                        .into_owned();
                    (rel, v)
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_keyed_files() {
        assert_eq!(parse_u64("42\n"), Some(42));
        assert_eq!(parse_u64("max\n"), Some(u64::MAX));
        assert_eq!(parse_u64("-1"), Some(u64::MAX));
        assert_eq!(parse_u64("x"), None);
        let m = parse_keyed("cache 10\nrss 20\n\n").expect("parses");
        assert_eq!((m["cache"], m["rss"]), (10, 20));
        assert!(parse_keyed("cache\n").is_none());
    }

    #[test]
    fn write_errors_name_file_and_value() {
        let dir = std::env::temp_dir().join(format!("rbox-fs-test-{}", std::process::id()));
        let e = write(&dir, "memory.max", "100").expect_err("no such dir");
        assert_eq!(
            e.to_string(),
            format!("writing 100 to {}", dir.join("memory.max").display())
        );
    }

    #[test]
    fn remove_tree_removes_leaves_first_and_tolerates_absence() {
        let base = std::env::temp_dir().join(format!("rbox-rm-test-{}", std::process::id()));
        mkdir_all(&base.join("a/b/c")).expect("mkdir");
        mkdir_all(&base.join("a/d")).expect("mkdir");
        remove_tree(&base.join("a")).expect("removed");
        assert!(!base.join("a").exists());
        remove_tree(&base.join("a")).expect("absent is fine");
        std::fs::remove_dir(&base).expect("cleanup");
    }
}
