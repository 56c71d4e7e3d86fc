//! `rbox run` and `rbox create`: docker's flags → RunOptions.

use anyhow::{Context, Result};
use clap::Args;
use rbox_engine::{Engine, RunOptions};

/// docker run's flags.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Print help (-h is --hostname, as in docker).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Name of the container.
    #[arg(long)]
    name: Option<String>,
    /// Run in the background and print the id.
    #[arg(short, long)]
    detach: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short, long)]
    tty: bool,
    /// Attach to stdin, stdout or stderr.
    #[arg(short, long)]
    attach: Vec<String>,
    /// Override the image's entrypoint ("" clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Set an environment variable (KEY=VALUE, or KEY from ours).
    #[arg(short, long)]
    env: Vec<String>,
    /// Read environment variables from a file.
    #[arg(long = "env-file")]
    env_file: Vec<std::path::PathBuf>,
    /// Working directory.
    #[arg(short, long)]
    workdir: Option<String>,
    /// User: name|uid[:group|gid].
    #[arg(short, long)]
    user: Option<String>,
    /// Additional groups.
    #[arg(long = "group-add")]
    group_add: Vec<String>,
    /// Hostname.
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Read-only root filesystem.
    #[arg(long = "read-only")]
    read_only: bool,
    /// Mount a tmpfs: PATH[:OPTIONS].
    #[arg(long)]
    tmpfs: Vec<String>,
    /// Bind mount: SRC:DST[:OPTIONS].
    #[arg(short, long)]
    volume: Vec<String>,
    /// Mount: type=bind|tmpfs,source=..,target=..
    #[arg(long)]
    mount: Vec<String>,
    /// Add capabilities.
    #[arg(long = "cap-add")]
    cap_add: Vec<String>,
    /// Drop capabilities.
    #[arg(long = "cap-drop")]
    cap_drop: Vec<String>,
    /// Give extended privileges.
    #[arg(long)]
    privileged: bool,
    /// Security options (seccomp=..., no-new-privileges).
    #[arg(long = "security-opt")]
    security_opt: Vec<String>,
    /// Add a host device.
    #[arg(long)]
    device: Vec<String>,
    /// Namespaced kernel parameters.
    #[arg(long)]
    sysctl: Vec<String>,
    /// Ulimits: name=soft[:hard].
    #[arg(long)]
    ulimit: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps.
    #[arg(long)]
    init: bool,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Seconds to wait before killing on stop.
    #[arg(long = "stop-timeout")]
    stop_timeout: Option<i64>,
    /// Memory limit (e.g. 512m).
    #[arg(short, long)]
    memory: Option<String>,
    /// Memory + swap limit (-1: unlimited).
    #[arg(long = "memory-swap")]
    memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long = "memory-reservation")]
    memory_reservation: Option<String>,
    /// Number of CPUs.
    #[arg(long)]
    cpus: Option<String>,
    /// CPU shares.
    #[arg(short = 'c', long = "cpu-shares")]
    cpu_shares: Option<u64>,
    /// CPUs allowed (0-3, 0,1).
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Pids limit (-1 unlimited).
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pids_limit: Option<i64>,
    /// Size of /dev/shm.
    #[arg(long = "shm-size")]
    shm_size: Option<String>,
    /// OOM score adjustment.
    #[arg(long = "oom-score-adj", allow_hyphen_values = true)]
    oom_score_adj: Option<i32>,
    /// Labels KEY=VALUE.
    #[arg(short, long)]
    label: Vec<String>,
    /// Restart policy: no, on-failure[:N], always, unless-stopped.
    #[arg(long)]
    restart: Option<String>,
    /// Network: none, host, bridge or a network name.
    #[arg(long, alias = "net")]
    network: Option<String>,
    /// Publish ports.
    #[arg(short, long)]
    publish: Vec<String>,
    /// DNS servers.
    #[arg(long)]
    dns: Vec<String>,
    /// Extra /etc/hosts entries HOST:IP.
    #[arg(long = "add-host")]
    add_host: Vec<String>,
    /// Parent cgroup (absolute).
    #[arg(long = "cgroup-parent")]
    cgroup_parent: Option<String>,
    /// Log driver options (max-size, max-file).
    #[arg(long = "log-opt")]
    log_opt: Vec<String>,
    /// Pull policy: always, missing, never.
    #[arg(long)]
    pull: Option<String>,
    /// Image.
    image: String,
    /// Command and arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// `KEY=VALUE` kept; a bare `KEY` takes our value, or is dropped.
fn resolve_env(e: &str) -> Option<String> {
    if e.contains('=') {
        return Some(e.to_string());
    }
    std::env::var(e).ok().map(|v| format!("{e}={v}"))
}

