//! rbox-runtime: turns an OCI bundle into a running container.
//!
//! The crate is synchronous and never spawns threads: container creation
//! clones the calling process, which must be single-threaded at that point.
//! It never prints or exits; it logs through `tracing`.
//!
//! ```no_run
//! use rbox_runtime::{ContainerId, CreateOptions, Runtime};
//! let rt = Runtime::new("/run/rbox");
//! let id = ContainerId::new("demo")?;
//! let mut c = rt.create(&id, &CreateOptions::new("/path/to/bundle"))?;
//! c.start()?;
//! # Ok::<(), rbox_runtime::Error>(())
//! ```

pub use oci_spec;

pub mod cgroup;
mod channel;
mod container;
pub mod error;
mod exec;
pub mod hook;
mod id;
mod init;
pub mod mount;
mod process;
mod rootfs;
mod rootfs_cgroup;
pub mod seccomp;
mod seccomp_notify;
mod selfexe;
pub mod state;
pub(crate) mod sys;
mod tty;
mod validate;
mod wait;

pub use container::{Container, CreateOptions, Runtime, wait_exit_code, write_pid_file};
pub use error::{Error, Result};
pub use exec::ExecOptions;
pub use id::ContainerId;
pub use selfexe::ensure_sealed_self;
pub use state::{ContainerState, Status};
pub use validate::{parse_spec, validate};
