//! The AWS SDKs' default credential chain, in their order: environment
//! variables, the shared credentials/config files (`AWS_PROFILE`), web
//! identity (`AssumeRoleWithWebIdentity`, as on EKS with IRSA), ECS/EKS
//! container credentials, and EC2 instance metadata (IMDSv2).
//!
//! A source that is not configured is skipped; a source that is
//! configured but fails stops the chain (as the SDKs do), so a broken
//! setup is never silently replaced by another identity. The final error
//! lists every source tried and why it gave nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Deserialize;

use super::aws_http::{self, METADATA, Timeouts};
use super::{AuthError, Env, time};

/// A set of AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
    /// When temporary credentials expire.
    pub expiration: Option<SystemTime>,
    /// Which source gave them (`environment`, `profile default`, ...).
    pub source: String,
}

impl std::fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("source", &self.source)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// What one source of the chain found.
enum Step {
    Found(AwsCredentials),
    /// Not configured here; the reason is reported if nothing is found.
    Skip(String),
    /// Configured and failed: the chain stops.
    Fail(String),
}

/// The profile in use: `AWS_PROFILE`, else `default`.
pub fn profile_name(env: &Env) -> String {
    env.var("AWS_PROFILE").unwrap_or("default").to_owned()
}

fn credentials_file(env: &Env) -> Option<PathBuf> {
    env.var("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| env.home().map(|h| h.join(".aws/credentials")))
}

fn config_file(env: &Env) -> Option<PathBuf> {
    env.var("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| env.home().map(|h| h.join(".aws/config")))
}

type Ini = BTreeMap<String, BTreeMap<String, String>>;

/// Parses the AWS INI dialect: `[section]`, `key = value`, `#`/`;`
/// comments. Indented lines (nested sub-settings) and anything unparsable
/// are ignored rather than fatal.
fn parse_ini(text: &str) -> Ini {
    let mut out = Ini::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            section = Some(name);
            continue;
        }
        if let (Some(section), Some((k, v))) = (&section, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    out
}

/// One profile's settings: the credentials file's `[name]` over the config
/// file's `[profile name]` (or `[default]`).
#[derive(Debug, Default)]
struct Profile {
    settings: BTreeMap<String, String>,
    found_in: Vec<PathBuf>,
}

fn load_profile(env: &Env, name: &str) -> Result<Profile, AuthError> {
    let mut profile = Profile::default();
    let read = |path: &PathBuf| -> Result<Option<Ini>, AuthError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(parse_ini(&String::from_utf8_lossy(&bytes)))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(AuthError::AwsProfile {
                path: path.clone(),
                profile: name.to_owned(),
                reason: format!("cannot read the file: {e}"),
            }),
        }
    };
    if let Some(path) = config_file(env)
        && let Some(ini) = read(&path)?
    {
        let section = if name == "default" {
            ini.get("default").or_else(|| ini.get("profile default"))
        } else {
            ini.get(&format!("profile {name}"))
        };
        if let Some(section) = section {
            profile.settings.extend(section.clone());
            profile.found_in.push(path);
        }
    }
    if let Some(path) = credentials_file(env)
        && let Some(ini) = read(&path)?
        && let Some(section) = ini.get(name)
    {
        profile.settings.extend(section.clone());
        profile.found_in.push(path);
    }
    Ok(profile)
}

/// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the profile's
/// `region`.
pub fn region(env: &Env) -> Option<String> {
    if let Some(r) = env
        .var("AWS_REGION")
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
    {
        return Some(r.to_owned());
    }
    let profile = load_profile(env, &profile_name(env)).ok()?;
    profile
        .settings
        .get("region")
        .filter(|r| !r.is_empty())
        .cloned()
}

type Source = fn(&CredentialChain) -> Step;

/// The default chain over an environment snapshot.
#[derive(Debug, Clone)]
pub struct CredentialChain {
    env: Env,
    metadata_timeouts: Timeouts,
}

impl CredentialChain {
    /// A chain reading `env`.
    pub fn new(env: Env) -> Self {
        Self {
            env,
            metadata_timeouts: METADATA,
        }
    }

    /// Credentials from the first source that has them. `registry` only
    /// names what they are for in the error.
    pub fn resolve(&self, registry: &str) -> Result<AwsCredentials, AuthError> {
        let sources: [(&str, Source); 5] = [
            ("environment", Self::env_source),
            ("shared config", Self::profile_source),
            ("web identity", Self::web_identity_source),
            ("container credentials", Self::container_source),
            ("EC2 instance metadata", Self::imds_source),
        ];
        let mut tried = Vec::new();
        for (name, source) in sources {
            match source(self) {
                Step::Found(creds) => {
                    tracing::debug!(source = %creds.source, "found AWS credentials");
                    return Ok(creds);
                }
                Step::Skip(why) => tried.push(format!("{name}: {why}")),
                Step::Fail(why) => {
                    tried.push(format!("{name}: {why}"));
                    break;
                }
            }
        }
        Err(AuthError::NoAwsCredentials {
            registry: registry.to_owned(),
            tried,
        })
    }

