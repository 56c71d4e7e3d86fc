//! Registry commands: `pull`, `push`, `login`, `logout` — flags and
//! presentation over rbox-registry's [`Client`] and [`CredentialStore`].
//!
//! Output follows docker: progress on stderr, the result (the name, or
//! the digest with `--quiet`) on stdout, errors as `rbox: <chain>` with
//! exit status 1. Credentials are only written after the registry
//! accepted them.

use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rbox_image::{Reference, Store};
use rbox_registry::auth::{CredentialStore, Stored};
use rbox_registry::{Client, ClientConfig, Credential, Error as RegistryError, StaticCredentials};
use serde_json::json;

use super::progress::{Direction, Display, Mode};
use super::{chain, platform};
use crate::Global;

/// The environment variable that turns on JSON progress (`json`).
const PROGRESS_ENV: &str = "RBOX_PROGRESS";

/// Flags shared by the commands that talk to a registry.
#[derive(clap::Args, Debug, Clone)]
pub struct RegistryOpts {
    /// Verify TLS certificates (`--tls-verify=false` for a test registry).
    #[arg(
        long,
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub tls_verify: bool,
    /// The auth file (default: $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
    /// Registries (`host[:port]`) that may be used over plain HTTP; repeat or comma-separate.
    #[arg(
        long = "insecure-registry",
        env = "RBOX_INSECURE_REGISTRIES",
        value_delimiter = ',',
        value_name = "HOST"
    )]
    pub insecure_registries: Vec<String>,
}

/// How pull and push report.
#[derive(clap::Args, Debug, Clone)]
pub struct OutputOpts {
    /// Print only the manifest digest.
    #[arg(short, long)]
    pub quiet: bool,
    /// `text` (default) or `json`: one progress event per line on stdout (also RBOX_PROGRESS=json).
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
}

/// `rbox pull`.
#[derive(clap::Args, Debug)]
pub struct PullArgs {
    /// The image (`name[:tag]` or `name@digest`).
    pub name: String,
    /// The platform to pull from a multi-platform image (default: this host's).
    #[arg(long)]
    pub platform: Option<String>,
    /// Store the blobs only; unpack the layers on first use instead of now.
    #[arg(long)]
    pub no_unpack: bool,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

/// `rbox push`.
#[derive(clap::Args, Debug)]
pub struct PushArgs {
    /// The image's name in the store, which says where it goes.
    pub name: String,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(flatten)]
    pub registry: RegistryOpts,
}

/// `rbox login`.
#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// The registry (`host[:port]`; default docker.io).
    pub registry: Option<String>,
    /// The user name.
    #[arg(short, long)]
    pub username: Option<String>,
    /// The password (prefer --password-stdin: this one shows in `ps`).
    #[arg(short, long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from stdin.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub registry_opts: RegistryOpts,
}

/// `rbox logout`.
#[derive(clap::Args, Debug)]
pub struct LogoutArgs {
    /// The registry (`host[:port]`; default docker.io).
    pub registry: Option<String>,
    /// The auth file (default: $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json).
    #[arg(long, value_name = "FILE")]
    pub authfile: Option<PathBuf>,
}

fn credential_store(
    global: &Global,
    authfile: Option<&std::path::Path>,
) -> Result<CredentialStore> {
    Ok(CredentialStore::from_process(authfile)
        .context("cannot find the registry auth file")?
        .with_ecr_cache_dir(global.data_root.join("auth").join("ecr")))
}

/// Blobs transferred at once (default: the client's, 3).
const PARALLELISM_ENV: &str = "RBOX_PARALLELISM";

fn client_config(opts: &RegistryOpts) -> ClientConfig {
    let mut c = ClientConfig::default();
    if let Some(n) = std::env::var(PARALLELISM_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        c.parallelism = n;
    }
    c.tls_verify = opts.tls_verify;
    c.insecure_registries = opts
        .insecure_registries
        .iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    c
}

pub(crate) fn client(global: &Global, opts: &RegistryOpts) -> Result<Client> {
    client_with(global, opts, client_config(opts))
}

fn client_with(global: &Global, opts: &RegistryOpts, config: ClientConfig) -> Result<Client> {
    let creds = credential_store(global, opts.authfile.as_deref())?;
    Ok(Client::new(config, Arc::new(creds)))
}

fn progress_mode(o: &OutputOpts) -> Result<Mode> {
    let env = std::env::var(PROGRESS_ENV).ok();
    let format = o.format.as_deref().or(env.as_deref()).unwrap_or("text");
    Ok(match format {
        _ if o.quiet => Mode::Quiet,
        "json" => Mode::Json,
        "text" | "" if io::stderr().is_terminal() => Mode::Tty,
        "text" | "" => Mode::Plain,
        other => bail!("unknown progress format {other:?}: use text or json"),
    })
}

