//! Seccomp: compile `linux.seccomp` to a classic BPF program and install it.

/// Errors compiling or installing a seccomp profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {}