    fn env_source(&self) -> Step {
        let env = &self.env;
        match (
            env.var("AWS_ACCESS_KEY_ID"),
            env.var("AWS_SECRET_ACCESS_KEY"),
        ) {
            (Some(id), Some(secret)) => Step::Found(AwsCredentials {
                access_key_id: id.to_owned(),
                secret_access_key: secret.to_owned(),
                session_token: env.var("AWS_SESSION_TOKEN").map(str::to_owned),
                expiration: None,
                source: "environment".into(),
            }),
            (None, None) => Step::Skip("AWS_ACCESS_KEY_ID is not set".into()),
            (Some(_), None) => {
                Step::Fail("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into())
            }
            (None, Some(_)) => {
                Step::Fail("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into())
            }
        }
    }

    fn profile_source(&self) -> Step {
        let name = profile_name(&self.env);
        let profile = match load_profile(&self.env, &name) {
            Ok(p) => p,
            Err(e) => return Step::Fail(e.to_string()),
        };
        let files = || {
            [credentials_file(&self.env), config_file(&self.env)]
                .into_iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if profile.found_in.is_empty() {
            let why = format!("profile {name:?} not found in {}", files());
            // An explicitly chosen profile that does not exist is a mistake.
            return if self.env.var("AWS_PROFILE").is_some() {
                Step::Fail(why)
            } else {
                Step::Skip(why)
            };
        }
        let s = &profile.settings;
        let get = |k: &str| s.get(k).filter(|v| !v.is_empty());
        match (get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(id), Some(secret)) => Step::Found(AwsCredentials {
                access_key_id: id.clone(),
                secret_access_key: secret.clone(),
                session_token: get("aws_session_token").cloned(),
                expiration: None,
                source: format!("profile {name}"),
            }),
            _ => {
                let unsupported = [
                    "role_arn",
                    "credential_process",
                    "sso_session",
                    "sso_start_url",
                ]
                .into_iter()
                .find(|k| get(k).is_some());
                match unsupported {
                    Some(k) => Step::Fail(format!(
                        "profile {name:?} uses {k}, which rbox does not support: export credentials with `aws configure export-credentials --format env`"
                    )),
                    None => Step::Skip(format!(
                        "profile {name:?} has no aws_access_key_id/aws_secret_access_key"
                    )),
                }
            }
        }
    }

    fn web_identity_source(&self) -> Step {
        let env = &self.env;
        let (Some(token_file), Some(role_arn)) = (
            env.var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            env.var("AWS_ROLE_ARN"),
        ) else {
            return Step::Skip(
                "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not both set".into(),
            );
        };
        let token = match std::fs::read_to_string(token_file) {
            Ok(t) => t.trim().to_owned(),
            Err(e) => return Step::Fail(format!("cannot read token file {token_file}: {e}")),
        };
        let session = env
            .var("AWS_ROLE_SESSION_NAME")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("rbox-{}", time::amz_date(SystemTime::now())));
        let url = match env
            .var("AWS_ENDPOINT_URL_STS")
            .or_else(|| env.var("AWS_ENDPOINT_URL"))
        {
            Some(u) => u.to_owned(),
            None => match region(env) {
                Some(r) => format!("https://sts.{r}.amazonaws.com/"),
                None => "https://sts.amazonaws.com/".to_owned(),
            },
        };
        let body = aws_http::form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", role_arn),
            ("RoleSessionName", &session),
            ("WebIdentityToken", &token),
        ]);
        let headers = [(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded; charset=utf-8".to_owned(),
        )];
        let response =
            match aws_http::send("POST", &url, &headers, body.into_bytes(), aws_http::API) {
                Ok(r) => r,
                Err(e) => return Step::Fail(format!("STS at {url}: {e}")),
            };
        let text = response.text();
        if response.status != 200 {
            let msg = aws_http::error_message(&response.body);
            return Step::Fail(format!("STS at {url} answered {}: {msg}", response.status));
        }
        match (
            aws_http::xml_tag(&text, "AccessKeyId"),
            aws_http::xml_tag(&text, "SecretAccessKey"),
        ) {
            (Some(id), Some(secret)) => Step::Found(AwsCredentials {
                access_key_id: id,
                secret_access_key: secret,
                session_token: aws_http::xml_tag(&text, "SessionToken"),
                expiration: aws_http::xml_tag(&text, "Expiration")
                    .and_then(|e| time::parse_rfc3339(&e)),
                source: format!("web identity ({role_arn})"),
            }),
            _ => Step::Fail(format!("STS at {url} returned no credentials")),
        }
    }

    fn container_source(&self) -> Step {
        let env = &self.env;
        let url = if let Some(rel) = env.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            format!("http://169.254.170.2{rel}")
        } else if let Some(full) = env.var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            if let Err(why) = check_container_uri(full) {
                return Step::Fail(why);
            }
            full.to_owned()
        } else {
            return Step::Skip(
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI are not set".into(),
            );
        };
        let token = if let Some(file) = env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            match std::fs::read_to_string(file) {
                Ok(t) => Some(t.trim().to_owned()),
                Err(e) => return Step::Fail(format!("cannot read {file}: {e}")),
            }
        } else {
            env.var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
                .map(str::to_owned)
        };
        let headers: Vec<_> = token
            .into_iter()
            .map(|t| ("authorization".to_owned(), t))
            .collect();
        match aws_http::send("GET", &url, &headers, Vec::new(), self.metadata_timeouts) {
            Ok(r) if r.status == 200 => {
                metadata_credentials(&r.body, "container credentials", &url)
            }
            Ok(r) => Step::Fail(format!(
                "{url} answered {}: {}",
                r.status,
                aws_http::error_message(&r.body)
            )),
            Err(e) => Step::Fail(format!("{url}: {e}")),
        }
    }

    fn imds_source(&self) -> Step {
        let env = &self.env;
        if env
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Step::Skip("disabled by AWS_EC2_METADATA_DISABLED".into());
        }
        let base = env
            .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
            .unwrap_or("http://169.254.169.254")
            .trim_end_matches('/')
            .to_owned();
        let t = self.metadata_timeouts;
        let ttl = [(
            "x-aws-ec2-metadata-token-ttl-seconds".to_owned(),
            "21600".to_owned(),
        )];
        let token = match aws_http::send(
            "PUT",
            &format!("{base}/latest/api/token"),
            &ttl,
            Vec::new(),
            t,
        ) {
            Ok(r) if r.status == 200 => r.text(),
            Ok(r) => return Step::Skip(format!("{base} refused an IMDSv2 token ({})", r.status)),
            Err(e) => return Step::Skip(format!("{base} not reachable (not on EC2?): {e}")),
        };
        let auth = [("x-aws-ec2-metadata-token".to_owned(), token)];
        let roles_url = format!("{base}/latest/meta-data/iam/security-credentials/");
        let role = match aws_http::send("GET", &roles_url, &auth, Vec::new(), t) {
            Ok(r) if r.status == 200 => r.text().lines().next().unwrap_or("").trim().to_owned(),
            Ok(r) if r.status == 404 => return Step::Skip("the instance has no IAM role".into()),
            Ok(r) => return Step::Fail(format!("{roles_url} answered {}", r.status)),
            Err(e) => return Step::Fail(format!("{roles_url}: {e}")),
        };
        if role.is_empty() || role.contains('/') {
            return Step::Skip("the instance has no IAM role".into());
        }
        let url = format!("{roles_url}{role}");
        match aws_http::send("GET", &url, &auth, Vec::new(), t) {
            Ok(r) if r.status == 200 => metadata_credentials(&r.body, "EC2 instance role", &url),
            Ok(r) => Step::Fail(format!("{url} answered {}", r.status)),
            Err(e) => Step::Fail(format!("{url}: {e}")),
        }
    }
}

