//! CVE-2019-5736 defence for processes that enter a running container.
//!
//! A process that joins a container's namespaces before its execve can be
//! reached by the container through /proc/PID/exe; if that link led to the
//! runtime binary on the host, a hostile container could overwrite it. A
//! process about to do that first re-executes itself from a sealed memfd
//! copy, so /proc/self/exe names an immutable, anonymous file.
//!
//! `create`/`run` do not need this: their init is non-dumpable and refuses
//! to execute the runtime binary itself (see `process::check_not_runtime`),
//! and no other process shares its pid namespace before it execs.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

use crate::error::{Error, Result};
use crate::sys;

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// Whether the running binary is already a sealed memfd.
pub fn running_sealed() -> bool {
    File::open("/proc/self/exe")
        .ok()
        .and_then(|f| sys::get_seals(f.as_fd()).ok())
        .is_some_and(|s| s & SEALS == SEALS)
}

/// Re-executes the current program (same argv and environment) from a
/// sealed memfd copy unless it already runs from one. Call it at the start
/// of `main`, before anything else happens, for commands that join a
/// running container (`exec`). Returns only when already sealed.
pub fn ensure_sealed_self() -> Result<()> {
    if running_sealed() {
        return Ok(());
    }
    let io = |op: &'static str| {
        move |source| Error::Io {
            op,
            path: "/proc/self/exe".into(),
            source,
        }
    };
    let mut src = File::open("/proc/self/exe").map_err(io("opening"))?;
    let mfd = sys::memfd_sealable(c"rbox").map_err(|source| Error::Sys {
        call: "memfd_create".into(),
        source,
    })?;
    let mut dst = File::from(mfd);
    std::io::copy(&mut src, &mut dst).map_err(io("copying to a memfd"))?;
    sys::add_seals(dst.as_fd(), SEALS).map_err(|source| Error::Sys {
        call: "sealing the memfd copy".into(),
        source,
    })?;
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_default())
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut b = k.as_bytes().to_vec();
            b.push(b'=');
            b.extend_from_slice(v.as_bytes());
            CString::new(b).unwrap_or_default()
        })
        .collect();
    let errno = sys::execveat_fd(dst.as_fd(), &argv, &envp);
    Err(Error::Sys {
        call: "re-executing from the sealed memfd".into(),
        source: errno,
    })
}
