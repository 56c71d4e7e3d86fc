//! Errors of fixture building.

use std::path::PathBuf;
use std::process::ExitStatus;

/// Result with the fixtures' [`FixtureError`].
pub type Result<T, E = FixtureError> = std::result::Result<T, E>;

/// Everything that can go wrong while building a fixture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixtureError {
    /// The busybox binary could not be read.
    #[error("cannot read busybox at {path}; install Debian's busybox-static")]
    BusyboxMissing {
        /// Where busybox was looked for.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The busybox binary is not a statically linked ELF executable, so it
    /// would not run inside a rootfs without its libraries.
    #[error("{path} is not a statically linked ELF executable; install Debian's busybox-static")]
    NotStatic {
        /// The binary that was checked.
        path: PathBuf,
    },
    /// `busybox --list-full` could not be run.
    #[error("cannot run {path} --list-full")]
    AppletList {
        /// The busybox binary.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `busybox --list-full` failed.
    #[error("{path} --list-full exited with {status}")]
    AppletListFailed {
        /// The busybox binary.
        path: PathBuf,
        /// How it exited.
        status: ExitStatus,
    },
    /// `busybox --list-full` printed a path that is not a plain relative
    /// path, which would place a link outside the rootfs.
    #[error("{path} --list-full printed an invalid applet path {applet:?}")]
    InvalidApplet {
        /// The busybox binary.
        path: PathBuf,
        /// The offending line.
        applet: String,
    },
    /// The destination exists and is not an empty directory.
    #[error("destination {path} exists and is not an empty directory")]
    DestNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// The per-user cache directory is not ours; using it would let another
    /// user plant the rootfs.
    #[error(
        "fixture cache directory {path} is owned by uid {owner}, not {uid}, or is not a directory"
    )]
    CacheNotOurs {
        /// The cache directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        uid: u32,
    },
    /// The image store refused the fixture image.
    #[error("cannot make the busybox image")]
    Image(#[from] rbox_image::Error),
    /// The image name given is not a valid reference.
    #[error("invalid image name {name:?}")]
    InvalidName {
        /// The name.
        name: String,
        /// Why.
        #[source]
        source: rbox_image::ReferenceError,
    },
    /// A file system operation failed.
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
    /// The config could not be serialized.
    #[error("cannot serialize config for {path}")]
    Json {
        /// The config file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
}

impl FixtureError {
    /// Builds an [`FixtureError::Io`] closure for `map_err`.
    pub(crate) fn io(
        op: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { op, path, source }
    }
}
