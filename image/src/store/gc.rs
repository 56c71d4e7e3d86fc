//! Garbage collection: remove every blob no root reaches.
//!
//! gc takes `store.lock` exclusively, so it waits until no process holds a
//! lease, and no lease (hence no ingest) starts while it runs. The roots
//! are computed by the caller's closure under that lock, so a pull that
//! records an image just before gc cannot lose its blobs to a stale root
//! set.

use std::collections::BTreeSet;
use std::fs;
use std::sync::atomic::Ordering;

use super::ingest::{is_ingest_key, remove_partial};
use super::{STORE_LOCK, Store, open_lock_file};
use crate::digest::Digest;
use crate::error::{Error, Result};

/// How [`Store::gc`] runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcOptions {
    /// Also remove partial ingests (otherwise kept for resuming).
    pub remove_ingests: bool,
    /// Report what would be removed, remove nothing.
    pub dry_run: bool,
}

/// What [`Store::gc`] removed (or would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// The unreferenced blobs.
    pub removed: Vec<Digest>,
    /// Their total size in bytes.
    pub freed: u64,
    /// Partial ingests removed, by directory name.
    pub removed_ingests: Vec<String>,
}

impl Store {
    /// Removes every blob not in the set `roots` returns. `roots` runs
    /// under gc's exclusive lock and must not take a lease.
    ///
    /// Fails with [`Error::LeasedBySelf`] if this process holds a lease on
    /// the store (waiting would never end).
    pub fn gc<F>(&self, options: &GcOptions, roots: F) -> Result<GcReport>
    where
        F: FnOnce(&Store) -> Result<BTreeSet<Digest>>,
    {
        if self.inner.leases.load(Ordering::SeqCst) > 0 {
            return Err(Error::LeasedBySelf {
                root: self.root().to_path_buf(),
            });
        }
        let lock_path = self.root().join(STORE_LOCK);
        let lock = open_lock_file(&lock_path)?;
        lock.lock()
            .map_err(|e| Error::io("lock (exclusive)", &lock_path, e))?;
        let keep = roots(self)?;
        let mut report = GcReport::default();
        for digest in self.blobs()? {
            if keep.contains(&digest) {
                continue;
            }
            report.freed += self.blob_size(&digest).unwrap_or(0);
            if !options.dry_run {
                self.delete_blob(&digest)?;
            }
            tracing::debug!(%digest, dry_run = options.dry_run, "gc: unreferenced blob");
            report.removed.push(digest);
        }
        if options.remove_ingests {
            let ingest = self.ingest_dir();
            let entries =
                fs::read_dir(&ingest).map_err(|e| Error::io("read directory", &ingest, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("read directory", &ingest, e))?;
                let name = entry.file_name();
                if !is_ingest_key(&name) {
                    continue;
                }
                // Every writer holds a lease, so none is active now.
                if !options.dry_run {
                    remove_partial(&entry.path())?;
                }
                report
                    .removed_ingests
                    .push(name.to_string_lossy().into_owned());
            }
            report.removed_ingests.sort();
        }
        drop(lock);
        Ok(report)
    }
}
