//! The monitor's byte pumps: container output to the log and the
//! attached client, client input to the container. Input is buffered and
//! written without blocking (a container that does not read its stdin
//! must not stall the copying of its output).

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Client;
use crate::attach::Kind;
use crate::error::{Error, Result};
use crate::logs::Writer;

/// The container's stdio, both ends.
pub(super) struct Stdio {
    /// For the container: stdin, stdout, stderr.
    pub theirs: [OwnedFd; 3],
    /// Our end of its stdout pipe.
    pub out: Option<OwnedFd>,
    /// Our end of its stderr pipe.
    pub err: Option<OwnedFd>,
    /// Our end of its stdin pipe (`-i` without `-t`).
    pub stdin: Option<OwnedFd>,
    /// The pty master (`-t`).
    pub master: Option<OwnedFd>,
    /// False once every slave fd closed.
    master_open: bool,
    /// Client input not yet written.
    pending: Vec<u8>,
    /// The client closed its stdin: close ours once `pending` is out.
    eof: bool,
}

fn sys(call: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |source| Error::Sys {
        call: call.into(),
        source,
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe2"))
}

/// `/dev/null`, read-write.
pub(super) fn dev_null() -> Result<OwnedFd> {
    nix::fcntl::open(
        "/dev/null",
        OFlag::O_RDWR | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open /dev/null"))
}

fn nonblocking(fd: &OwnedFd) {
    let _ = fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
}

impl Stdio {
    /// Pipes for stdout and stderr, and for stdin when `interactive`.
    pub fn pipes(interactive: bool) -> Result<Stdio> {
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        let (in_theirs, in_ours) = if interactive {
            let (r, w) = pipe()?;
            nonblocking(&w);
            (r, Some(w))
        } else {
            (dev_null()?, None)
        };
        Ok(Stdio {
            theirs: [in_theirs, out_w, err_w],
            out: Some(out_r),
            err: Some(err_r),
            stdin: in_ours,
            master: None,
            master_open: false,
            pending: Vec::new(),
            eof: false,
        })
    }

    /// A terminal container: stdio comes from the pty (see
    /// [`Stdio::set_master`]); the runtime's caller-side stdio is null.
    pub fn terminal() -> Result<Stdio> {
        Ok(Stdio {
            theirs: [dev_null()?, dev_null()?, dev_null()?],
            out: None,
            err: None,
            stdin: None,
            master: None,
            master_open: false,
            pending: Vec::new(),
            eof: false,
        })
    }

    /// Takes the pty master.
    pub fn set_master(&mut self, m: OwnedFd) {
        nonblocking(&m);
        self.master = Some(m);
        self.master_open = true;
    }

    /// Closes our copies of the container's ends (or EOF never comes).
    pub fn close_theirs(&mut self) -> Result<()> {
        self.theirs = [dev_null()?, dev_null()?, dev_null()?];
        Ok(())
    }

    /// Applies one client frame.
    pub fn input(&mut self, kind: Kind, payload: &[u8]) {
        match kind {
            Kind::Stdin => self.pending.extend_from_slice(payload),
            Kind::StdinEof => self.eof = true,
            Kind::Resize if payload.len() == 4 => {
                if let Some(m) = &self.master {
                    let rows = u16::from_be_bytes([payload[0], payload[1]]);
                    let cols = u16::from_be_bytes([payload[2], payload[3]]);
                    crate::sys::set_winsize(m.as_fd(), rows, cols);
                }
            }
            _ => {}
        }
        self.flush_input();
    }

    /// Writes what the target takes now; at EOF with nothing pending,
    /// closes the stdin pipe (or sends the terminal's EOF character).
    fn flush_input(&mut self) {
        let Some(fd) = self.master.as_ref().or(self.stdin.as_ref()) else {
            self.pending.clear();
            return;
        };
        while !self.pending.is_empty() {
            match nix::unistd::write(fd, &self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => {
                    // The reader is gone: drop the input.
                    self.pending.clear();
                }
            }
        }
        if self.eof {
            self.eof = false;
            if let Some(m) = &self.master {
                let _ = nix::unistd::write(m, &[4]);
            } else {
                self.stdin = None;
            }
        }
    }

    /// The client went away: its stdin ends.
    pub fn client_gone(&mut self) {
        self.eof = true;
        self.flush_input();
    }
}

fn read_chunk(fd: &OwnedFd, buf: &mut [u8]) -> Option<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) if n > 0 => return Some(n),
            Err(nix::errno::Errno::EINTR) => {}
            _ => return None,
        }
    }
}

