//! Every raw system call of the crate, wrapped once with its safety argument.

pub(crate) mod bpf;
pub(crate) mod seccomp;
