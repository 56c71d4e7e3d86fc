//! Foreground terminals for `run` and `exec` without `--console-socket`:
//! rbox receives the container's pty master on a private socket, puts the
//! user's terminal in raw mode and copies bytes both ways until the
//! container's process exits, forwarding signals and window size changes.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// A console socket rbox listens on itself.
pub struct ConsoleListener {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleListener {
    /// Binds `<dir>/<name>.console.sock`.
    pub fn bind(dir: &Path, name: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!(".{name}.console.sock"));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("binding console socket {}", path.display()))?;
        Ok(ConsoleListener { path, listener })
    }

    /// The socket path to hand to create/exec.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives the pty master the container sent (it is already queued
    /// once create/exec returned).
    pub fn receive(self) -> Result<OwnedFd> {
        self.listener.set_nonblocking(true)?;
        let (conn, _) = self
            .listener
            .accept()
            .context("the container did not connect to the console socket")?;
        let mut buf = [0u8; 256];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let msg = nix::sys::socket::recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .context("receiving the pty master")?;
        for c in msg.cmsgs()? {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c
                && let Some(fd) = fds.first()
            {
                // SAFETY: SCM_RIGHTS gave us a new descriptor nobody owns.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
        Err(anyhow!("the console socket message carried no pty master"))
    }
}

impl Drop for ConsoleListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Restores the terminal mode on drop.
struct RawMode {
    saved: Option<Termios>,
}

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = tcgetattr(stdin.as_fd()) else {
            return RawMode { saved: None };
        };
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
        RawMode { saved: Some(saved) }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(t) = &self.saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    }
}

fn copy_winsize(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
    if unsafe { libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0 {
        // SAFETY: TIOCSWINSZ reads the same struct.
        unsafe { libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
}

fn write_all(fd: BorrowedFd<'_>, mut b: &[u8]) -> bool {
    while !b.is_empty() {
        match nix::unistd::write(fd, b) {
            Ok(n) => b = &b[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Proxies the user's terminal to `master` until `pid` exits; forwards
/// the signals in `set` (already blocked) to `pid`. Returns the exit code.
pub fn proxy(master: OwnedFd, pid: i32, set: &SigSet) -> Result<i32> {
    let sfd = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let _raw = RawMode::enter();
    copy_winsize(stdin.as_fd(), master.as_fd());
    let target = Pid::from_raw(pid);
    let mut stdin_open = true;
    let mut master_open = true;
    let mut buf = [0u8; 8192];
    let mut exit: Option<i32> = None;
    loop {
        if exit.is_none() {
            exit = match waitpid(target, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, c)) => Some(c),
                Ok(WaitStatus::Signaled(_, s, _)) => Some(128 + s as i32),
                Err(nix::errno::Errno::ECHILD) => Some(255),
                _ => None,
            };
        }
        // A master whose slaves all closed reports HUP forever: stop
        // polling it, but keep forwarding signals until the process exits.
        // (HUP cannot be masked, so a closed master leaves the set.)
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let mi = master_open.then(|| {
            fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let ii = (stdin_open && exit.is_none()).then(|| {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        // Once the process is gone, drain what is left and stop.
        let timeout = if exit.is_some() {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(0) => return Ok(exit.unwrap_or(0)),
            Ok(_) => {}
        }
        let rev = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .and_then(|f| f.revents())
                .unwrap_or(PollFlags::empty())
        };
        let (s, m, i) = (rev(Some(0)), rev(mi), rev(ii));
        if m.intersects(PollFlags::POLLIN) {
            match nix::unistd::read(&master, &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(stdout.as_fd(), &buf[..n]);
                }
                _ => {
                    if let Some(c) = exit {
                        return Ok(c);
                    }
                }
            }
        } else if m.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            // Every slave fd closed; the process may still run.
            if let Some(c) = exit {
                return Ok(c);
            }
            master_open = false;
        }
        if s.intersects(PollFlags::POLLIN) {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == Signal::SIGWINCH as i32 {
                    copy_winsize(stdin.as_fd(), master.as_fd());
                } else if sig != Signal::SIGCHLD as i32
                    && let Ok(sig) = Signal::try_from(sig)
                {
                    let _ = nix::sys::signal::kill(target, sig);
                }
            }
        }
        if i.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                Ok(n) if n > 0 => {
                    write_all(master.as_fd(), &buf[..n]);
                }
                // EOF on our stdin: send the terminal's EOF character.
                _ => {
                    stdin_open = false;
                    write_all(master.as_fd(), &[4]);
                }
            }
        }
    }
}
