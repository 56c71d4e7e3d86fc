//! Seccomp: compile `linux.seccomp` to a classic BPF program and install it.
//!
//! [`compile`] turns an OCI runtime-spec 1.2 profile into a [`Filter`]
//! without libseccomp: `profile` decides what each syscall number of each
//! ABI does, `codegen` writes the BPF and `bpf` lays it out with long-jump
//! trampolines. [`Filter::install`] loads it on the calling thread.
//! Compiling never touches the kernel, so the runtime can do it before
//! forking and report profile errors early; only `install` runs in the
//! container's init.
//!
//! The semantics are runc's on top of libseccomp's:
//! - the native ABI is always filtered; `architectures` adds more (x86_64
//!   hosts: x86_64, x86, x32; aarch64 hosts: aarch64, arm). Architectures
//!   outside the filter get `SCMP_ACT_KILL_THREAD` (libseccomp's bad-arch
//!   action), and so do x32 calls (`__X32_SYSCALL_BIT`) when x32 is not in
//!   the filter. Other libseccomp architectures are accepted but, with no
//!   syscall table here, get the bad-arch action too (logged as a warning);
//! - a rule whose action (errno included) equals the default is skipped;
//! - a name unknown on an ABI is skipped there; unknown everywhere, it is
//!   skipped with a debug log;
//! - args on distinct indices are ANDed; once two args share an index,
//!   each arg becomes a rule of its own, so they are ORed;
//! - for one syscall an unconditional rule beats conditional ones, the
//!   first unconditional one beats later ones; conditional rules are tried
//!   in profile order;
//! - `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` take `errnoRet`, `EPERM` if
//!   absent; `SCMP_ACT_KILL` is `SCMP_ACT_KILL_THREAD`;
//! - unless the default action is allow, log or trace, calls numbered above
//!   the highest one the profile names on an ABI listed in `architectures`
//!   return `ENOSYS`, so libcs fall back from calls newer than the profile;
//! - on 32-bit ABIs (x86, x32, arm) argument values are compared on their
//!   low 32 bits, on 64-bit ones as unsigned 64-bit numbers;
//! - `flags` absent means `SECCOMP_FILTER_FLAG_SPEC_ALLOW`, dropped if the
//!   kernel refuses it; `NEW_LISTENER` (and `TSYNC_ESRCH` with `TSYNC`) is
//!   added when a rule uses `SCMP_ACT_NOTIFY`.

mod arch;
mod bpf;
mod codegen;
mod profile;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use oci_spec::runtime::LinuxSeccomp;

use crate::sys::seccomp::{SetFilter, seccomp_set_mode_filter};
use profile::{FLAG_SPEC_ALLOW, FLAG_TSYNC};

/// `BPF_MAXINSNS`: the kernel refuses longer programs.
const MAX_INSTRUCTIONS: usize = 4096;

/// Errors compiling or installing a seccomp profile.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SeccompError {
    /// We have no syscall table for the machine we run on.
    #[error("seccomp filters are not supported on this architecture ({arch})")]
    UnsupportedHost {
        /// The host architecture.
        arch: &'static str,
    },
    /// `SCMP_ACT_NOTIFY` as `defaultAction` (runc refuses it too: the
    /// runtime's own calls after installing would wait for an agent).
    #[error("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action")]
    NotifyDefault,
    /// `SCMP_ACT_NOTIFY` on `write`, which the runtime needs before the
    /// agent has the listener (as in runc).
    #[error("linux.seccomp.syscalls[{rule}]: SCMP_ACT_NOTIFY cannot be used for the write syscall")]
    NotifyWrite {
        /// Index of the entry in `syscalls`.
        rule: usize,
    },
    /// An errno or trace value that does not fit `SECCOMP_RET_DATA`.
    #[error("{field}: {value} does not fit in the 16-bit seccomp return data")]
    ReturnData {
        /// The JSON path of the field.
        field: String,
        /// The value given.
        value: u32,
    },
    /// An empty string among a rule's names.
    #[error("linux.seccomp.syscalls[{rule}].names[{name}]: empty syscall name")]
    EmptyName {
        /// Index of the entry in `syscalls`.
        rule: usize,
        /// Index of the name.
        name: usize,
    },
    /// An argument index past the six syscall arguments.
    #[error(
        "linux.seccomp.syscalls[{rule}].args[{arg}].index: {index} is not a syscall argument (0 to 5)"
    )]
    ArgIndex {
        /// Index of the entry in `syscalls`.
        rule: usize,
        /// Index of the arg.
        arg: usize,
        /// The index given.
        index: usize,
    },
    /// A flag that only makes sense with a notify listener.
    #[error("linux.seccomp.flags: {flag} needs a rule with SCMP_ACT_NOTIFY")]
    FlagWithoutNotify {
        /// The flag.
        flag: &'static str,
    },
    /// The compiled program is longer than the kernel accepts.
    #[error("compiled seccomp filter has {len} instructions, more than the kernel's {max}")]
    TooLong {
        /// Instructions generated.
        len: usize,
        /// The kernel's limit.
        max: usize,
    },
    /// A bug in the compiler.
    #[error("internal error generating the seccomp filter: {reason}")]
    Codegen {
        /// What went wrong.
        reason: &'static str,
    },
    /// seccomp(2) refused the filter.
    #[error("seccomp(SECCOMP_SET_MODE_FILTER) with flags {flags:#x}")]
    Install {
        /// The flags passed.
        flags: u32,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// With `SECCOMP_FILTER_FLAG_TSYNC`, another thread could not be synced.
    #[error("seccomp TSYNC: thread {tid} could not be synchronized to the filter")]
    TsyncThread {
        /// The thread that failed.
        tid: i64,
    },
}