/// The SDKs accept a full URI over plain HTTP only to loopback or the
/// ECS/EKS link-local agents: anything else could leak the token.
fn check_container_uri(uri: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(uri)
        .map_err(|e| format!("AWS_CONTAINER_CREDENTIALS_FULL_URI {uri:?} is not a URL: {e}"))?;
    if url.scheme() == "https" {
        return Ok(());
    }
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let allowed = match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_loopback()
                || ip == std::net::Ipv4Addr::new(169, 254, 170, 2)
                || ip == std::net::Ipv4Addr::new(169, 254, 170, 23)
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback() || ip == std::net::Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)
        }
        Err(_) => host == "localhost",
    };
    if url.scheme() == "http" && allowed {
        Ok(())
    } else {
        Err(format!(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI {uri} must be https, or http to loopback or the ECS/EKS agent address"
        ))
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataCredentials {
    #[serde(default)]
    code: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
}

fn metadata_credentials(body: &[u8], source: &str, url: &str) -> Step {
    let creds: MetadataCredentials = match serde_json::from_slice(body) {
        Ok(c) => c,
        Err(e) => return Step::Fail(format!("{url} returned invalid credentials JSON: {e}")),
    };
    if let Some(code) = creds.code.as_deref().filter(|c| *c != "Success") {
        return Step::Fail(format!("{url} returned code {code}"));
    }
    Step::Found(AwsCredentials {
        access_key_id: creds.access_key_id,
        secret_access_key: creds.secret_access_key,
        session_token: creds.token.filter(|t| !t.is_empty()),
        expiration: creds.expiration.and_then(|e| time::parse_rfc3339(&e)),
        source: source.to_owned(),
    })
}

#[cfg(test)]
#[path = "aws_credentials_tests.rs"]
mod tests;
