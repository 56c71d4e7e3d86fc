//! docker's credential-helper protocol: `docker-credential-<name>
//! get|store|erase|list`, one request on stdin, JSON on stdout.
//!
//! Helpers are found on the `PATH` of the given [`Env`] and run with that
//! environment only, so tests can point at fake helpers without touching
//! the process. Every call has a deadline; a helper that hangs is killed.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{AuthError, Env};
use crate::credential::Credential;

/// How long a helper may take by default (keychain prompts included).
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The username helpers return for an identity token instead of a password.
const TOKEN_USERNAME: &str = "<token>";

/// One credential helper binary.
#[derive(Debug, Clone)]
pub struct CredentialHelper {
    program: PathBuf,
    env: Env,
    timeout: Duration,
}

#[derive(Serialize, Deserialize)]
struct HelperCredential {
    #[serde(rename = "ServerURL", default)]
    server_url: String,
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl CredentialHelper {
    /// Finds `docker-credential-<name>` on `env`'s PATH. `registry` only
    /// names the registry in the error.
    pub fn find(name: &str, registry: &str, env: &Env) -> Result<Self, AuthError> {
        let program_name = format!("docker-credential-{name}");
        let found = env.var("PATH").and_then(|path| {
            std::env::split_paths(path)
                .map(|dir| dir.join(&program_name))
                .find(|p| is_executable(p))
        });
        match found {
            Some(program) => Ok(Self {
                program,
                env: env.clone(),
                timeout: DEFAULT_HELPER_TIMEOUT,
            }),
            None => Err(AuthError::HelperNotFound {
                program: program_name,
                registry: registry.to_owned(),
            }),
        }
    }

    /// This helper with another deadline per call.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The binary.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The credential for `server_url`; `None` when the helper has none
    /// ("credentials not found"). A `<token>` username means the secret is
    /// an identity token.
    pub fn get(&self, server_url: &str) -> Result<Option<Credential>, AuthError> {
        let out = self.run("get", server_url, server_url.as_bytes())?;
        let out = match out {
            Outcome::Ok(stdout) => stdout,
            Outcome::NotFound => return Ok(None),
        };
        let cred: HelperCredential =
            serde_json::from_slice(&out).map_err(|e| AuthError::HelperOutput {
                program: self.program.clone(),
                action: "get",
                reason: e.to_string(),
            })?;
        if cred.secret.is_empty() {
            return Ok(None);
        }
        if cred.username == TOKEN_USERNAME {
            return Ok(Some(Credential::IdentityToken(cred.secret)));
        }
        Ok(Some(Credential::Basic {
            username: cred.username,
            password: cred.secret,
        }))
    }

    /// Stores a secret for `server_url`.
    pub fn store(&self, server_url: &str, username: &str, secret: &str) -> Result<(), AuthError> {
        let input = serde_json::to_vec(&HelperCredential {
            server_url: server_url.to_owned(),
            username: username.to_owned(),
            secret: secret.to_owned(),
        })
        .map_err(|e| AuthError::HelperOutput {
            program: self.program.clone(),
            action: "store",
            reason: e.to_string(),
        })?;
        self.run("store", server_url, &input).map(drop)
    }

    /// Erases the secret for `server_url`; true if there was one.
    pub fn erase(&self, server_url: &str) -> Result<bool, AuthError> {
        Ok(matches!(
            self.run("erase", server_url, server_url.as_bytes())?,
            Outcome::Ok(_)
        ))
    }

    /// Server URL -> username of every stored secret.
    pub fn list(&self) -> Result<BTreeMap<String, String>, AuthError> {
        match self.run("list", "", b"")? {
            Outcome::NotFound => Ok(BTreeMap::new()),
            Outcome::Ok(out) => serde_json::from_slice(&out).map_err(|e| AuthError::HelperOutput {
                program: self.program.clone(),
                action: "list",
                reason: e.to_string(),
            }),
        }
    }

    fn run(
        &self,
        action: &'static str,
        registry: &str,
        input: &[u8],
    ) -> Result<Outcome, AuthError> {
        let spawn_err = |source| AuthError::HelperSpawn {
            program: self.program.clone(),
            action,
            source,
        };
        tracing::debug!(program = %self.program.display(), action, registry, "running credential helper");
        let mut child = Command::new(&self.program)
            .arg(action)
            .env_clear()
            .envs(self.env.iter())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(spawn_err)?;
        // Feed and drain on threads so a helper that ignores stdin or fills
        // a pipe cannot block us past the deadline.
        let mut stdin = child.stdin.take();
        let input = input.to_vec();
        let writer = std::thread::spawn(move || {
            if let Some(mut stdin) = stdin.take() {
                let _ = stdin.write_all(&input);
            }
        });
        // Output comes back over a channel so that a grandchild keeping the
        // pipes open cannot hold us past the deadline either.
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
        let reader = |index: usize, pipe: Option<Box<dyn Read + Send>>| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut pipe) = pipe {
                    // Bounded: a helper has no business printing megabytes.
                    let _ = pipe.by_ref().take(1 << 20).read_to_end(&mut buf);
                }
                let _ = tx.send((index, buf));
            });
        };
        reader(
            0,
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        reader(
            1,
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let deadline = Instant::now() + self.timeout;
        let timed_out = || AuthError::HelperTimeout {
            program: self.program.clone(),
            action,
            registry: registry.to_owned(),
            seconds: self.timeout.as_secs(),
        };
        let status = loop {
            if let Some(status) = child.try_wait().map_err(spawn_err)? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(timed_out());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        drop(writer);
        let mut output = [Vec::new(), Vec::new()];
        for _ in 0..2 {
            let left = deadline.saturating_duration_since(Instant::now());
            let (index, buf) = rx.recv_timeout(left).map_err(|_| timed_out())?;
            output[index] = buf;
        }
        let [stdout, stderr] = output;
        if status.success() {
            return Ok(Outcome::Ok(stdout));
        }
        let message = |b: &[u8]| String::from_utf8_lossy(b).trim().to_owned();
        let (out, err) = (message(&stdout), message(&stderr));
        if out.contains("credentials not found") || err.contains("credentials not found") {
            return Ok(Outcome::NotFound);
        }
        Err(AuthError::HelperFailed {
            program: self.program.clone(),
            action,
            registry: registry.to_owned(),
            status: status.to_string(),
            stderr: if err.is_empty() { out } else { err },
        })
    }
}

enum Outcome {
    Ok(Vec<u8>),
    NotFound,
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
#[path = "helper_tests.rs"]
pub(crate) mod tests;
