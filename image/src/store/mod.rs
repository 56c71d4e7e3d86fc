//! The content-addressed blob store under a data root.
//!
//! Layout (see ARCHITECTURE.md):
//!
//! ```text
//! blobs/<algorithm>/<hex>   verified content only, read-only files
//! ingest/<key>/             one partial write: `data` and `ref` (key = sha256 of the ref)
//! images.json               image records, replaced atomically
//! images.json.lock          serialises record updates (flock)
//! store.lock                leases (shared flock) against gc (exclusive)
//! ```
//!
//! Invariants: a file appears under `blobs/` only by a rename of a fully
//! written, fsynced partial whose digest (and size, when known) matched, so
//! every blob is valid content and a crash at any point leaves either no
//! blob or a complete one. One writer at a time owns an ingest (flock on
//! its directory); others wait, then find the blob present. gc runs only
//! when no lease is held, so it never removes a blob a pull or build has
//! written but not yet recorded.

mod gc;
mod images;
mod ingest;
mod overlay;
mod records;
mod snapshot;

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use gc::{GcOptions, GcReport};
pub use images::{Image, ImageEntry};
pub use ingest::{BlobInfo, Expected, Ingest, IngestStatus, IngestWriter};
pub use overlay::{Overlay, OverlayOptions, unmount_overlay};
pub use records::{Record, Records};

use crate::digest::{Algorithm, Digest, VerifyingReader};
use crate::error::{Error, Result};

const BLOBS: &str = "blobs";
const INGEST: &str = "ingest";
const STORE_LOCK: &str = "store.lock";

/// A blob store rooted at a data root. Cheap to clone; clones share the
/// in-process lease count.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// Leases held by this process, so gc can refuse instead of waiting on
    /// its own shared lock forever.
    leases: AtomicUsize,
}

impl Store {
    /// Opens the store at `root`, creating its directories if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        for dir in [
            root.clone(),
            root.join(BLOBS).join(Algorithm::Sha256.as_str()),
            root.join(INGEST),
        ] {
            fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                leases: AtomicUsize::new(0),
            }),
        })
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root()
            .join(BLOBS)
            .join(digest.algorithm().as_str())
            .join(digest.hex())
    }

    /// True if the blob is in the store.
    pub fn contains(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.blob_path(digest);
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobNotFound(digest.clone()),
            _ => Error::io("open", path, e),
        })
    }

    /// The size of a blob.
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let path = self.blob_path(digest);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound(digest.clone()))
            }
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }

    /// Reads a whole blob (a manifest or config), checking its digest on
    /// the way so on-disk corruption is reported rather than parsed.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.read_verified(digest, &mut out)?;
        Ok(out)
    }

    /// Re-hashes a blob and checks it still matches its name; returns its
    /// size.
    pub fn verify_blob(&self, digest: &Digest) -> Result<u64> {
        self.read_verified(digest, &mut io::sink())
    }

    fn read_verified(&self, digest: &Digest, out: &mut impl io::Write) -> Result<u64> {
        let file = self.open_blob(digest)?;
        let mut r = VerifyingReader::new(file, digest.clone(), None);
        io::copy(&mut r, out).map_err(|e| blob_read_error(digest, self.blob_path(digest), e))
    }

    /// Stores `data` and returns its sha256 digest.
    pub fn write_blob(&self, data: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256(data);
        let expected = Expected::new(digest.clone(), data.len() as u64);
        self.write_blob_from(&mut &data[..], &format!("write-{digest}"), expected)?;
        Ok(digest)
    }

    /// Streams `reader` into the store under the ingest `reference`,
    /// resuming a partial left by an earlier attempt (the reader must then
    /// start at [`IngestWriter::offset`], so this is for sources that
    /// produce the same bytes again — use [`Store::ingest`] to seek them).
    /// Returns at once if the expected blob is already present.
    pub fn write_blob_from(
        &self,
        reader: &mut impl Read,
        reference: &str,
        expected: Expected,
    ) -> Result<BlobInfo> {
        match self.ingest(reference, expected)? {
            Ingest::Exists(info) => Ok(info),
            Ingest::Writer(mut w) => {
                let skip = w.offset();
                if skip > 0 {
                    io::copy(&mut reader.by_ref().take(skip), &mut io::sink())
                        .map_err(|e| Error::io("skip resumed bytes of", w.data_path(), e))?;
                }
                io::copy(reader, &mut w).map_err(|e| w.write_error(e))?;
                w.commit()
            }
        }
    }

    /// Removes a blob; false if it was not there.
    pub fn delete_blob(&self, digest: &Digest) -> Result<bool> {
        let path = self.blob_path(digest);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }

    /// Every blob in the store, sorted. Files whose names are not digests
    /// are skipped with a warning.
    pub fn blobs(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        let blobs = self.root().join(BLOBS);
        for alg in read_dir_names(&blobs)? {
            let dir = blobs.join(&alg);
            for hex in read_dir_names(&dir)? {
                match Digest::parse(&format!("{alg}:{hex}")) {
                    Ok(d) => out.push(d),
                    Err(e) => tracing::warn!(path = %dir.join(&hex).display(), "not a blob: {e}"),
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Takes a lease: while any lease is held (by any process), gc waits,
    /// so blobs written under the lease survive until they are recorded.
    /// Hold one across a whole pull or build.
    pub fn lease(&self) -> Result<Lease> {
        let path = self.root().join(STORE_LOCK);
        let file = open_lock_file(&path)?;
        file.lock_shared()
            .map_err(|e| Error::io("lock (shared)", &path, e))?;
        self.inner.leases.fetch_add(1, Ordering::SeqCst);
        Ok(Lease {
            _file: file,
            store: self.inner.clone(),
        })
    }

    fn ingest_dir(&self) -> PathBuf {
        self.root().join(INGEST)
    }
}

/// Keeps gc away while held; see [`Store::lease`].
#[derive(Debug)]
#[must_use = "the lease ends when dropped"]
pub struct Lease {
    /// The shared flock, released when the file closes.
    _file: File,
    store: Arc<Inner>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.store.leases.fetch_sub(1, Ordering::SeqCst);
    }
}

fn blob_read_error(digest: &Digest, path: PathBuf, e: io::Error) -> Error {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<crate::error::DigestError>())
    {
        Some(de) => Error::Digest {
            digest: digest.to_string(),
            source: de.clone(),
        },
        None => Error::io("read", path, e),
    }
}

/// Opens (creating) a lock file that is never deleted, so its inode is
/// stable and every process locks the same one.
fn open_lock_file(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("open lock file", path, e))
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read directory", dir, e)),
    };
    let mut names = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("read directory", dir, e))?;
        match entry.file_name().into_string() {
            Ok(name) => names.push(name),
            Err(name) => tracing::warn!(dir = %dir.display(), ?name, "skipping a non-UTF-8 name"),
        }
    }
    names.sort();
    Ok(names)
}

/// fsync of a directory, so a rename or unlink in it survives a crash.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
pub(crate) use tests::images as tests_support;
