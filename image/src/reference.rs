//! Image references, parsed exactly as the docker CLI parses them.
//!
//! `busybox` is `docker.io/library/busybox:latest`; `host:port/ns/name:tag`,
//! `name@sha256:…` and `name:tag@sha256:…` keep what they say. The grammar
//! and the normalisation rules are those of distribution/reference
//! (`ParseNormalizedNamed` followed by `TagNameOnly`): the first path
//! element is a registry host only if it contains `.` or `:`, is
//! `localhost`, or has an uppercase letter; a Docker Hub name without a
//! namespace gets `library/`; repository paths are lowercase; tags are
//! `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; the whole name is at most 255
//! bytes. A [`Reference`] value always holds a valid, normalised
//! reference, and its `Display` is the canonical form.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Algorithm, Digest};
use crate::error::ReferenceError;

/// The registry host of Docker Hub names (`busybox`, `user/app`).
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's legacy name, normalised to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag a reference gets when it has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Maximum length of `domain/path`, in bytes.
pub const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Maximum length of a tag, in bytes.
pub const TAG_LENGTH_MAX: usize = 128;

/// A normalised image reference: registry domain, repository path, and an
/// optional tag and digest (at least one of the two when made by
/// [`Reference::parse`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s` as `docker pull` does: normalised (`busybox` →
    /// `docker.io/library/busybox`) and tagged `latest` when it has neither
    /// a tag nor a digest.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse_normalized(s)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_owned());
        }
        Ok(r)
    }

    /// Parses and normalises `s` without adding a default tag, so a bare
    /// name stays bare (docker's `ParseNormalizedNamed`).
    pub fn parse_normalized(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if is_identifier(s) {
            return Err(ReferenceError::HexIdentifier {
                input: s.to_owned(),
            });
        }
        if s.starts_with([':', '@']) {
            return Err(ReferenceError::MissingName {
                input: s.to_owned(),
            });
        }
        let (domain, remainder) = split_docker_domain(s);
        // docker checks case before anything else, on the text up to the
        // first ':' (which is the tag's, or the digest algorithm's).
        let remote = remainder.split(':').next().unwrap_or_default();
        if remote.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ReferenceError::Uppercase {
                input: s.to_owned(),
                repository: remote.to_owned(),
            });
        }
        parse_parts(s, domain, &remainder)
    }

    /// A reference from its parts, validated as [`Reference::parse`]
    /// validates them; `domain` and `path` are taken as they are (no
    /// Docker Hub normalisation).
    pub fn from_parts(
        domain: &str,
        path: &str,
        tag: Option<&str>,
        digest: Option<Digest>,
    ) -> Result<Self, ReferenceError> {
        let input = format!("{domain}/{path}");
        validate_domain(&input, domain)?;
        validate_path(&input, path)?;
        if let Some(tag) = tag {
            validate_tag(&input, tag)?;
        }
        validate_length(&input, domain, path)?;
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: tag.map(str::to_owned),
            digest,
        })
    }

    /// The registry host, with its port if any (`docker.io`,
    /// `localhost:5000`, `[::1]:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name, `domain/path`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any. When a reference has both, the digest is what
    /// identifies the content and the tag is informational (as in docker).
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository with `tag` instead of the current tag.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        validate_tag(&self.to_string(), tag)?;
        Ok(Self {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The same repository and tag, pinned to `digest`.
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with neither tag nor digest.
    pub fn repository(&self) -> Self {
        Self {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// The short name docker shows: `docker.io/` and a lone `library/`
    /// dropped (`busybox`, `user/app`, `ghcr.io/o/app`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The short form docker shows, with tag and digest
    /// (`busybox:latest`, `user/app@sha256:…`).
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        s
    }
}

fn push_suffix(s: &mut String, tag: Option<&str>, digest: Option<&Digest>) {
    if let Some(tag) = tag {
        s.push(':');
        s.push_str(tag);
    }
    if let Some(digest) = digest {
        s.push('@');
        s.push_str(digest.as_str());
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self.tag.as_deref(), self.digest.as_ref());
        f.write_str(&s)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What a user may type where docker accepts "an image": a name, a full
/// digest, or a bare 64-hex image id (docker's `ParseAnyReference`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AnyReference {
    /// A repository reference, normalised and defaulted as by
    /// [`Reference::parse`].
    Name(Reference),
    /// An image or content id: `sha256:<hex>`, or 64 hex digits taken as
    /// sha256.
    Id(Digest),
}

impl AnyReference {
    /// Parses `s`: 64 lowercase hex digits and `algorithm:hex` digests are
    /// ids, anything else must be a valid reference.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if is_identifier(s) {
            let digest =
                Digest::parse(&format!("{}:{s}", Algorithm::Sha256)).map_err(|source| {
                    ReferenceError::Digest {
                        input: s.to_owned(),
                        source,
                    }
                })?;
            return Ok(Self::Id(digest));
        }
        if let Ok(digest) = Digest::parse(s) {
            return Ok(Self::Id(digest));
        }
        Reference::parse(s).map(Self::Name)
    }
}

impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(r) => r.fmt(f),
            Self::Id(d) => d.fmt(f),
        }
    }
}

impl FromStr for AnyReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// 64 lowercase hex digits: an image id, which docker refuses as a name.
fn is_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// docker's `splitDockerDomain`: decides whether the first element is a
/// registry host, and adds `library/` to lone Docker Hub names.
fn split_docker_domain(s: &str) -> (&str, String) {
    let Some((first, rest)) = s.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{s}"));
    };
    let (domain, remainder) = if first == "localhost" {
        (first, rest)
    } else if first == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, rest)
    } else if first.contains(['.', ':']) {
        (first, rest)
    } else if first.bytes().any(|b| b.is_ascii_uppercase()) {
        // Namespaces cannot have uppercase letters, so docker takes such an
        // element for a host name.
        (first, rest)
    } else {
        (DEFAULT_DOMAIN, s)
    };
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        return (domain, format!("{OFFICIAL_REPO_PREFIX}{remainder}"));
    }
    (domain, remainder.to_owned())
}

/// Validates `path[:tag][@digest]` under `domain`.
fn parse_parts(input: &str, domain: &str, remainder: &str) -> Result<Reference, ReferenceError> {
    let (before_digest, digest) = match remainder.split_once('@') {
        Some((before, d)) => {
            let digest = Digest::parse(d).map_err(|source| ReferenceError::Digest {
                input: input.to_owned(),
                source,
            })?;
            (before, Some(digest))
        }
        None => (remainder, None),
    };
    // Paths have no ':', so the first one starts the tag.
    let (path, tag) = match before_digest.split_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (before_digest, None),
    };
    if path.is_empty() {
        return Err(ReferenceError::MissingName {
            input: input.to_owned(),
        });
    }
    validate_domain(input, domain)?;
    validate_path(input, path)?;
    if let Some(tag) = tag {
        validate_tag(input, tag)?;
    }
    validate_length(input, domain, path)?;
    Ok(Reference {
        domain: domain.to_owned(),
        path: path.to_owned(),
        tag: tag.map(str::to_owned),
        digest,
    })
}

fn validate_length(input: &str, domain: &str, path: &str) -> Result<(), ReferenceError> {
    let length = domain.len() + 1 + path.len();
    if length > NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong {
            input: input.to_owned(),
            length,
        });
    }
    Ok(())
}

/// `[\w][\w.-]{0,127}`.
fn validate_tag(input: &str, tag: &str) -> Result<(), ReferenceError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= TAG_LENGTH_MAX
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag {
            input: input.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

fn validate_path(input: &str, path: &str) -> Result<(), ReferenceError> {
    for component in path.split('/') {
        if !valid_path_component(component) {
            return Err(ReferenceError::InvalidPathComponent {
                input: input.to_owned(),
                component: component.to_owned(),
            });
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = c.as_bytes();
    let mut i = 0;
    loop {
        // One or more alphanumerics.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        // Then one separator: '.', '_', '__' or a run of '-'.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

/// `host[:port]` where host is a DNS-like name, an IPv4 address, or an
/// IPv6 address in brackets (no zone).
fn validate_domain(input: &str, domain: &str) -> Result<(), ReferenceError> {
    if valid_domain(domain) {
        Ok(())
    } else {
        Err(ReferenceError::InvalidDomain {
            input: input.to_owned(),
            domain: domain.to_owned(),
        })
    }
}

fn valid_domain(domain: &str) -> bool {
    let (host_ok, port) = if let Some(inner) = domain.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return false;
        };
        let addr_ok = !addr.is_empty() && addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (addr_ok, after)
    } else {
        let (host, port) = match domain.find(':') {
            Some(i) => domain.split_at(i),
            None => (domain, ""),
        };
        (
            !host.is_empty() && host.split('.').all(valid_domain_component),
            port,
        )
    };
    let port_ok = match port.strip_prefix(':') {
        None => port.is_empty(),
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
    };
    host_ok && port_ok
}

/// `[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]`.
fn valid_domain_component(c: &str) -> bool {
    let b = c.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
