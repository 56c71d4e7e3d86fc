//! Delivering a seccomp user-notification listener to `listenerPath`, as
//! the runtime-spec describes: the fd plus the container process state.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};
use oci_spec::runtime::Spec;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::state::{ContainerState, Status};

#[derive(Serialize)]
struct ProcessState<'a> {
    #[serde(rename = "ociVersion")]
    oci_version: &'a str,
    fds: [&'static str; 1],
    pid: i32,
    metadata: &'a str,
    state: serde_json::Value,
}

/// Sends `fd` and the state to the spec's listenerPath.
pub(crate) fn send_listener(spec: &Spec, st: &ContainerState, fd: BorrowedFd<'_>) -> Result<()> {
    let sc = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
        .ok_or_else(|| Error::InvalidConfig("seccomp listener without linux.seccomp".into()))?;
    let path = sc.listener_path().as_ref().ok_or_else(|| {
        Error::InvalidConfig("linux.seccomp uses SCMP_ACT_NOTIFY but has no listenerPath".into())
    })?;
    let state: serde_json::Value =
        serde_json::from_slice(&st.spec_state_json(Status::Creating)).unwrap_or_default();
    let msg = serde_json::to_vec(&ProcessState {
        oci_version: &st.oci_version,
        fds: ["seccompFd"],
        pid: st.pid,
        metadata: sc.listener_metadata().as_deref().unwrap_or(""),
        state,
    })
    .expect("plain JSON serializes");
    let sock = UnixStream::connect(path).map_err(|source| Error::Io {
        op: "connecting to seccomp listenerPath",
        path: path.clone(),
        source,
    })?;
    let fds = [fd.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&msg)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|source| Error::Sys {
        call: format!("sending the seccomp fd to {}", path.display()),
        source,
    })?;
    Ok(())
}
