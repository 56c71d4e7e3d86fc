//! Errors of credential lookup and storage. Each names the file, helper,
//! registry or profile involved and, where the user can act, says what to
//! do.

use std::path::PathBuf;

/// Finding, fetching or storing registry credentials failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No auth file path could be chosen (no `HOME`, no override).
    #[error(
        "cannot locate the registry auth file: set HOME, DOCKER_CONFIG or REGISTRY_AUTH_FILE, or pass --authfile"
    )]
    NoAuthFilePath,
    /// The auth file exists but cannot be read.
    #[error("cannot read registry auth file {path}")]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The auth file is not a docker config.
    #[error("registry auth file {path} is corrupt ({reason}): fix or remove it")]
    ConfigParse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// One registry's entry in the auth file is unusable.
    #[error(
        "registry auth file {path}: the entry for {registry} is invalid ({reason}): log in again"
    )]
    ConfigEntry {
        /// The file.
        path: PathBuf,
        /// The registry key.
        registry: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the auth file failed.
    #[error("cannot write registry auth file {path}")]
    ConfigWrite {
        /// The file (or its directory).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A credential helper name that cannot be a program name.
    #[error(
        "registry auth file {path}: credential helper name {helper:?} is invalid (letters, digits, '.', '_' and '-' only)"
    )]
    HelperName {
        /// The file naming the helper.
        path: PathBuf,
        /// The name given.
        helper: String,
    },
    /// The helper binary is not on PATH.
    #[error(
        "credential helper {program} (configured for {registry}) not found in PATH: install it or remove it from credHelpers/credsStore"
    )]
    HelperNotFound {
        /// The binary name, `docker-credential-<name>`.
        program: String,
        /// The registry it was wanted for.
        registry: String,
    },
    /// The helper could not be started or talked to.
    #[error("cannot run credential helper {program} {action}")]
    HelperSpawn {
        /// The binary path.
        program: PathBuf,
        /// `get`, `store`, `erase` or `list`.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The helper exited with an error.
    #[error("credential helper {program} {action} for {registry} failed ({status}): {stderr:?}")]
    HelperFailed {
        /// The binary path.
        program: PathBuf,
        /// `get`, `store`, `erase` or `list`.
        action: &'static str,
        /// The registry (server URL) asked about.
        registry: String,
        /// The exit status.
        status: String,
        /// What it printed (stderr, else stdout), trimmed.
        stderr: String,
    },
    /// The helper did not finish in time and was killed.
    #[error("credential helper {program} {action} for {registry} did not answer within {seconds}s")]
    HelperTimeout {
        /// The binary path.
        program: PathBuf,
        /// `get`, `store`, `erase` or `list`.
        action: &'static str,
        /// The registry asked about.
        registry: String,
        /// The limit.
        seconds: u64,
    },
    /// The helper printed something that is not its JSON protocol.
    #[error("credential helper {program} {action} printed invalid output ({reason})")]
    HelperOutput {
        /// The binary path.
        program: PathBuf,
        /// `get` or `list`.
        action: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Login or logout on a registry whose credentials come from AWS.
    #[error(
        "{registry} uses ECR authentication (ecr-login): credentials come from AWS, so there is nothing to log in to or out of"
    )]
    EcrManaged {
        /// The registry.
        registry: String,
    },
    /// No AWS credential source produced credentials.
    #[error(
        "no AWS credentials for {registry}; tried: {}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, configure AWS_PROFILE, or run with an instance/task role",
        tried.join("; ")
    )]
    NoAwsCredentials {
        /// The registry they were wanted for.
        registry: String,
        /// Each source tried, with why it gave nothing.
        tried: Vec<String>,
    },
    /// The region for an ECR call is unknown.
    #[error(
        "no AWS region for {registry}: set AWS_REGION or `region` in the profile of the AWS config file"
    )]
    NoAwsRegion {
        /// The registry.
        registry: String,
    },
    /// An AWS shared config or credentials file is unusable.
    #[error("AWS profile {profile:?} in {path}: {reason}")]
    AwsProfile {
        /// The file.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// What is wrong.
        reason: String,
    },
    /// An AWS endpoint could not be reached or answered badly.
    #[error("AWS {operation} at {url} failed: {reason}")]
    AwsRequest {
        /// `ecr:GetAuthorizationToken`, `sts:AssumeRoleWithWebIdentity`...
        operation: &'static str,
        /// The endpoint.
        url: String,
        /// What went wrong, with the service's error message if any.
        reason: String,
    },
}
