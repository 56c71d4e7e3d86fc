//! Errors of cgroup operations. Each names the cgroup file or setting it is
//! about; the underlying OS error, when there is one, is the `source`.

use std::io;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::signal::Signal;

use super::Version;

/// Errors of cgroup operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// `linux.cgroupsPath` (or the container id it defaults to) cannot name
    /// a cgroup.
    #[error("invalid cgroups path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No usable cgroup filesystem is mounted.
    #[error("no cgroup hierarchy found: {reason}")]
    NoHierarchy {
        /// What was looked at.
        reason: String,
    },
    /// Reading a cgroup file failed.
    #[error("reading {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Writing a value to a cgroup file failed.
    #[error("writing {value} to {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What was written.
        value: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A cgroup file held something unexpected.
    #[error("unexpected content in {path}: {content:?}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// Creating a cgroup directory failed.
    #[error("creating cgroup {path}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Removing a cgroup directory failed.
    #[error("removing cgroup {path}")]
    Remove {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A `linux.resources` value is out of range or malformed.
    #[error("invalid linux.resources.{field} {value:?}: {reason}")]
    InvalidResource {
        /// The setting, e.g. `memory.limit`.
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A setting this cgroup version has no knob for was asked for.
    #[error("linux.resources.{field} is not supported on cgroup {version}")]
    Unsupported {
        /// The setting.
        field: &'static str,
        /// The host's cgroup version.
        version: Version,
    },
    /// A setting needs a controller that is not mounted or not enabled.
    #[error(
        "cgroup controller {controller} is not available, but linux.resources.{field} needs it"
    )]
    ControllerMissing {
        /// The controller, e.g. `net_cls`.
        controller: String,
        /// The setting that needs it.
        field: &'static str,
    },
    /// A `linux.resources.devices` rule cannot be applied.
    #[error("device rule {rule} rejected: {reason}")]
    DeviceRule {
        /// The rule, in devices.allow form.
        rule: String,
        /// Why.
        reason: String,
    },
    /// The v1 devices cgroup does not hold the requested rules after they
    /// were written.
    #[error("devices cgroup {path} does not match the requested rules after writing them")]
    DevicesMismatch {
        /// The devices.list file.
        path: PathBuf,
    },
    /// The kernel refused the eBPF device filter program.
    #[error("loading the eBPF device filter for {path}: verifier log: {log:?}")]
    BpfLoad {
        /// The cgroup directory it was for.
        path: PathBuf,
        /// The verifier's log.
        log: String,
        /// The errno of the load.
        #[source]
        source: Errno,
    },
    /// Attaching, listing or detaching device filters failed.
    #[error("{op} on {path}")]
    Bpf {
        /// The bpf(2) command, e.g. `BPF_PROG_ATTACH`.
        op: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The cgroup did not reach the frozen state.
    #[error("cgroup {path} did not freeze; it was thawed again")]
    FreezeTimeout {
        /// The cgroup directory.
        path: PathBuf,
    },
    /// A process id that cannot be a process.
    #[error("invalid process id {pid}")]
    InvalidPid {
        /// The id.
        pid: i32,
    },
    /// Signalling a process of the cgroup failed.
    #[error("sending {signal} to process {pid}")]
    Signal {
        /// The process.
        pid: i32,
        /// The signal.
        signal: Signal,
        /// The errno.
        #[source]
        source: Errno,
    },
}
