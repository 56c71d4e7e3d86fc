//! Container terminals: a pty created inside the container whose master is
//! handed to the caller over `--console-socket` (SCM_RIGHTS), as runc does.

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use crate::error::{Error, Result};
use crate::sys;

fn sys_err(call: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys {
        call: call.into(),
        source,
    }
}

/// Creates the pty, sends its master to `socket`, and makes the slave the
/// calling process's stdio and controlling terminal.
pub(crate) fn setup_pty(
    socket: BorrowedFd<'_>,
    size: Option<oci_spec::runtime::Box>,
    bind_console: bool,
) -> Result<()> {
    let master = nix::fcntl::open(
        "/dev/ptmx",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys_err(
        "opening /dev/ptmx in the container (is /dev/pts mounted?)",
    ))?;
    let slave = sys::open_pty_peer(master.as_fd()).map_err(sys_err("opening the pty slave"))?;
    if bind_console {
        // config-linux: with a terminal, /dev/console is the pty (runc binds
        // the slave there too).
        let n = sys::pty_number(master.as_fd()).map_err(sys_err("TIOCGPTN"))?;
        let pts = std::path::PathBuf::from(format!("/dev/pts/{n}"));
        let console = std::path::Path::new("/dev/console");
        if std::fs::symlink_metadata(console).is_err() {
            std::fs::File::create(console).map_err(|source| Error::Io {
                op: "creating",
                path: console.into(),
                source,
            })?;
        }
        crate::mount::mount(
            Some(&pts),
            console,
            None,
            nix::mount::MsFlags::MS_BIND,
            None,
            console,
        )?;
    }
    if let Some(b) = size {
        let clamp = |v: u64| u16::try_from(v).unwrap_or(u16::MAX);
        sys::set_winsize(slave.as_fd(), clamp(b.height()), clamp(b.width()))
            .map_err(sys_err("setting the console size"))?;
    }
    let name = b"/dev/ptmx";
    let iov = [IoSlice::new(name)];
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        socket.as_raw_fd(),
        &iov,
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(sys_err("sending the pty master to the console socket"))?;
    drop(master);
    nix::unistd::dup2_stdin(slave.as_fd()).map_err(sys_err("dup2 of the pty slave"))?;
    nix::unistd::dup2_stdout(slave.as_fd()).map_err(sys_err("dup2 of the pty slave"))?;
    nix::unistd::dup2_stderr(slave.as_fd()).map_err(sys_err("dup2 of the pty slave"))?;
    sys::set_controlling_tty(slave.as_fd()).map_err(sys_err("TIOCSCTTY"))?;
    Ok(())
}
