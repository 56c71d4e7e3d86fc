//! Writing blobs: partials under `ingest/`, verified, then renamed into
//! `blobs/`.
//!
//! An ingest is named by a caller's reference string (a pull uses the
//! blob's digest, so concurrent pulls of one layer meet on one ingest). Its
//! directory `ingest/<sha256 of ref>/` holds `data` (the bytes so far) and
//! `ref` (the reference, for listings). The writer holds an exclusive flock
//! on the directory for its whole life; a waiter that gets the lock after
//! the owner committed (and removed the directory) sees that the path no
//! longer names the inode it locked and starts over, then finds the blob.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::{Lease, Store, read_dir_names, sync_dir};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::error::{DigestError, Error, Result};

/// What a blob being written should turn out to be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expected {
    /// The digest, when known (a pull); checked at commit.
    pub digest: Option<Digest>,
    /// The size in bytes, when known; a write past it fails at once.
    pub size: Option<u64>,
}

impl Expected {
    /// A blob of known digest and size (a descriptor).
    pub fn new(digest: Digest, size: u64) -> Self {
        Self {
            digest: Some(digest),
            size: Some(size),
        }
    }

    /// A blob of known digest, size unknown.
    pub fn digest(digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            size: None,
        }
    }

    /// A blob whose digest is learnt at commit (a layer being packed).
    pub fn unknown() -> Self {
        Self::default()
    }
}

/// A blob in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlobInfo {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
}

/// The outcome of [`Store::ingest`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Ingest {
    /// The expected blob is already in the store: nothing to write.
    Exists(BlobInfo),
    /// This caller owns the ingest and writes the (rest of the) content.
    Writer(Box<IngestWriter>),
}

/// A partial ingest, as listed by [`Store::ingests`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IngestStatus {
    /// The reference it was started with (empty if its `ref` file is
    /// missing).
    pub reference: String,
    /// Bytes written so far.
    pub offset: u64,
}

/// The owner of an ingest: write the content, then [`commit`].
///
/// Dropping it without commit keeps the partial for a later resume and
/// releases the lock.
///
/// [`commit`]: IngestWriter::commit
#[derive(Debug)]
pub struct IngestWriter {
    store: Store,
    reference: String,
    dir: PathBuf,
    /// The locked directory; the flock lives as long as this file.
    _lock: File,
    data: File,
    hasher: Hasher,
    offset: u64,
    expected: Expected,
    _lease: Lease,
}

impl Store {
    /// Starts or resumes the ingest `reference`, waiting for another writer
    /// of the same reference to finish first.
    ///
    /// Returns [`Ingest::Exists`] when the expected blob is present (also
    /// after waiting for a writer that committed it). Otherwise the writer
    /// has re-hashed any partial left by an earlier attempt and continues
    /// at [`IngestWriter::offset`].
    pub fn ingest(&self, reference: &str, expected: Expected) -> Result<Ingest> {
        self.start_ingest(reference, expected, true)
    }

    /// [`Store::ingest`] that fails with [`Error::IngestLocked`] instead of
    /// waiting.
    pub fn try_ingest(&self, reference: &str, expected: Expected) -> Result<Ingest> {
        self.start_ingest(reference, expected, false)
    }