fn output(tag: u8, data: &[u8], log: &mut Writer, client: &mut Client) {
    log.write(tag, data);
    let kind = if tag == 2 { Kind::Stderr } else { Kind::Stdout };
    client.send(kind, data);
}

/// Copies output to the log and the client, input to the container,
/// until `pidfd` (the container's init) is readable.
pub(super) fn pump(
    pidfd: &OwnedFd,
    stdio: &mut Stdio,
    log: &mut Writer,
    client: &mut Client,
) -> Result<()> {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let mut fds = vec![PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let mut slots = Vec::new();
        let want_out = !stdio.pending.is_empty();
        let master_flags = {
            let mut f = PollFlags::empty();
            if stdio.master_open {
                f |= PollFlags::POLLIN;
            }
            if want_out {
                f |= PollFlags::POLLOUT;
            }
            f
        };
        let entries = [
            (
                1u8,
                stdio.out.as_ref().map(|f| f.as_fd()),
                PollFlags::POLLIN,
            ),
            (2, stdio.err.as_ref().map(|f| f.as_fd()), PollFlags::POLLIN),
            (
                3,
                stdio
                    .master
                    .as_ref()
                    .map(|f| f.as_fd())
                    .filter(|_| !master_flags.is_empty()),
                master_flags,
            ),
            (
                4,
                stdio
                    .stdin
                    .as_ref()
                    .map(|f| f.as_fd())
                    .filter(|_| want_out && stdio.master.is_none()),
                PollFlags::POLLOUT,
            ),
            (
                5,
                client.sock.as_ref().map(|s| s.as_fd()),
                PollFlags::POLLIN,
            ),
        ];
        for (tag, fd, flags) in entries {
            if let Some(fd) = fd {
                fds.push(PollFd::new(fd, flags));
                slots.push(tag);
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(source) => {
                return Err(Error::Sys {
                    call: "poll".into(),
                    source,
                });
            }
            Ok(_) => {}
        }
        let revents: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if revents[0].contains(PollFlags::POLLIN) {
            return Ok(());
        }
        let readable = PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR;
        for (i, tag) in slots.iter().enumerate() {
            let ev = revents[i + 1];
            match tag {
                1 | 2 if ev.intersects(readable) => {
                    let slot = if *tag == 1 {
                        &mut stdio.out
                    } else {
                        &mut stdio.err
                    };
                    match slot.as_ref().and_then(|fd| read_chunk(fd, &mut buf)) {
                        Some(n) => output(*tag, &buf[..n], log, client),
                        None => *slot = None,
                    }
                }
                3 => {
                    if ev.intersects(readable) {
                        match stdio.master.as_ref().and_then(|m| read_chunk(m, &mut buf)) {
                            Some(n) => output(1, &buf[..n], log, client),
                            // EIO: every slave closed; the init may live on.
                            None => stdio.master_open = false,
                        }
                    }
                    if ev.contains(PollFlags::POLLOUT) {
                        stdio.flush_input();
                    }
                }
                4 if ev.intersects(PollFlags::POLLOUT | PollFlags::POLLERR) => stdio.flush_input(),
                5 if ev.intersects(readable) => {
                    let got = client
                        .sock
                        .as_ref()
                        .and_then(|s| read_chunk_stream(s, &mut buf));
                    match got {
                        Some(n) => {
                            let frames = client.decoder.push(&buf[..n]);
                            for (kind, payload) in frames {
                                stdio.input(kind, &payload);
                            }
                        }
                        None => {
                            client.sock = None;
                            stdio.client_gone();
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

fn read_chunk_stream(s: &std::os::unix::net::UnixStream, buf: &mut [u8]) -> Option<usize> {
    loop {
        match nix::unistd::read(s, buf) {
            Ok(n) if n > 0 => return Some(n),
            Err(nix::errno::Errno::EINTR) => {}
            _ => return None,
        }
    }
}

/// Reads what is left in the output pipes and the pty after the init
/// exited.
pub(super) fn drain(stdio: &mut Stdio, log: &mut Writer, client: &mut Client) {
    let mut buf = vec![0u8; 32 * 1024];
    for (tag, fd) in [
        (1u8, stdio.out.take()),
        (2, stdio.err.take()),
        (1, stdio.master.take()),
    ] {
        let Some(fd) = fd else { continue };
        nonblocking(&fd);
        while let Some(n) = read_chunk(&fd, &mut buf) {
            output(tag, &buf[..n], log, client);
        }
    }
}
