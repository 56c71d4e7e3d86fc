#![doc = include_str!("../README.md")]

pub use oci_spec;

pub mod cgroup;
mod channel;
mod container;
pub mod defaults;
pub mod error;
mod exec;
pub mod hook;
mod id;
mod init;
mod lsm;
pub mod mount;
mod mountinfo;
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