    fn start_ingest(&self, reference: &str, expected: Expected, wait: bool) -> Result<Ingest> {
        if reference.is_empty() {
            return Err(Error::InvalidIngestRef {
                reference: reference.to_owned(),
                reason: "it is empty",
            });
        }
        if let Some(info) = self.existing(&expected)? {
            return Ok(Ingest::Exists(info));
        }
        let lease = self.lease()?;
        let dir = self.ingest_dir().join(ingest_key(reference));
        let lock = lock_ingest_dir(&dir, reference, wait)?;
        // The writer we may have waited for could have committed it.
        if let Some(info) = self.existing(&expected)? {
            remove_partial(&dir)?;
            return Ok(Ingest::Exists(info));
        }
        let ref_path = dir.join("ref");
        if !ref_path.exists() {
            fs::write(&ref_path, reference).map_err(|e| Error::io("write", &ref_path, e))?;
        }
        let data_path = dir.join("data");
        let mut data = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&data_path)
            .map_err(|e| Error::io("open", &data_path, e))?;
        let algorithm = expected
            .digest
            .as_ref()
            .map_or(Algorithm::Sha256, Digest::algorithm);
        let mut hasher = Hasher::new(algorithm);
        // Resume: the hash state is not stored, so re-hash what is there.
        let offset = io::copy(&mut data, &mut hasher)
            .map_err(|e| Error::io("read partial", &data_path, e))?;
        if let Some(size) = expected.size
            && offset > size
        {
            remove_partial(&dir)?;
            return Err(Error::IngestTooLong {
                reference: reference.to_owned(),
                offset,
                expected: size,
            });
        }
        data.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("seek", &data_path, e))?;
        if offset > 0 {
            tracing::debug!(reference, offset, "resuming ingest");
        }
        Ok(Ingest::Writer(Box::new(IngestWriter {
            store: self.clone(),
            reference: reference.to_owned(),
            dir,
            _lock: lock,
            data,
            hasher,
            offset,
            expected,
            _lease: lease,
        })))
    }

    /// The blob `expected` names, if present. A present blob of another
    /// size means the caller's descriptor is wrong: an error, not a
    /// re-download.
    fn existing(&self, expected: &Expected) -> Result<Option<BlobInfo>> {
        let Some(digest) = &expected.digest else {
            return Ok(None);
        };
        if !self.contains(digest)? {
            return Ok(None);
        }
        let size = self.blob_size(digest)?;
        if let Some(want) = expected.size
            && want != size
        {
            return Err(Error::Digest {
                digest: digest.to_string(),
                source: DigestError::SizeMismatch {
                    expected: want,
                    actual: size,
                },
            });
        }
        Ok(Some(BlobInfo {
            digest: digest.clone(),
            size,
        }))
    }

    /// The partial ingests, sorted by reference.
    pub fn ingests(&self) -> Result<Vec<IngestStatus>> {
        let mut out = Vec::new();
        for key in read_dir_names(&self.ingest_dir())? {
            let dir = self.ingest_dir().join(key);
            let reference = fs::read_to_string(dir.join("ref")).unwrap_or_default();
            let offset = fs::metadata(dir.join("data")).map_or(0, |m| m.len());
            out.push(IngestStatus { reference, offset });
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// Removes the partial of `reference`, waiting for its writer if one
    /// is active; false if there was none.
    pub fn abort_ingest(&self, reference: &str) -> Result<bool> {
        let dir = self.ingest_dir().join(ingest_key(reference));
        if !dir.exists() {
            return Ok(false);
        }
        let _lock = lock_ingest_dir(&dir, reference, true)?;
        remove_partial(&dir)?;
        Ok(true)
    }
}

impl IngestWriter {
    /// The ingest reference.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// Bytes already written: where a resumed download continues (an HTTP
    /// `Range: bytes=<offset>-`).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// What the content should turn out to be.
    pub fn expected(&self) -> &Expected {
        &self.expected
    }

    pub(crate) fn data_path(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Turns an I/O error from writing into this ingest into the crate's
    /// error, keeping a size overflow recognisable.
    pub fn write_error(&self, e: io::Error) -> Error {
        match e.get_ref().and_then(|i| i.downcast_ref::<DigestError>()) {
            Some(de) => Error::Digest {
                digest: self.label(),
                source: de.clone(),
            },
            None => Error::io("write", self.data_path(), e),
        }
    }

    fn label(&self) -> String {
        self.expected
            .digest
            .as_ref()
            .map_or_else(|| self.reference.clone(), Digest::to_string)
    }

    /// Checks the content against what was expected and, if it matches,
    /// makes it a blob (fsync, rename, fsync of the directory). On a
    /// mismatch the partial is removed and the error says what differed.
    pub fn commit(self) -> Result<BlobInfo> {
        let data_path = self.data_path();
        self.data
            .sync_all()
            .map_err(|e| Error::io("fsync", &data_path, e))?;
        let digest = self.hasher.clone().finish();
        let size = self.offset;
        let mismatch = match (&self.expected.size, &self.expected.digest) {
            (Some(want), _) if *want != size => Some(DigestError::SizeMismatch {
                expected: *want,
                actual: size,
            }),
            (_, Some(want)) if *want != digest => Some(DigestError::Mismatch {
                expected: want.clone(),
                actual: digest.clone(),
            }),
            _ => None,
        };
        if let Some(source) = mismatch {
            remove_partial(&self.dir)?;
            return Err(Error::Digest {
                digest: self.label(),
                source,
            });
        }
        let blob = self.store.blob_path(&digest);
        let blob_dir = blob
            .parent()
            .expect("a blob path has an algorithm directory")
            .to_path_buf();
        fs::create_dir_all(&blob_dir).map_err(|e| Error::io("create directory", &blob_dir, e))?;
        if self.store.contains(&digest)? {
            // Another reference wrote the same content meanwhile.
            remove_partial(&self.dir)?;
        } else {
            fs::set_permissions(&data_path, fs::Permissions::from_mode(0o444))
                .map_err(|e| Error::io("chmod", &data_path, e))?;
            fs::rename(&data_path, &blob).map_err(|e| Error::io("rename into place", &blob, e))?;
            sync_dir(&blob_dir)?;
            remove_partial(&self.dir)?;
        }
        tracing::debug!(%digest, size, reference = %self.reference, "blob committed");
        Ok(BlobInfo { digest, size })
    }

    /// Removes the partial.
    pub fn abort(self) -> Result<()> {
        remove_partial(&self.dir)
    }
}

impl Write for IngestWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(size) = self.expected.size {
            let end = self.offset + buf.len() as u64;
            if end > size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    DigestError::SizeMismatch {
                        expected: size,
                        actual: end,
                    },
                ));
            }
        }
        let n = self.data.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.offset += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.data.flush()
    }
}