/// A compiled filter ready to install.
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
    flags: u32,
    implicit_spec_allow: bool,
    needs_listener: bool,
    listener_path: Option<PathBuf>,
    listener_metadata: Option<String>,
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.program.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("needs_listener", &self.needs_listener)
            .field("listener_path", &self.listener_path)
            .finish_non_exhaustive()
    }
}

/// Compiles a profile for the machine we run on.
///
/// Errors name the offending field; unknown syscall names are skipped (as
/// runc does), since profiles list calls newer than some kernels know.
pub fn compile(spec: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let native = arch::native().ok_or(SeccompError::UnsupportedHost {
        arch: std::env::consts::ARCH,
    })?;
    compile_for(spec, native)
}

/// [`compile`] with the host ABI given, so tests can build other hosts'
/// filters.
fn compile_for(spec: &LinuxSeccomp, native: table::Abi) -> Result<Filter, SeccompError> {
    let plan = profile::plan(spec, native)?;
    let program = codegen::generate(&plan)?;
    if program.len() > MAX_INSTRUCTIONS {
        return Err(SeccompError::TooLong {
            len: program.len(),
            max: MAX_INSTRUCTIONS,
        });
    }
    tracing::debug!(
        instructions = program.len(),
        flags = format_args!("{:#x}", plan.flags),
        "compiled seccomp filter"
    );
    Ok(Filter {
        program,
        flags: plan.flags,
        implicit_spec_allow: plan.implicit_spec_allow,
        needs_listener: plan.needs_listener,
        listener_path: spec.listener_path().clone(),
        listener_metadata: spec.listener_metadata().clone(),
    })
}

impl Filter {
    /// Whether a rule uses `SCMP_ACT_NOTIFY`, so [`Filter::install`] returns
    /// a listener fd to hand to the agent at [`Filter::listener_path`].
    pub fn needs_listener(&self) -> bool {
        self.needs_listener
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Always false: a compiled filter has at least its return.
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits passed to seccomp(2).
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// `listenerPath`: the agent's socket, for the caller to send the
    /// listener fd and the container state to.
    pub fn listener_path(&self) -> Option<&Path> {
        self.listener_path.as_deref()
    }

    /// `listenerMetadata`: opaque data for the agent.
    pub fn listener_metadata(&self) -> Option<&str> {
        self.listener_metadata.as_deref()
    }

    /// Installs on the calling thread (process with TSYNC). Caller has set
    /// no_new_privs or has CAP_SYS_ADMIN.
    /// Returns the notify listener fd when a rule uses SCMP_ACT_NOTIFY.
    ///
    /// When the profile had no `flags`, `SPEC_ALLOW` is asked for as runc
    /// does, and dropped if the kernel does not know it.
    pub fn install(&self) -> Result<Option<OwnedFd>, SeccompError> {
        let mut flags = self.flags;
        let mut result = seccomp_set_mode_filter(flags, &self.program);
        if matches!(result, Err(Errno::EINVAL)) && self.implicit_spec_allow {
            tracing::debug!("kernel refused SECCOMP_FILTER_FLAG_SPEC_ALLOW; retrying without");
            flags &= !FLAG_SPEC_ALLOW;
            result = seccomp_set_mode_filter(flags, &self.program);
        }
        match result.map_err(|source| SeccompError::Install { flags, source })? {
            SetFilter::Listener(fd) => Ok(Some(fd)),
            SetFilter::Ret(tid) if tid > 0 && flags & FLAG_TSYNC != 0 => {
                Err(SeccompError::TsyncThread { tid })
            }
            SetFilter::Ret(_) => Ok(None),
        }
    }

    /// The program, for the tests' interpreter.
    #[cfg(test)]
    fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }
}