impl RunArgs {
    /// The engine's options.
    pub fn options(&self) -> Result<RunOptions> {
        let mut env = Vec::new();
        for f in &self.env_file {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading --env-file {}", f.display()))?;
            for line in text.lines() {
                let l = line.trim_start();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                env.extend(resolve_env(l));
            }
        }
        env.extend(self.env.iter().filter_map(|e| resolve_env(e)));
        let mut o = RunOptions::new(&self.image, self.args.clone());
        o.name = self.name.clone();
        o.entrypoint = self.entrypoint.clone();
        o.env = env;
        o.workdir = self.workdir.clone();
        o.user = self.user.clone();
        o.group_add = self.group_add.clone();
        o.hostname = self.hostname.clone();
        o.read_only = self.read_only;
        o.tmpfs = self.tmpfs.clone();
        o.volumes = self.volume.clone();
        o.mounts = self.mount.clone();
        o.cap_add = self.cap_add.clone();
        o.cap_drop = self.cap_drop.clone();
        o.privileged = self.privileged;
        o.security_opt = self.security_opt.clone();
        o.devices = self.device.clone();
        o.sysctls = self.sysctl.clone();
        o.ulimits = self.ulimit.clone();
        o.init = self.init;
        o.stop_signal = self.stop_signal.clone();
        o.stop_timeout = self.stop_timeout;
        o.memory = self.memory.clone();
        o.memory_swap = self.memory_swap.clone();
        o.memory_reservation = self.memory_reservation.clone();
        o.cpus = self.cpus.clone();
        o.cpu_shares = self.cpu_shares;
        o.cpuset_cpus = self.cpuset_cpus.clone();
        o.pids_limit = self.pids_limit;
        o.shm_size = self.shm_size.clone();
        o.oom_score_adj = self.oom_score_adj;
        o.labels = self.label.clone();
        o.rm = self.rm;
        o.detach = self.detach;
        o.interactive = self.interactive || self.attach.iter().any(|s| s == "stdin");
        o.tty = self.tty;
        o.attach = self.attach.clone();
        o.restart = self.restart.clone();
        o.network = self.network.clone();
        o.publish = self.publish.clone();
        o.dns = self.dns.clone();
        o.add_host = self.add_host.clone();
        o.cgroup_parent = self.cgroup_parent.clone();
        o.log_opts = self.log_opt.clone();
        o.pull = self.pull.clone();
        Ok(o)
    }
}

/// `rbox run`: create, start; with -d print the id, else attach and
/// exit with the container's code.
pub fn run(engine: &Engine, a: RunArgs) -> Result<u8> {
    if let Some(bad) = a
        .attach
        .iter()
        .find(|s| !["stdin", "stdout", "stderr"].contains(&s.as_str()))
    {
        anyhow::bail!("invalid --attach {bad:?}: use stdin, stdout or stderr");
    }
    if a.detach && !a.attach.is_empty() {
        anyhow::bail!("conflicting options: cannot specify both --attach and --detach");
    }
    let opts = a.options()?;
    let rec = engine.create(opts)?;
    let id = rec.id.clone();
    let mut stream = match engine.start(&id) {
        Ok(s) => s,
        Err(e) => {
            let _ = engine.remove(&id, true, true);
            return Err(e.into());
        }
    };
    if a.detach {
        rbox_engine::wait_started(&mut stream, &id)?;
        println!("{id}");
        return Ok(0);
    }
    let streams = if a.attach.is_empty() {
        super::attach::Streams::ALL
    } else {
        super::attach::Streams {
            stdout: a.attach.iter().any(|s| s == "stdout"),
            stderr: a.attach.iter().any(|s| s == "stderr"),
        }
    };
    let stdin = a.interactive || a.attach.iter().any(|s| s == "stdin");
    super::attach::attach(engine, &id, stream, a.tty, stdin, streams)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct Wrap {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(args: &[&str]) -> RunOptions {
        let argv = std::iter::once("run").chain(args.iter().copied());
        Wrap::try_parse_from(argv)
            .expect("parses")
            .run
            .options()
            .expect("options")
    }

    #[test]
    fn flags_map_to_options() {
        let o = parse(&[
            "-d",
            "--rm",
            "-it",
            "--name",
            "web",
            "-e",
            "A=1",
            "-h",
            "box",
            "-m",
            "64m",
            "--pids-limit",
            "-1",
            "--cap-add",
            "NET_ADMIN",
            "-v",
            "/tmp:/t:ro",
            "-p",
            "8080:80",
            "--restart",
            "on-failure:2",
            "--entrypoint",
            "",
            "busybox",
            "sh",
            "-c",
            "echo -n hi",
        ]);
        assert!(o.detach && o.rm && o.interactive && o.tty);
        assert_eq!(o.name.as_deref(), Some("web"));
        assert_eq!(o.env, vec!["A=1"]);
        assert_eq!(o.hostname.as_deref(), Some("box"));
        assert_eq!(o.memory.as_deref(), Some("64m"));
        assert_eq!(o.pids_limit, Some(-1));
        assert_eq!(o.entrypoint.as_deref(), Some(""));
        assert_eq!(o.image, "busybox");
        // Flags after the image belong to the command.
        assert_eq!(o.args, vec!["sh", "-c", "echo -n hi"]);
    }

    #[test]
    fn env_files_and_bare_keys() {
        let t = rbox_test_support_free_dir();
        let f = t.join("env");
        std::fs::write(
            &f,
            "# comment\nFROM_FILE=1\n\nPATH\nRBOX_SURELY_UNSET_VAR\n",
        )
        .expect("write");
        let o = parse(&[
            "--env-file",
            f.to_str().expect("utf-8"),
            "-e",
            "LATE=2",
            "busybox",
        ]);
        assert_eq!(o.env[0], "FROM_FILE=1");
        assert!(o.env[1].starts_with("PATH="), "a bare key takes our value");
        assert_eq!(o.env.len(), 3, "an unset bare key is dropped: {:?}", o.env);
        assert_eq!(o.env[2], "LATE=2");
        let _ = std::fs::remove_dir_all(&t);
    }

    fn rbox_test_support_free_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("rbox-cli-env-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }
}