/// The directory name of an ingest: fixed length and free of `/`, whatever
/// the reference contains.
fn ingest_key(reference: &str) -> String {
    Digest::sha256(reference.as_bytes()).hex().to_owned()
}

/// Creates (if needed) and locks `dir`, retrying until the locked inode is
/// still the one at `dir` (a committing owner removes the directory while
/// waiters queue on it).
fn lock_ingest_dir(dir: &Path, reference: &str, wait: bool) -> Result<File> {
    loop {
        match fs::create_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("create directory", dir, e)),
        }
        let f = match File::open(dir) {
            Ok(f) => f,
            // Removed between our mkdir and open: start over.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("open", dir, e)),
        };
        if wait {
            f.lock().map_err(|e| Error::io("lock", dir, e))?;
        } else {
            match f.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::IngestLocked {
                        reference: reference.to_owned(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::io("lock", dir, e)),
            }
        }
        let held = f.metadata().map_err(|e| Error::io("stat", dir, e))?;
        match fs::symlink_metadata(dir) {
            Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => return Ok(f),
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("stat", dir, e)),
        }
    }
}

/// Removes an ingest directory and what is in it; called with its lock
/// held.
pub(super) fn remove_partial(dir: &Path) -> Result<()> {
    for name in ["data", "ref"] {
        let p = dir.join(name);
        match fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", p, e)),
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove directory", dir, e)),
    }
}

/// True if `name` looks like an ingest directory (for gc's sweep).
pub(super) fn is_ingest_key(name: &OsStr) -> bool {
    name.len() == 64
        && name
            .as_encoded_bytes()
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
