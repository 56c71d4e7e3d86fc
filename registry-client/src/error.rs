//! The registry client's errors: each names the registry, repository or
//! digest involved and, where the user can act, says what to do.

use rbox_image::Digest;

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a registry operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry demanded credentials and had none (or refused them).
    #[error("authentication required for {registry}: run `rbox login {registry}`")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// What the registry said, if anything.
        detail: String,
    },
    /// The credentials were accepted but lack access.
    #[error(
        "access to {repository} on {registry} denied: the credentials lack permission for it{}",
        detail_suffix(detail)
    )]
    Forbidden {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// What the registry said, if anything.
        detail: String,
    },
    /// No manifest with that tag or digest.
    #[error("manifest unknown: {repository}:{reference} not found on {registry}")]
    ManifestUnknown {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// The tag or digest asked for.
        reference: String,
    },
    /// No blob with that digest.
    #[error("blob unknown: {digest} not found in {repository} on {registry}")]
    BlobUnknown {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// The digest asked for.
        digest: Digest,
    },
    /// No such repository (for tag listing).
    #[error("repository {repository} not found on {registry}")]
    RepositoryUnknown {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
    },
    /// Content did not hash to the digest it was asked for by.
    #[error("digest mismatch for {what} from {registry}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The registry host.
        registry: String,
        /// What was fetched (`manifest repo:tag`, `blob repo@digest`).
        what: String,
        /// The digest asked for.
        expected: Digest,
        /// The digest of what came.
        actual: Digest,
    },
    /// Content had a different size than its descriptor says.
    #[error("size mismatch for {what} from {registry}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The registry host.
        registry: String,
        /// What was fetched.
        what: String,
        /// The size the descriptor gives.
        expected: u64,
        /// The size that came.
        actual: u64,
    },
    /// A manifest (or other small document) exceeded the size cap.
    #[error("{what} from {registry} is too large: more than {limit} bytes")]
    TooLarge {
        /// The registry host.
        registry: String,
        /// What was fetched.
        what: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// A manifest of a media type this client does not handle.
    #[error("unknown manifest media type {media_type:?} for {what} from {registry}")]
    UnknownMediaType {
        /// The registry host.
        registry: String,
        /// What was fetched.
        what: String,
        /// The Content-Type or `mediaType` found.
        media_type: String,
    },
    /// Redirects did not end within the cap.
    #[error("redirect loop fetching {url}: more than {limit} redirects")]
    RedirectLoop {
        /// The first URL.
        url: String,
        /// The cap.
        limit: u32,
    },
    /// The TLS handshake failed (unknown CA, wrong name, plain HTTP
    /// server).
    #[error(
        "TLS error talking to {registry}: {message}; if the registry uses a private CA put it in \
         /etc/containers/certs.d/{registry}/ca.crt, or pass --tls-verify=false for a test registry"
    )]
    Tls {
        /// The registry host.
        registry: String,
        /// The underlying error chain, flattened.
        message: String,
    },
    /// A connection, timeout or protocol failure that retries did not cure.
    #[error("request to {url} failed: {message}")]
    Http {
        /// The URL.
        url: String,
        /// The underlying error chain, flattened.
        message: String,
    },
    /// A status the operation did not expect.
    #[error("{method} {url} returned {status}{}", detail_suffix(detail))]
    Status {
        /// The request method.
        method: String,
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's error body, summarised.
        detail: String,
    },
    /// The registry broke the protocol (bad header, missing Location...).
    #[error("protocol error from {registry}: {message}")]
    Protocol {
        /// The registry host.
        registry: String,
        /// What was wrong.
        message: String,
    },
    /// The token endpoint failed or answered nonsense.
    #[error("bearer token from {realm} failed: {message}")]
    Token {
        /// The token endpoint URL.
        realm: String,
        /// What went wrong.
        message: String,
    },
    /// A client setting is unusable (bad CA file, bad identity).
    #[error("invalid client configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// Looking up credentials failed.
    #[error("credentials for {registry}: {message}")]
    Credential {
        /// The registry host.
        registry: String,
        /// What went wrong.
        message: String,
    },
    /// Finding or storing registry credentials (config.json, credential
    /// helpers, ECR) failed.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// A manifest or JSON document could not be parsed.
    #[error("invalid {what} from {registry}: {message}")]
    InvalidDocument {
        /// The registry host.
        registry: String,
        /// What was parsed.
        what: String,
        /// The parse error.
        message: String,
    },
    /// The image for the requested platform is not in the index.
    #[error("no image for platform {platform} in {reference}")]
    NoPlatform {
        /// The platform asked for.
        platform: String,
        /// The image reference.
        reference: String,
    },
    /// An index to push lists a manifest the store does not have (the
    /// image was pulled for one platform only).
    #[error(
        "index {index} lists manifest {missing} ({platform}) which is not in the store: pull all platforms of the image before pushing the index, or push one platform's manifest"
    )]
    IncompleteIndex {
        /// The index.
        index: Digest,
        /// The missing manifest.
        missing: Digest,
        /// Its platform, if the index says.
        platform: String,
    },
    /// A store operation failed.
    #[error("image store")]
    Store(#[from] rbox_image::Error),
    /// Reading local content for an upload failed.
    #[error("read {what}")]
    Io {
        /// What was read.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

impl Error {
    /// True for failures worth retrying: connection resets, timeouts,
    /// 5xx and 429.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Http { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
