//! Image records: which manifest each name points at, in `images.json`.
//!
//! Readers read the file without a lock: it is only ever replaced whole by
//! a rename, so they see one complete version. Writers serialise on an
//! flock of `images.json.lock` (a file never deleted, so every process
//! locks the same inode), read the current version, change it, and write
//! a temporary file that is fsynced, renamed over `images.json`, and made
//! durable by an fsync of the directory.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Store, open_lock_file, sync_dir};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::reference::Reference;

const RECORDS: &str = "images.json";
const RECORDS_LOCK: &str = "images.json.lock";
const RECORDS_TMP: &str = "images.json.tmp";
const VERSION: u32 = 1;

/// What a name points at: a manifest or index, as a descriptor would say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// The manifest's (or index's) digest.
    pub digest: Digest,
    /// Its media type, when known.
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Its size in bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Record {
    /// A record of just a digest.
    pub fn new(digest: Digest) -> Self {
        Self {
            digest,
            media_type: None,
            size: None,
        }
    }

    /// A record of a full descriptor.
    pub fn with_descriptor(digest: Digest, media_type: impl Into<String>, size: u64) -> Self {
        Self {
            digest,
            media_type: Some(media_type.into()),
            size: Some(size),
        }
    }
}

/// The set of image records, keyed by canonical reference.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    map: BTreeMap<Reference, Record>,
}

#[derive(Serialize, Deserialize)]
struct RecordsFile {
    version: u32,
    images: BTreeMap<Reference, Record>,
}

impl Records {
    /// The record of `name`.
    pub fn get(&self, name: &Reference) -> Option<&Record> {
        self.map.get(name)
    }

    /// Points `name` at `record`; returns the previous record.
    pub fn insert(&mut self, name: Reference, record: Record) -> Option<Record> {
        self.map.insert(name, record)
    }

    /// Removes `name`; returns its record.
    pub fn remove(&mut self, name: &Reference) -> Option<Record> {
        self.map.remove(name)
    }

    /// All records, ordered by reference.
    pub fn iter(&self) -> impl Iterator<Item = (&Reference, &Record)> {
        self.map.iter()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if there are no records.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The digests the records point at (the first roots of a gc).
    pub fn digests(&self) -> std::collections::BTreeSet<Digest> {
        self.map.values().map(|r| r.digest.clone()).collect()
    }
}

impl Store {
    fn records_path(&self) -> PathBuf {
        self.root().join(RECORDS)
    }

    /// The current records (empty if none were ever written).
    pub fn records(&self) -> Result<Records> {
        let path = self.records_path();
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Records::default()),
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let file: RecordsFile =
            serde_json::from_slice(&bytes).map_err(|e| Error::CorruptRecords {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if file.version != VERSION {
            return Err(Error::CorruptRecords {
                path,
                reason: format!("version {} is not the supported {VERSION}", file.version),
            });
        }
        Ok(Records { map: file.images })
    }

    /// Runs `f` on the records under the records lock and writes them back
    /// atomically if `f` changed them and returned `Ok`.
    pub fn update_records<T>(&self, f: impl FnOnce(&mut Records) -> Result<T>) -> Result<T> {
        let lock_path = self.root().join(RECORDS_LOCK);
        let lock = open_lock_file(&lock_path)?;
        lock.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        let before = self.records()?;
        let mut records = before.clone();
        let out = f(&mut records)?;
        if records != before {
            self.write_records(&records)?;
        }
        drop(lock);
        Ok(out)
    }

    /// Points `name` at `record`; returns the previous record.
    pub fn set_record(&self, name: &Reference, record: Record) -> Result<Option<Record>> {
        self.update_records(|r| Ok(r.insert(name.clone(), record)))
    }

    /// Removes the record of `name`; returns it.
    pub fn remove_record(&self, name: &Reference) -> Result<Option<Record>> {
        self.update_records(|r| Ok(r.remove(name)))
    }

    /// The record of `name`.
    pub fn record(&self, name: &Reference) -> Result<Option<Record>> {
        Ok(self.records()?.get(name).cloned())
    }

    fn write_records(&self, records: &Records) -> Result<()> {
        let file = RecordsFile {
            version: VERSION,
            images: records.map.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).map_err(|e| Error::CorruptRecords {
            path: self.records_path(),
            reason: e.to_string(),
        })?;
        bytes.push(b'\n');
        // Under the lock, so one fixed temporary name is enough; a crash
        // leaves at most a stale temporary that the next write truncates.
        let tmp = self.root().join(RECORDS_TMP);
        let mut f = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io("write", &tmp, e))?;
        drop(f);
        let path = self.records_path();
        fs::rename(&tmp, &path).map_err(|e| Error::io("rename into place", &path, e))?;
        sync_dir(self.root())
    }
}
