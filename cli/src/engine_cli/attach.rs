//! Attaching the user's terminal to a container through its monitor's
//! attach stream: output frames to our stdout/stderr, our stdin (with
//! -i) as stdin frames, window size changes with -t (raw mode), and
//! SIGINT/SIGTERM forwarded to the container without a tty.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use anyhow::Result;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios::{SetArg, cfmakeraw, tcgetattr, tcsetattr};
use rbox_engine::Engine;
use rbox_engine::attach::{Decoder, Kind, write_frame};

fn resize(s: &mut UnixStream) {
    if let Some((r, c)) = rbox_engine::sys::winsize(std::io::stdin().as_fd()) {
        let mut p = r.to_be_bytes().to_vec();
        p.extend_from_slice(&c.to_be_bytes());
        let _ = write_frame(s, Kind::Resize, &p);
    }
}

/// Which output streams reach the user (`-a stdout`, `-a stderr`).
#[derive(Debug, Clone, Copy)]
pub struct Streams {
    /// Print the container's stdout.
    pub stdout: bool,
    /// Print the container's stderr.
    pub stderr: bool,
}

impl Streams {
    /// Both.
    pub const ALL: Streams = Streams {
        stdout: true,
        stderr: true,
    };
}

/// Pumps until the container exits; returns its exit code.
pub fn attach(
    engine: &Engine,
    id: &str,
    mut s: UnixStream,
    tty: bool,
    stdin: bool,
    streams: Streams,
) -> Result<u8> {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGWINCH,
    ] {
        set.add(sig);
    }
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    let sfd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
    let input = std::io::stdin();
    let saved = if tty {
        tcgetattr(input.as_fd()).ok()
    } else {
        None
    };
    if let Some(t) = &saved {
        let mut raw = t.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(input.as_fd(), SetArg::TCSANOW, &raw);
    }
    let restore = || {
        if let Some(t) = &saved {
            let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, t);
        }
    };
    if tty {
        resize(&mut s);
    }
    let mut dec = Decoder::default();
    let mut buf = vec![0u8; 32 * 1024];
    let mut stdin_open = stdin;
    let mut started = false;
    let result = loop {
        let mut fds = vec![
            PollFd::new(s.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        if stdin_open && started {
            fds.push(PollFd::new(input.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => break Err(e.into()),
            Ok(_) => {}
        }
        let ev: Vec<PollFlags> = fds
            .iter()
            .map(|f| f.revents().unwrap_or(PollFlags::empty()))
            .collect();
        drop(fds);
        if ev[0].intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            let n = match nix::unistd::read(&s, &mut buf) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => break Err(e.into()),
            };
            if n == 0 {
                break Err(anyhow::anyhow!("container {id}: the monitor went away"));
            }
            let mut done = None;
            for (kind, p) in dec.push(&buf[..n]) {
                match kind {
                    Kind::Stdout if streams.stdout => {
                        let mut o = std::io::stdout().lock();
                        let _ = o.write_all(&p);
                        let _ = o.flush();
                    }
                    Kind::Stderr if streams.stderr => {
                        let _ = std::io::stderr().write_all(&p);
                    }
                    Kind::Started => started = true,
                    Kind::Exit => {
                        let code: i32 = String::from_utf8_lossy(&p).parse().unwrap_or(255);
                        done = Some(Ok(u8::try_from(code).unwrap_or(255)));
                    }
                    Kind::Error => {
                        let code = p.first().copied().unwrap_or(125);
                        let msg =
                            String::from_utf8_lossy(p.get(1..).unwrap_or_default()).into_owned();
                        done = Some(Err(anyhow::Error::new(rbox_engine::Error::StartFailed {
                            id: id.into(),
                            message: msg,
                            code,
                        })));
                    }
                    _ => {}
                }
            }
            if let Some(d) = done {
                break d;
            }
        }
        if ev[1].contains(PollFlags::POLLIN) {
            while let Ok(Some(info)) = sfd.read_signal() {
                let sig = info.ssi_signo as i32;
                if sig == Signal::SIGWINCH as i32 {
                    resize(&mut s);
                } else if !tty {
                    let _ = engine.kill(id, sig);
                }
            }
        }
        if ev.len() > 2 && ev[2].intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
            match nix::unistd::read(input.as_fd(), &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = write_frame(&mut s, Kind::Stdin, &buf[..n]);
                }
                _ => {
                    stdin_open = false;
                    let _ = write_frame(&mut s, Kind::StdinEof, b"");
                }
            }
        }
    };
    restore();
    result
}
