//! rbox-runtime: turns an OCI bundle into a running container.
//!
//! The crate is synchronous and never spawns threads: container creation
//! forks the calling process, which must be single-threaded at that point.
//! It never prints or exits; it logs through `tracing`.

pub use oci_spec;

pub mod cgroup;
pub mod error;
pub mod seccomp;
pub(crate) mod sys;

pub use error::{Error, Result};
