//! The per-container monitor (conmon's job), run as `rbox __monitor ID`
//! in its own session: it creates and starts the container through
//! rbox-runtime (so the container's init is its child), copies the
//! container's output into the json-file log and to an attached client,
//! feeds the client's stdin to the container, records the exit (code,
//! time, OOM kill), applies the restart policy with docker's backoff
//! (100 ms doubling to 1 min, reset after 10 s of running), and removes
//! a `--rm` container at the end.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use rbox_runtime::{ContainerId, CreateOptions, Runtime};

mod io;

use io::Stdio;

use crate::attach::{Decoder, Kind, write_frame};
use crate::error::{Error, Result};
use crate::logs::Writer;
use crate::options::{LogOptions, RestartPolicy};
use crate::record::{Containers, Record, Status};

/// How one run of the container ended.
struct Outcome {
    code: i32,
    oom: bool,
    ran: Duration,
}

/// The attached client, if any; dropped on the first write error.
struct Client {
    sock: Option<UnixStream>,
    decoder: Decoder,
}

impl Client {
    fn send(&mut self, kind: Kind, payload: &[u8]) {
        if let Some(s) = &mut self.sock
            && write_frame(s, kind, payload).is_err()
        {
            self.sock = None;
        }
    }
}

/// Runs the monitor of container `id` until it is done (exited without
/// restart, or removed). `client` is the attach socket of the command
/// that started it.
pub fn run(data_root: &Path, id: &str, client: Option<OwnedFd>) -> Result<()> {
    let containers = Containers::new(data_root);
    let mut rec = containers.update(id, |r| {
        r.state.monitor_pid = std::process::id() as i32;
    })?;
    let rt = Runtime::new(&rec.runtime_root);
    let policy = RestartPolicy::parse(rec.options.restart.as_deref().unwrap_or("no"))?;
    let mut log = Writer::open(&rec.log_path, LogOptions::parse(&rec.options.log_opts)?)?;
    let mut client = Client {
        sock: client.map(UnixStream::from),
        decoder: Decoder::default(),
    };
    let mut delay = Duration::from_millis(100);
    // The last frame goes out after cleanup, so `run --rm` returns only
    // once the container is gone.
    let mut last: Option<(Kind, Vec<u8>)> = None;
    loop {
        match run_once(&containers, &rt, &rec, &mut log, &mut client) {
            Err(e) => {
                let code = e.exit_code();
                let msg = match &e {
                    Error::StartFailed { message, .. } => message.clone(),
                    other => crate::error_chain(other),
                };
                rec = containers.update(id, |r| {
                    r.state.status = Status::Exited;
                    r.state.exit_code = i32::from(code);
                    r.state.error = msg.clone();
                    r.state.pid = 0;
                    r.state.finished_at = crate::time::now();
                })?;
                let mut p = vec![code];
                p.extend_from_slice(msg.as_bytes());
                last = Some((Kind::Error, p));
                break;
            }
            Ok(out) => {
                rec = containers.update(id, |r| {
                    r.state.status = Status::Exited;
                    r.state.exit_code = out.code;
                    r.state.oom_killed = out.oom;
                    r.state.pid = 0;
                    r.state.finished_at = crate::time::now();
                })?;
                let restart = !rec.options.rm
                    && policy.should_restart(
                        out.code,
                        rec.restart_count,
                        rec.state.stopped_by_user,
                    );
                if !restart {
                    last = Some((Kind::Exit, out.code.to_string().into_bytes()));
                    break;
                }
                client.send(Kind::Exit, out.code.to_string().as_bytes());
                client.sock = None;
                if out.ran > Duration::from_secs(10) {
                    delay = Duration::from_millis(100);
                }
                rec = containers.update(id, |r| {
                    r.state.status = Status::Restarting;
                    r.restart_count += 1;
                })?;
                if !sleep_unless_stopped(&containers, id, delay)? {
                    rec = containers.update(id, |r| r.state.status = Status::Exited)?;
                    break;
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
    log.flush();
    drop(log);
    let done = if rec.options.rm {
        // `rbox wait` on a removed container still learns how it ended.
        crate::engine::record_exit(&rec.runtime_root, id, rec.state.exit_code);
        // docker's `run --rm` removes the anonymous volumes too.
        crate::engine::destroy(data_root, &rec, true)
    } else {
        containers
            .update(id, |r| r.state.monitor_pid = 0)
            .map(|_| ())
    };
    if let Some((kind, p)) = last {
        client.send(kind, &p);
    }
    done
}

/// Sleeps `d`; false when the user stopped the container meanwhile.
fn sleep_unless_stopped(c: &Containers, id: &str, d: Duration) -> Result<bool> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50).min(d));
        match c.load(id)? {
            Some(r) if !r.state.stopped_by_user => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

fn sys(call: impl Into<String>) -> impl FnOnce(nix::Error) -> Error {
    let call = call.into();
    move |source| Error::Sys { call, source }
}

/// Calls `f` with fds 0-2 replaced by `fds` (the runtime's init inherits
/// the caller's stdio), restoring ours after.
fn with_stdio<T>(fds: &[OwnedFd; 3], f: impl FnOnce() -> T) -> Result<T> {
    let saved: Vec<OwnedFd> = (0..3).map(dup_cloexec).collect::<Result<_>>()?;
    for (i, fd) in fds.iter().enumerate() {
        dup_onto(fd, i as i32)?;
    }
    let r = f();
    for (i, fd) in saved.iter().enumerate() {
        dup_onto(fd, i as i32)?;
    }
    Ok(r)
}

fn dup_cloexec(fd: i32) -> Result<OwnedFd> {
    crate::sys::dup_cloexec(fd).map_err(sys(format!("dup fd {fd}")))
}

fn dup_onto(fd: &OwnedFd, target: i32) -> Result<()> {
    crate::sys::dup2_raw(fd.as_fd(), target).map_err(sys(format!("dup2 onto fd {target}")))
}

/// docker's exit codes for a command that cannot run.
fn start_code(msg: &str) -> u8 {
    let m = msg.to_ascii_lowercase();
    if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else if m.contains("not found") || m.contains("no such file") {
        127
    } else {
        125
    }
}

fn run_once(
    containers: &Containers,
    rt: &Runtime,
    rec: &Record,
    log: &mut Writer,
    client: &mut Client,
) -> Result<Outcome> {
    let id = &rec.id;
    let cid = ContainerId::new(id).map_err(|source| Error::Runtime {
        id: id.clone(),
        source,
    })?;
    // What a previous run left (a restart, a crashed monitor).
    if let Ok(old) = rt.load(&cid) {
        let _ = old.delete(true);
    }
    let _ = rt.remove_stale(&cid);
    let dir = containers.dir(id);
    let mut opts = CreateOptions::new(dir.join("bundle"));
    let tty = rec.options.tty;
    let interactive = rec.options.interactive && client.sock.is_some();
    let listener = if tty {
        std::fs::create_dir_all(&rt.root).map_err(|e| Error::io("creating", &rt.root, e))?;
        let p = rt.root.join(format!(".{}.console.sock", &id[..16]));
        let _ = std::fs::remove_file(&p);
        let l = UnixListener::bind(&p).map_err(|e| Error::io("binding console socket", &p, e))?;
        opts.console_socket = Some(p);
        Some(l)
    } else {
        None
    };
    let mut stdio = if tty {
        Stdio::terminal()?
    } else {
        Stdio::pipes(interactive)?
    };
    let created = with_stdio(&stdio.theirs, || rt.create(&cid, &opts))?;
    if let Some(p) = &opts.console_socket {
        let _ = std::fs::remove_file(p);
    }
    let mut c = created.map_err(|e| {
        let msg = crate::error_chain(&e);
        Error::StartFailed {
            id: id.clone(),
            code: start_code(&msg),
            message: msg,
        }
    })?;
    // Our copies of the container's ends must close, or EOF never comes.
    stdio.close_theirs()?;
    if let Some(l) = listener {
        let got = l
            .set_nonblocking(true)
            .and_then(|()| l.accept())
            .map_err(|e| Error::io("accepting console", rt.root.clone(), e))
            .and_then(|(conn, _)| {
                crate::sys::recv_fd(conn.as_fd())
                    .map_err(sys("receiving the pty master"))?
                    .ok_or_else(|| Error::Monitor {
                        id: id.clone(),
                        message: "no pty master on the console socket".into(),
                    })
            });
        match got {
            Ok(m) => stdio.set_master(m),
            Err(e) => {
                let _ = c.delete(true);
                return Err(e);
            }
        }
    }
    // Frames the client sent before the start (the terminal size) apply
    // before the process runs.
    if let Some(sock) = client.sock.as_ref() {
        let mut buf = [0u8; 4096];
        let _ = sock.set_nonblocking(true);
        let mut data = Vec::new();
        while let Ok(n) = nix::unistd::read(sock, &mut buf) {
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
        }
        let _ = sock.set_nonblocking(false);
        for (kind, payload) in client.decoder.push(&data) {
            stdio.input(kind, &payload);
        }
    }
    let pid = c.pid();
    containers.update(id, |r| {
        r.state.status = Status::Running;
        r.state.paused = false;
        r.state.pid = pid;
        r.state.started_at = crate::time::now();
        r.state.error.clear();
        r.state.oom_killed = false;
    })?;
    let pidfd = crate::sys::pidfd_open(pid).map_err(sys(format!("pidfd_open {pid}")));
    if let Err(e) = c.start() {
        let msg = crate::error_chain(&e);
        let _ = c.delete(true);
        return Err(Error::StartFailed {
            id: id.clone(),
            code: start_code(&msg),
            message: msg,
        });
    }
    let started = Instant::now();
    client.send(Kind::Started, b"");
    let pidfd = pidfd?;
    io::pump(&pidfd, &mut stdio, log, client)?;
    let code = rbox_runtime::wait_exit_code(pid).map_err(|source| Error::Runtime {
        id: id.clone(),
        source,
    })?;
    io::drain(&mut stdio, log, client);
    log.flush();
    let oom = c
        .cgroup()
        .ok()
        .and_then(|cg| cg.oom_events().ok())
        .is_some_and(|n| n > 0);
    if let Err(e) = c.delete(true) {
        tracing::warn!("deleting runtime state of {id}: {e}");
    }
    Ok(Outcome {
        code,
        oom,
        ran: started.elapsed(),
    })
}