/// `rbox pull`.
pub fn pull(global: &Global, store: &Store, a: PullArgs) -> Result<()> {
    let name = Reference::parse(&a.name)
        .with_context(|| format!("invalid reference format {:?}", a.name))?;
    let platform = platform(&a.platform)?;
    let mode = progress_mode(&a.output)?;
    let mut config = client_config(&a.registry);
    if a.no_unpack {
        config.unpack_layers = false;
    }
    let client = client_with(global, &a.registry, config)?;
    let before = store.records()?.get(&name).map(|r| r.digest.clone());
    let text = matches!(mode, Mode::Tty | Mode::Plain);
    if text {
        if Reference::parse_normalized(&a.name)
            .is_ok_and(|r| r.tag().is_none() && r.digest().is_none())
        {
            eprintln!("Using default tag: latest");
        }
        let what = name
            .tag()
            .map(str::to_owned)
            .or_else(|| name.digest().map(ToString::to_string))
            .unwrap_or_default();
        eprintln!("{what}: Pulling from {}", name.path());
    }
    let display = Display::new(mode, Direction::Pull);
    let pulled = client
        .pull(&name, &platform, store, &display)
        .with_context(|| format!("pull {}", name.familiar()))?;
    display.finish();
    let digest = pulled.target.digest.to_string();
    match mode {
        Mode::Quiet => println!("{digest}"),
        Mode::Json => println!(
            "{}",
            json!({
                "state": "complete",
                "reference": name.to_string(),
                "digest": digest,
                "manifest": pulled.manifest.digest.to_string(),
                "id": pulled.config.digest.to_string(),
            })
        ),
        Mode::Tty | Mode::Plain => {
            eprintln!("Digest: {digest}");
            if before.as_ref() == Some(&pulled.target.digest) {
                eprintln!("Status: Image is up to date for {}", name.familiar());
            } else {
                eprintln!("Status: Downloaded newer image for {}", name.familiar());
            }
            println!("{name}");
        }
    }
    Ok(())
}

/// `rbox push`.
pub fn push(global: &Global, store: &Store, a: PushArgs) -> Result<()> {
    let name = Reference::parse(&a.name)
        .with_context(|| format!("invalid reference format {:?}", a.name))?;
    let records = store.records()?;
    let Some(record) = records.get(&name) else {
        bail!(
            "no image named {} in the store: tag one with `rbox tag IMAGE {}` first",
            name.familiar(),
            name.familiar()
        );
    };
    let digest = record.digest.clone();
    // The same choice the client makes, only to name it on the line.
    let mount_from = records
        .iter()
        .find(|(n, r)| r.digest == digest && n.domain() == name.domain() && n.path() != name.path())
        .map(|(n, _)| n.path().to_owned());
    drop(records);
    let mode = progress_mode(&a.output)?;
    let client = client(global, &a.registry)?;
    if matches!(mode, Mode::Tty | Mode::Plain) {
        eprintln!("The push refers to repository [{}]", name.name());
    }
    let display = Display::new(mode, Direction::Push { mount_from });
    let pushed = client
        .push(store, &digest, &name, &display)
        .with_context(|| format!("push {}", name.familiar()))?;
    display.finish();
    let digest = pushed.target.digest.to_string();
    match mode {
        Mode::Quiet => println!("{digest}"),
        Mode::Json => println!(
            "{}",
            json!({
                "state": "complete",
                "reference": name.to_string(),
                "digest": digest,
                "size": pushed.target.size,
            })
        ),
        Mode::Tty | Mode::Plain => println!(
            "{}: digest: {digest} size: {}",
            name.tag().unwrap_or("latest"),
            pushed.target.size
        ),
    }
    Ok(())
}

/// Exit status and `rbox: <chain>` for login and logout.
pub fn main_login(global: &Global, a: LoginArgs) -> ExitCode {
    exit(login(global, a))
}

/// Exit status and `rbox: <chain>` for logout.
pub fn main_logout(global: &Global, a: LogoutArgs) -> ExitCode {
    exit(logout(global, a))
}

fn exit(r: Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rbox: {}", chain(&e));
            ExitCode::from(1)
        }
    }
}

/// The registry host a user typed: `docker.io` by default; a URL
/// (`https://host:5000/v2/`) loses its scheme and path; docker's
/// `index.docker.io` names mean Docker Hub.
fn registry_name(arg: Option<&str>) -> Result<String> {
    let raw = arg.unwrap_or("docker.io").trim();
    let no_scheme = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .unwrap_or(raw);
    let host = no_scheme.split('/').next().unwrap_or_default();
    if host.is_empty() {
        bail!("invalid registry {raw:?}: give a host[:port]");
    }
    Ok(match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        h => h.to_ascii_lowercase(),
    })
}

