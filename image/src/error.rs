//! Errors of the image library.
//!
//! Parsing has its own small enums ([`DigestError`], [`ReferenceError`]) so
//! `FromStr` stays precise; everything that touches the store or a layer
//! returns [`Error`], whose variants name the path, entry or digest at
//! fault.

use std::path::PathBuf;

use crate::digest::{Algorithm, Digest};

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A digest string that is not valid, or content that does not match one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// Not `algorithm:hex`.
    #[error("invalid digest {input:?}: expected <algorithm>:<hex>")]
    Format {
        /// The text given.
        input: String,
    },
    /// Well formed, but an algorithm this library does not implement.
    #[error("unsupported digest algorithm {algorithm:?}: use sha256, sha384 or sha512")]
    UnsupportedAlgorithm {
        /// The algorithm named.
        algorithm: String,
    },
    /// The hex part has the wrong length for its algorithm.
    #[error("invalid digest {input:?}: {algorithm} needs {expected} hex digits, found {found}")]
    Length {
        /// The text given.
        input: String,
        /// Its algorithm.
        algorithm: Algorithm,
        /// Hex digits the algorithm produces.
        expected: usize,
        /// Hex digits given.
        found: usize,
    },
    /// The hex part has characters other than `0-9a-f`.
    #[error("invalid digest {input:?}: the hex part must be lowercase 0-9a-f")]
    Hex {
        /// The text given.
        input: String,
    },
    /// Content hashed to another digest.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The digest the content should have.
        expected: Digest,
        /// The digest it has.
        actual: Digest,
    },
    /// Content had another length.
    #[error("content size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The size the content should have.
        expected: u64,
        /// The size seen (so far, if larger).
        actual: u64,
    },
}

/// A reference string that docker would not accept, naming the bad part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The empty string.
    #[error("invalid reference: the name is empty")]
    Empty,
    /// 64 hex digits, which docker reserves for image ids.
    #[error(
        "invalid repository name {input:?}: 64-character hexadecimal strings are image ids, not names"
    )]
    HexIdentifier {
        /// The text given.
        input: String,
    },
    /// The repository path has uppercase letters.
    #[error("invalid reference {input:?}: repository name {repository:?} must be lowercase")]
    Uppercase {
        /// The text given.
        input: String,
        /// The repository part that has them.
        repository: String,
    },
    /// Nothing before the tag or digest.
    #[error("invalid reference {input:?}: no repository name before the tag or digest")]
    MissingName {
        /// The text given.
        input: String,
    },
    /// The registry part is not `host[:port]`.
    #[error("invalid reference {input:?}: {domain:?} is not a registry host[:port]")]
    InvalidDomain {
        /// The text given.
        input: String,
        /// The registry part.
        domain: String,
    },
    /// A path element breaks the repository grammar.
    #[error(
        "invalid reference {input:?}: repository path component {component:?} must be lowercase letters and digits, separated by one '.', one or two '_', or '-'s"
    )]
    InvalidPathComponent {
        /// The text given.
        input: String,
        /// The offending element (may be empty, as in `a//b`).
        component: String,
    },
    /// The tag breaks `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error(
        "invalid reference {input:?}: tag {tag:?} must be 1 to 128 of A-Z a-z 0-9 _ . - and not start with . or -"
    )]
    InvalidTag {
        /// The text given.
        input: String,
        /// The tag.
        tag: String,
    },
    /// `domain/path` is longer than 255 bytes.
    #[error(
        "invalid reference {input:?}: the repository name is {length} bytes, at most 255 are allowed"
    )]
    NameTooLong {
        /// The text given.
        input: String,
        /// Length of `domain/path`.
        length: usize,
    },
    /// The digest after `@` is not valid.
    #[error("invalid reference {input:?}: bad digest")]
    Digest {
        /// The text given.
        input: String,
        /// What is wrong with the digest.
        #[source]
        source: DigestError,
    },
}

