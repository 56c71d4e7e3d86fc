//! Errors of the runtime library.

use std::path::PathBuf;

use crate::state::Status;

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while creating or managing a container.
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
    /// A system call failed.
    #[error("{call}")]
    Sys {
        /// The system call and its salient argument.
        call: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// config.json is not valid JSON for the runtime spec.
    #[error("{path} is not a valid runtime-spec config: {reason}")]
    BadConfigJson {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the field and position).
        reason: String,
    },
    /// The container configuration is not valid.
    #[error("invalid config: {0}")]
    InvalidConfig(String),
    /// The container id is not acceptable.
    #[error(
        "invalid container id {0:?}: use 1-1024 characters of A-Z a-z 0-9 _ + . - not starting with . or -"
    )]
    InvalidId(String),
    /// A container with this id exists.
    #[error("container {0:?} already exists")]
    Exists(String),
    /// No container with this id.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// The operation does not fit the container's status.
    #[error("container {id:?} is {status}, it must be {want}")]
    WrongState {
        /// Container id.
        id: String,
        /// Its status.
        status: Status,
        /// What the operation needs.
        want: &'static str,
    },
    /// state.json cannot be read.
    #[error("container state {path} is corrupt: {reason}")]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// The container init reported a failure during setup.
    #[error("{0}")]
    ContainerInit(String),
    /// The process cannot be executed.
    #[error("exec: {path:?}: {reason}")]
    Exec {
        /// The program.
        path: String,
        /// Why not.
        reason: String,
    },
    /// The working directory cannot be entered.
    #[error("process.cwd {path:?}: cannot chdir")]
    Cwd {
        /// The directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// Capabilities could not be applied.
    #[error("capabilities: {0}")]
    Capabilities(String),
    /// A hook failed.
    #[error("{kind} hook {path}: {reason}")]
    Hook {
        /// Which hook list.
        kind: String,
        /// The hook program.
        path: String,
        /// What happened.
        reason: String,
    },
    /// The runtime <-> init protocol broke.
    #[error("runtime protocol: {0}")]
    Protocol(String),
    /// Seccomp profile could not be compiled or installed.
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
}