fn login(global: &Global, a: LoginArgs) -> Result<()> {
    let registry = registry_name(a.registry.as_deref())?;
    let stdin = io::stdin();
    let username = match a.username {
        Some(u) => u,
        None if a.password_stdin => bail!("--password-stdin needs --username"),
        None if stdin.is_terminal() => prompt("Username: ")?,
        None => bail!("no username given: pass --username (stdin is not a terminal)"),
    };
    if username.is_empty() {
        bail!("the username is empty");
    }
    let password = if let Some(p) = a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else if a.password_stdin {
        let mut s = String::new();
        stdin
            .lock()
            .read_to_string(&mut s)
            .context("reading the password from stdin")?;
        s.trim_end_matches(['\n', '\r']).to_owned()
    } else if stdin.is_terminal() {
        prompt_hidden("Password: ")?
    } else {
        bail!("no password given: pass --password-stdin (stdin is not a terminal)");
    };
    if password.is_empty() {
        bail!("the password is empty");
    }
    // Check the secret against the registry before anything is written.
    let check = Client::new(
        client_config(&a.registry_opts),
        Arc::new(StaticCredentials::new().with(
            registry.clone(),
            Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            },
        )),
    );
    match check.authenticate(&registry) {
        Ok(()) => {}
        Err(RegistryError::Unauthorized { detail, .. }) => {
            bail!(
                "login to {registry} failed: unauthorized: incorrect username or password ({detail})"
            )
        }
        Err(e) => return Err(e).with_context(|| format!("login to {registry}")),
    }
    let creds = credential_store(global, a.registry_opts.authfile.as_deref())?;
    match creds
        .login(&registry, &username, &password)
        .with_context(|| format!("saving the login for {registry}"))?
    {
        Stored::File(path) => eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            path.display()
        ),
        Stored::Helper(h) => eprintln!("Credentials stored in docker-credential-{h}."),
        _ => {}
    }
    println!("Login Succeeded");
    Ok(())
}

fn logout(global: &Global, a: LogoutArgs) -> Result<()> {
    let registry = registry_name(a.registry.as_deref())?;
    let creds = credential_store(global, a.authfile.as_deref())?;
    let removed = creds
        .logout(&registry)
        .with_context(|| format!("logout from {registry}"))?;
    if !removed {
        bail!("not logged in to {registry}");
    }
    println!("Removing login credentials for {registry}");
    Ok(())
}

fn prompt(label: &str) -> Result<String> {
    eprint!("{label}");
    io::stderr().flush().ok();
    let mut s = String::new();
    io::stdin()
        .lock()
        .read_line(&mut s)
        .context("reading stdin")?;
    Ok(s.trim_end_matches(['\n', '\r']).to_owned())
}

/// Reads a line from the terminal with echo off, restoring it after.
fn prompt_hidden(label: &str) -> Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = io::stdin();
    let saved = tcgetattr(&stdin).context("reading terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).context("turning off echo")?;
    let line = prompt(label);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Wrap {
        #[command(flatten)]
        pull: PullArgs,
    }

    #[test]
    fn registry_flags() {
        use clap::Parser;
        let w = Wrap::try_parse_from([
            "pull",
            "--tls-verify=false",
            "--insecure-registry",
            "a.example:5000, b.example",
            "--insecure-registry=c.example",
            "-q",
            "busybox",
        ])
        .unwrap();
        let c = client_config(&w.pull.registry);
        assert!(!c.tls_verify);
        assert_eq!(
            c.insecure_registries,
            ["a.example:5000", "b.example", "c.example"]
        );
        assert!(w.pull.output.quiet);
        let w = Wrap::try_parse_from(["pull", "--tls-verify", "busybox"]).unwrap();
        assert!(client_config(&w.pull.registry).tls_verify);
        assert!(Wrap::try_parse_from(["pull", "--tls-verify", "false", "busybox"]).is_err());
    }

    #[test]
    fn registry_names() {
        assert_eq!(registry_name(None).unwrap(), "docker.io");
        assert_eq!(
            registry_name(Some("https://index.docker.io/v1/")).unwrap(),
            "docker.io"
        );
        assert_eq!(
            registry_name(Some("localhost:5000")).unwrap(),
            "localhost:5000"
        );
        assert_eq!(
            registry_name(Some("http://Example.com:80/v2/")).unwrap(),
            "example.com:80"
        );
        assert!(registry_name(Some("https://")).is_err());
    }
}
