//! The runtime <-> container-init channel: a SOCK_SEQPACKET socketpair
//! carrying one small JSON message per packet (and an fd when one is sent).
//!
//! Errors raised inside the child travel back as [`Msg::Error`], so the
//! runtime can report "which path, which step" instead of "init died".

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use serde::{Deserialize, Serialize};

/// One message between the runtime and the container's init.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Msg {
    /// Runtime -> init: id maps written, cgroup joined; go on. Carries
    /// the init's pid as the host sees it, for the state that the
    /// in-container hooks get.
    Go {
        /// The init's host pid.
        pid: i32,
    },
    /// Init -> runtime: mounts are done, run prestart/createRuntime hooks.
    RunCreateHooks,
    /// Runtime -> init: hooks done.
    HooksDone,
    /// Init -> runtime: the seccomp listener fd rides along.
    SeccompListener,
    /// Runtime -> init: listener fd delivered.
    SeccompDone,
    /// Init -> runtime: everything is set up; init waits on the exec fifo.
    Ready,
    /// Child -> runtime: a step failed.
    Error(String),
    /// Child -> runtime: pid of a grandchild (exec, joined pid namespace).
    Pid(i32),
}

/// One end of the channel.
pub(crate) struct Channel {
    fd: OwnedFd,
}

const MAX_MSG: usize = 64 * 1024;

impl Channel {
    /// A connected pair; both ends are close-on-exec.
    pub(crate) fn pair() -> nix::Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        Ok((Channel { fd: a }, Channel { fd: b }))
    }

    /// Sends a message, with an fd attached if given.
    pub(crate) fn send(&self, msg: &Msg, fd: Option<RawFd>) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
        let iov = [IoSlice::new(&bytes)];
        let fds = fd.map(|f| [f]);
        let cmsg: Vec<ControlMessage<'_>> = match &fds {
            Some(f) => vec![ControlMessage::ScmRights(f)],
            None => vec![],
        };
        sendmsg::<()>(
            self.fd.as_raw_fd(),
            &iov,
            &cmsg,
            MsgFlags::MSG_NOSIGNAL,
            None,
        )?;
        Ok(())
    }

    /// Receives one message; `Ok(None)` when the peer closed its end.
    pub(crate) fn recv(&self) -> std::io::Result<Option<(Msg, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = loop {
                match recvmsg::<()>(
                    self.fd.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg_space),
                    MsgFlags::MSG_CMSG_CLOEXEC,
                ) {
                    Err(nix::errno::Errno::EINTR) => continue,
                    other => break other?,
                }
            };
            let mut fd = None;
            for c in msg.cmsgs()? {
                if let ControlMessageOwned::ScmRights(fds) = c {
                    for f in fds {
                        // SAFETY: SCM_RIGHTS delivered a new descriptor that
                        // nobody else owns.
                        let owned = unsafe { OwnedFd::from_raw_fd(f) };
                        fd.get_or_insert(owned);
                    }
                }
            }
            (msg.bytes, fd)
        };
        if len == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..len]).map_err(std::io::Error::other)?;
        Ok(Some((msg, fd)))
    }
}
