//! Errors of the engine. Messages name the container, flag or path they
//! are about; the CLI prints the whole chain.

use std::path::PathBuf;

/// Result with the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an engine operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The image is not in the local store.
    #[error("no such image {name}: run `rbox pull {name}` first")]
    NoSuchImage {
        /// What the user asked for.
        name: String,
    },
    /// `--pull always` without a registry client.
    #[error("--pull {policy}: pulling is not available in this build; run `rbox pull {name}`")]
    PullUnavailable {
        /// The policy given.
        policy: String,
        /// The image.
        name: String,
    },
    /// Pulling the image failed.
    #[error("pulling {name}: {message}")]
    Pull {
        /// The image.
        name: String,
        /// The puller's message.
        message: String,
    },
    /// The image store failed.
    #[error("image {name}")]
    Image {
        /// The image.
        name: String,
        /// The store's error.
        #[source]
        source: rbox_image::Error,
    },
    /// A container name is taken.
    #[error(
        "the container name \"/{name}\" is already in use by container \"{id}\"; remove or rename that container to reuse the name"
    )]
    NameInUse {
        /// The name.
        name: String,
        /// The container holding it.
        id: String,
    },
    /// A container name is not valid.
    #[error("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")]
    InvalidName {
        /// The name.
        name: String,
    },
    /// No container matches a name or id (prefix).
    #[error("no such container: {0}")]
    NoSuchContainer(String),
    /// An id prefix matches more than one container.
    #[error("multiple containers match id prefix {0}: give more of the id")]
    AmbiguousId(String),
    /// A flag's value is malformed.
    #[error("invalid {flag} value {value:?}: {reason}")]
    InvalidFlag {
        /// The flag, e.g. `--memory`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A bind mount source does not exist.
    #[error("invalid mount: bind source path does not exist: {path}")]
    BindSource {
        /// The missing host path.
        path: PathBuf,
    },
    /// Neither the image nor the command line gave a command.
    #[error(
        "no command specified: the image has no Entrypoint or Cmd; give one after the image name"
    )]
    NoCommand,
    /// The user in `-u` is not in the image.
    #[error("unable to find user {user}: no matching entries in passwd file")]
    NoSuchUser {
        /// The user given.
        user: String,
    },
    /// The group in `-u` or `--group-add` is not in the image.
    #[error("unable to find group {group}: no matching entries in group file")]
    NoSuchGroup {
        /// The group given.
        group: String,
    },
    /// The container is in the wrong state for the operation.
    #[error("container {id} is {status}: {want}")]
    WrongState {
        /// The container.
        id: String,
        /// Its state.
        status: String,
        /// What the operation needs.
        want: &'static str,
    },
    /// The OCI runtime failed.
    #[error("container {id}")]
    Runtime {
        /// The container.
        id: String,
        /// The runtime's error.
        #[source]
        source: rbox_runtime::Error,
    },
    /// The container's command could not be started (not found, not
    /// executable): docker's exit codes 127/126.
    #[error("container {id}: {message}")]
    StartFailed {
        /// The container.
        id: String,
        /// The runtime's message.
        message: String,
        /// 126 (cannot execute) or 127 (not found) or 125.
        code: u8,
    },
    /// The monitor process failed or went away.
    #[error("container {id}: monitor: {message}")]
    Monitor {
        /// The container.
        id: String,
        /// What happened.
        message: String,
    },
    /// A file operation failed.
    #[error("{op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A system call failed.
    #[error("{call}")]
    Sys {
        /// The call and its subject.
        call: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// `rbox cp` cannot copy between these paths.
    #[error("copying {path}: {reason}")]
    Copy {
        /// The path as the user gave it.
        path: String,
        /// Why not.
        reason: &'static str,
    },
    /// A file operation of `rbox cp` failed.
    #[error("copying {path}: {op}")]
    CopyIo {
        /// The path as the user gave it.
        path: String,
        /// What failed.
        op: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Packing or unpacking the copied tree failed.
    #[error("copying {path}")]
    CopyTree {
        /// The path as the user gave it.
        path: String,
        /// The layer code's error.
        #[source]
        source: rbox_image::Error,
    },
    /// A record file is not valid JSON of the expected shape.
    #[error("container record {path} is corrupt")]
    Record {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A seccomp profile file is invalid.
    #[error("seccomp profile {path}")]
    SeccompProfile {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// `--init` needs a static init binary on the host.
    #[error(
        "--init: no init binary found (looked for $RBOX_INIT_PATH, docker-init and tini-static in $PATH); install Debian's tini"
    )]
    NoInitBinary,
    /// Networking failed.
    #[error("network for container {id}")]
    Network {
        /// The container.
        id: String,
        /// The network module's error.
        #[source]
        source: crate::network::NetworkError,
    },
    /// A volume operation failed.
    #[error("volume {name}")]
    Volume {
        /// The volume.
        name: String,
        /// The volume module's error.
        #[source]
        source: crate::volume::VolumeError,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn flag(flag: &'static str, value: &str, reason: impl Into<String>) -> Self {
        Error::InvalidFlag {
            flag,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The exit code docker uses for this error when `run` fails: 125
    /// for the engine's own failures, 126/127 when the command cannot be
    /// run.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::StartFailed { code, .. } => *code,
            _ => 125,
        }
    }
}