/// Everything that can go wrong in the store or while (un)packing a layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on a path failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A digest or size did not match.
    #[error("blob {digest}")]
    Digest {
        /// The blob or layer concerned.
        digest: String,
        /// The mismatch.
        #[source]
        source: DigestError,
    },
    /// A manifest, index or config blob is unusable.
    #[error("manifest {digest}")]
    Manifest {
        /// The blob.
        digest: Digest,
        /// What is wrong.
        #[source]
        source: crate::manifest::ManifestError,
    },
    /// An image's manifest and config do not fit together.
    #[error("image {digest} is invalid: {reason}")]
    InvalidImage {
        /// The manifest (or config) digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// An image archive (`load`) is unusable.
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
    /// No image matches what was asked for.
    #[error("no such image: {0} (see `rbox images`; pull it with `rbox pull`)")]
    ImageNotFound(String),
    /// A short id matches more than one image.
    #[error("image id prefix {0} matches more than one image: give more digits")]
    AmbiguousImage(String),
    /// A layer could not be unpacked as a snapshot.
    #[error("layer {diff_id} (chain {chain_id})")]
    Snapshot {
        /// The layer's diff id.
        diff_id: Digest,
        /// Its chain id.
        chain_id: Digest,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// A blob is not in the store.
    #[error("blob {0} is not in the store")]
    BlobNotFound(Digest),
    /// An ingest reference is unusable as given.
    #[error("invalid ingest reference {reference:?}: {reason}")]
    InvalidIngestRef {
        /// The reference given.
        reference: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// Another writer holds the ingest (non-blocking attempts only).
    #[error("ingest {reference:?} is locked by another writer")]
    IngestLocked {
        /// The reference.
        reference: String,
    },
    /// A partial ingest is longer than the expected size.
    #[error(
        "partial ingest {reference:?} has {offset} bytes, more than the expected {expected}; it was removed"
    )]
    IngestTooLong {
        /// The reference.
        reference: String,
        /// Bytes in the partial.
        offset: u64,
        /// The expected size.
        expected: u64,
    },
    /// gc was called while this process holds a lease on the same store
    /// (it would wait for itself forever).
    #[error("store {root} is leased by this process; drop every Lease before gc")]
    LeasedBySelf {
        /// The store's data root.
        root: PathBuf,
    },
    /// The image records file cannot be read.
    #[error("image records {path} are corrupt: {reason}")]
    CorruptRecords {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// The layer stream is compressed in a format this library does not
    /// read.
    #[error("layer is compressed with {format}, which is not supported (use gzip, zstd or none)")]
    UnsupportedCompression {
        /// The format recognised from its magic bytes.
        format: &'static str,
    },
    /// The layer stream is not a valid (compressed) tar archive.
    #[error("layer is not a valid tar stream{}", entry.as_ref().map(|e| format!(" after entry {e:?}")).unwrap_or_default())]
    Tar {
        /// The last entry read successfully, if any.
        entry: Option<String>,
        /// The reader's error.
        #[source]
        source: std::io::Error,
    },
    /// A layer entry is refused: its name or link target would escape the
    /// target, or it is malformed.
    #[error("layer entry {entry:?}: {reason}")]
    UnsafeEntry {
        /// The entry's name as in the archive.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// Applying a layer entry failed.
    #[error("layer entry {entry:?}: {op}")]
    Entry {
        /// The entry's name as in the archive.
        entry: String,
        /// What was being done.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file changed while it was being packed into a layer.
    #[error("{path} changed while it was being packed")]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// An overlayfs upper directory uses a feature whose files are not
    /// self-contained (metacopy, redirect_dir), so it cannot be packed.
    #[error(
        "{path} has the overlayfs attribute {attribute}: mount the overlay without metacopy and redirect_dir to pack its upper directory"
    )]
    OverlayFeature {
        /// The file or directory.
        path: PathBuf,
        /// The attribute found.
        attribute: &'static str,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
