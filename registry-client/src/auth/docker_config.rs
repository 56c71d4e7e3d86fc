//! docker's `config.json` (and podman's `auth.json`, the same format):
//! where it lives, what it says about a registry, and writing logins back.
//!
//! Invariants: the file is only ever replaced whole (temp file, fsync,
//! rename), mode 0600 in a 0700 directory; fields rbox does not know are
//! kept; a file that does not parse is reported with its path and never
//! overwritten.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{AuthError, Env, base64};
use crate::credential::Credential;

/// The key docker uses for Docker Hub in `auths` and with helpers.
pub const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Reduces a config key or registry name to the form lookups compare:
/// scheme and path dropped, host lower-cased, Docker Hub's aliases
/// (`index.docker.io`, `registry-1.docker.io`, ...) folded to `docker.io`.
pub fn normalize_registry(key: &str) -> String {
    let key = key.trim();
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest).to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

/// The server URL docker passes to credential helpers for `registry`.
pub fn helper_server_url(registry: &str) -> String {
    let host = normalize_registry(registry);
    if host == "docker.io" {
        DOCKER_HUB_SERVER.to_owned()
    } else {
        host
    }
}

/// Where credentials are read from and written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFile {
    path: PathBuf,
    fallback: Option<PathBuf>,
}

impl AuthFile {
    /// Resolves the file as docker and podman do: `explicit` (`--authfile`),
    /// else `REGISTRY_AUTH_FILE`, else `$DOCKER_CONFIG/config.json`, else
    /// `~/.docker/config.json`. When none of the first three is given,
    /// podman's `$XDG_RUNTIME_DIR/containers/auth.json` is also read (never
    /// written) for registries the main file does not know.
    pub fn resolve(explicit: Option<&Path>, env: &Env) -> Result<Self, AuthError> {
        if let Some(path) = explicit {
            return Ok(Self::at(path));
        }
        if let Some(path) = env.var("REGISTRY_AUTH_FILE") {
            return Ok(Self::at(path));
        }
        if let Some(dir) = env.var("DOCKER_CONFIG") {
            return Ok(Self::at(Path::new(dir).join("config.json")));
        }
        let home = env.home().ok_or(AuthError::NoAuthFilePath)?;
        let fallback = env
            .var("XDG_RUNTIME_DIR")
            .map(|dir| Path::new(dir).join("containers/auth.json"));
        Ok(Self {
            path: home.join(".docker/config.json"),
            fallback,
        })
    }

    /// Exactly `path`, with no fallback.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            fallback: None,
        }
    }

    /// The file logins are written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read-only fallback (podman's auth.json), if any.
    pub fn fallback(&self) -> Option<&Path> {
        self.fallback.as_deref()
    }

    /// The main file's content; a missing file reads as empty.
    pub fn load(&self) -> Result<DockerConfig, AuthError> {
        DockerConfig::load(&self.path)
    }

    /// The fallback file's content, if there is a fallback and it exists.
    pub fn load_fallback(&self) -> Result<Option<DockerConfig>, AuthError> {
        match &self.fallback {
            Some(path) if path.exists() => DockerConfig::load(path).map(Some),
            _ => Ok(None),
        }
    }
}

/// A parsed config file: the whole JSON document, so unknown fields
/// survive a rewrite.
#[derive(Clone)]
pub struct DockerConfig {
    path: PathBuf,
    doc: Map<String, Value>,
}

