//! Step execution: what a build does with each instruction once the
//! Dockerfile is parsed and expanded.
//!
//! - [`container`]: RUN in a build container on an overlay snapshot.
//! - [`copy`]: COPY/ADD sources from the context (or another stage's
//!   rootfs) written into the snapshot with no container, through the
//!   same root-confined unpacker that applies pulled layers.
//! - [`commit`]: the snapshot's upper directory packed into a layer blob
//!   (overlay whiteouts become OCI whiteouts) — never a walk of the whole
//!   filesystem.
//! - [`cache`]: step keys and the `build-cache/` records that let a
//!   cached step skip all of the above.
//! - [`user`]: `USER`/`--chown` names resolved in the image.

pub mod cache;
pub mod commit;
pub mod container;
pub mod copy;
pub mod user;

use std::path::{Path, PathBuf};

/// What can go wrong while executing a step.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// A file operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was done.
        op: &'static str,
        /// To what.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] rbox_image::Error),
    /// The runtime could not run the build container.
    #[error("cannot run the build container: {0}")]
    Runtime(String),
    /// A user or group name is not in the image.
    #[error("unable to find user {user}: {reason}")]
    UnknownUser {
        /// The USER or --chown value.
        user: String,
        /// Why.
        reason: String,
    },
    /// A COPY/ADD source is unusable.
    #[error("COPY source {source_path:?}: {reason}")]
    Source {
        /// The source as written.
        source_path: String,
        /// Why.
        reason: String,
    },
    /// A COPY/ADD destination is unusable.
    #[error("COPY destination {dest:?}: {reason}")]
    Dest {
        /// The destination as written.
        dest: String,
        /// Why.
        reason: String,
    },
    /// The build cache holds something unreadable.
    #[error("build cache record {path}: {reason}")]
    Cache {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl ExecError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        ExecError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