// The document holds secrets.
impl std::fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerConfig")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DockerConfig {
    /// Reads and parses `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        match fs::read(path) {
            Ok(bytes) => Self::parse(path, &bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::empty(path)),
            Err(source) => Err(AuthError::ConfigRead {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// An empty config that would be saved to `path`.
    pub fn empty(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            doc: Map::new(),
        }
    }

    /// Parses `bytes` (the content of `path`), checking the shape of the
    /// fields rbox uses. An empty or whitespace-only file is empty.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, AuthError> {
        let bad = |reason: String| AuthError::ConfigParse {
            path: path.to_owned(),
            reason,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self::empty(path));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let Value::Object(doc) = value else {
            return Err(bad("the top level is not a JSON object".into()));
        };
        match doc.get("auths") {
            None | Some(Value::Null) => {}
            Some(Value::Object(auths)) => {
                if let Some((key, _)) = auths.iter().find(|(_, v)| !v.is_object()) {
                    return Err(bad(format!("auths[{key:?}] is not an object")));
                }
            }
            Some(_) => return Err(bad("\"auths\" is not an object".into())),
        }
        match doc.get("credHelpers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(helpers)) => {
                if let Some((key, _)) = helpers.iter().find(|(_, v)| !v.is_string()) {
                    return Err(bad(format!("credHelpers[{key:?}] is not a string")));
                }
            }
            Some(_) => return Err(bad("\"credHelpers\" is not an object".into())),
        }
        if !matches!(
            doc.get("credsStore"),
            None | Some(Value::Null | Value::String(_))
        ) {
            return Err(bad("\"credsStore\" is not a string".into()));
        }
        Ok(Self {
            path: path.to_owned(),
            doc,
        })
    }

    /// The file this config came from (and is saved to).
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    /// The `auths` key for `registry`: an exact match first, else the first
    /// key that normalizes to the same host.
    fn auth_key(&self, registry: &str) -> Option<String> {
        let auths = self.auths()?;
        if auths.contains_key(registry) {
            return Some(registry.to_owned());
        }
        let want = normalize_registry(registry);
        auths
            .keys()
            .find(|k| normalize_registry(k) == want)
            .cloned()
    }

    /// The credential `auths` holds for `registry`: base64 `auth`
    /// (`user:password`), or `username`/`password`, or `identitytoken`.
    /// `None` for no entry or an empty one (left by docker when a helper
    /// holds the secret).
    pub fn auth(&self, registry: &str) -> Result<Option<Credential>, AuthError> {
        let Some(key) = self.auth_key(registry) else {
            return Ok(None);
        };
        let entry = self
            .auths()
            .and_then(|a| a.get(&key))
            .and_then(Value::as_object);
        let Some(entry) = entry else {
            return Ok(None);
        };
        let bad = |reason: &str| AuthError::ConfigEntry {
            path: self.path.clone(),
            registry: key.clone(),
            reason: reason.to_owned(),
        };
        let field = |name: &str| -> Result<Option<&str>, AuthError> {
            match entry.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(bad(&format!("{name:?} is not a string"))),
            }
        };
        if let Some(token) = field("identitytoken")? {
            return Ok(Some(Credential::IdentityToken(token.to_owned())));
        }
        if let Some(auth) = field("auth")? {
            let decoded = base64::decode(auth).ok_or_else(|| bad("\"auth\" is not base64"))?;
            let text = String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not UTF-8"))?;
            let (username, password) = text
                .split_once(':')
                .ok_or_else(|| bad("\"auth\" does not decode to user:password"))?;
            return Ok(Some(Credential::Basic {
                username: username.to_owned(),
                password: password.trim_end_matches('\n').to_owned(),
            }));
        }
        match (field("username")?, field("password")?) {
            (Some(username), Some(password)) => Ok(Some(Credential::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            })),
            _ => Ok(None),
        }
    }

    /// The helper `credHelpers` names for `registry`, if any.
    pub fn cred_helper(&self, registry: &str) -> Result<Option<&str>, AuthError> {
        let Some(helpers) = self.doc.get("credHelpers").and_then(Value::as_object) else {
            return Ok(None);
        };
        let want = normalize_registry(registry);
        let name = helpers
            .get(registry)
            .or_else(|| {
                helpers
                    .iter()
                    .find(|(k, _)| normalize_registry(k) == want)
                    .map(|(_, v)| v)
            })
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        name.map(|n| self.valid_helper(n)).transpose()
    }

    /// The default helper (`credsStore`), if any.
    pub fn creds_store(&self) -> Result<Option<&str>, AuthError> {
        let name = self
            .doc
            .get("credsStore")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        name.map(|n| self.valid_helper(n)).transpose()
    }

    /// The helper that stores `registry`'s secret: `credHelpers`, else
    /// `credsStore`.
    pub fn store_helper(&self, registry: &str) -> Result<Option<&str>, AuthError> {
        match self.cred_helper(registry)? {
            Some(name) => Ok(Some(name)),
            None => self.creds_store(),
        }
    }

    // The name becomes part of a program name looked up on PATH: no paths.
    fn valid_helper<'a>(&self, name: &'a str) -> Result<&'a str, AuthError> {
        let ok = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            && !name.starts_with('.');
        if ok {
            Ok(name)
        } else {
            Err(AuthError::HelperName {
                path: self.path.clone(),
                helper: name.to_owned(),
            })
        }
    }

    /// Stores `username:password` in `auths` (base64, docker's format),
    /// replacing any previous secret for the registry and keeping the
    /// entry's other fields.
    pub fn set_auth(&mut self, registry: &str, username: &str, password: &str) {
        let key = self
            .auth_key(registry)
            .unwrap_or_else(|| config_key(registry));
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        let Value::Object(auths) = auths else {
            return;
        };
        let entry = auths
            .entry(key)
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        if let Value::Object(entry) = entry {
            for stale in ["username", "password", "identitytoken", "registrytoken"] {
                entry.remove(stale);
            }
            let auth = base64::encode(format!("{username}:{password}").as_bytes());
            entry.insert("auth".into(), Value::String(auth));
        }
    }

    /// Removes every `auths` entry for `registry`; true if one existed.
    pub fn remove_auth(&mut self, registry: &str) -> bool {
        let want = normalize_registry(registry);
        let Some(Value::Object(auths)) = self.doc.get_mut("auths") else {
            return false;
        };
        let before = auths.len();
        auths.retain(|k, _| k != registry && normalize_registry(k) != want);
        auths.len() != before
    }

    /// The document as written: pretty JSON with a trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(&self.doc).unwrap_or_else(|_| b"{}".to_vec());
        out.push(b'\n');
        out
    }

    /// Writes the config atomically to its path: parent directories 0700,
    /// a 0600 temp file beside it, fsync, rename, fsync of the directory.
    pub fn save(&self) -> Result<(), AuthError> {
        let write_err = |path: &Path| {
            let path = path.to_owned();
            move |source| AuthError::ConfigWrite { path, source }
        };
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(write_err(&dir))?;
        let name = self.path.file_name().map_or_else(
            || "config.json".into(),
            |n| n.to_string_lossy().into_owned(),
        );
        // Unique per process and call, so concurrent saves never share a
        // temp file (the last rename wins, as with docker).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        let result = (|| {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&self.to_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            fs::File::open(&dir)?.sync_all()
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(write_err(&self.path))
    }
}

/// The key a new `auths` entry gets: docker's Hub URL for Docker Hub, the
/// host otherwise.
fn config_key(registry: &str) -> String {
    helper_server_url(registry)
}

#[cfg(test)]
#[path = "docker_config_tests.rs"]
mod tests;
