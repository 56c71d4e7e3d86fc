//! Image manifests, indexes and configs: the OCI image-spec types and
//! Docker's v2 schema 2 equivalents, parsed strictly enough that a hostile
//! registry reply is an error naming what is wrong, and leniently enough
//! that fields we do not model survive a round trip (`extra`).
//!
//! Only the fields rbox acts on are typed; everything else is kept as raw
//! JSON so re-serialising a config the builder changed does not drop what
//! another tool wrote.

mod config;
mod platform;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use config::{ContainerConfig, Healthcheck, History, ImageConfig, RootFs, chain_ids};
pub use platform::{Platform, PlatformError};

use crate::digest::Digest;

/// Media types rbox reads and writes.
pub mod media_type {
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI uncompressed layer.
    pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// OCI zstd layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// OCI non-distributable gzip layer (still a layer to unpack).
    pub const OCI_LAYER_NONDIST_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    /// OCI empty descriptor (artifacts).
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
    /// Docker v2 schema 2 manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker manifest list.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// Docker foreign (non-distributable) layer.
    pub const DOCKER_LAYER_FOREIGN: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// Docker v2 schema 1 (signed), which rbox refuses with a clear error.
    pub const DOCKER_SCHEMA1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";
    /// Docker v2 schema 1.
    pub const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+json";

    /// The Accept header value a client sends for a manifest: every
    /// manifest and index type rbox understands.
    pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

    /// True for a media type whose blob is a layer tar rbox can unpack.
    pub fn is_layer(media_type: &str) -> bool {
        matches!(
            media_type,
            OCI_LAYER
                | OCI_LAYER_GZIP
                | OCI_LAYER_ZSTD
                | OCI_LAYER_NONDIST_GZIP
                | DOCKER_LAYER_GZIP
                | DOCKER_LAYER_FOREIGN
                | "application/vnd.oci.image.layer.nondistributable.v1.tar"
                | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
        )
    }

    /// True for an image manifest type (OCI or Docker).
    pub fn is_manifest(media_type: &str) -> bool {
        matches!(media_type, OCI_MANIFEST | DOCKER_MANIFEST)
    }

    /// True for an index type (OCI index or Docker manifest list).
    pub fn is_index(media_type: &str) -> bool {
        matches!(media_type, OCI_INDEX | DOCKER_MANIFEST_LIST)
    }
}

/// The largest manifest, index or config rbox parses. Registries cap
/// manifests at 4 MiB; configs with long histories stay far below 8.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;
/// The largest config blob rbox parses.
pub const MAX_CONFIG_SIZE: u64 = 8 << 20;

/// A content descriptor: what a manifest or index says about a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where it may also be fetched (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform, in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Artifact type, in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor of `media_type`, `digest` and `size`, nothing else.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            urls: Vec::new(),
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }
}

/// An image manifest (OCI, or Docker schema 2: same shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type (required by Docker, optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type, for OCI artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// Layers, base first.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (referrers API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// The media type this manifest is served as: its own field, else OCI.
    pub fn effective_media_type(&self) -> &str {
        self.media_type
            .as_deref()
            .unwrap_or(media_type::OCI_MANIFEST)
    }

    /// Serialises with stable field order, as rbox writes manifests.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest always serialises")
    }
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The manifests, each usually with a platform.
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Index {
    /// The media type this index is served as: its own field, else OCI.
    pub fn effective_media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(media_type::OCI_INDEX)
    }

    /// Serialises with stable field order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("an index always serialises")
    }

    /// The image manifest for `want`: the best match among the entries
    /// whose platform matches (see [`Platform::matches`]); an entry
    /// without a platform is skipped, as are attestation manifests
    /// (`unknown/unknown`).
    pub fn select(&self, want: &Platform) -> Result<&Descriptor, ManifestError> {
        let mut best: Option<(&Descriptor, u8)> = None;
        for d in &self.manifests {
            if !media_type::is_manifest(&d.media_type) && !media_type::is_index(&d.media_type) {
                continue;
            }
            let Some(p) = &d.platform else { continue };
            if let Some(score) = want.match_score(p)
                && best.is_none_or(|(_, s)| score > s)
            {
                best = Some((d, score));
            }
        }
        best.map(|(d, _)| d)
            .ok_or_else(|| ManifestError::NoPlatform {
                want: want.to_string(),
                available: self
                    .manifests
                    .iter()
                    .filter_map(|d| d.platform.as_ref())
                    .filter(|p| p.os != "unknown" && p.architecture != "unknown")
                    .map(|p| p.to_string())
                    .collect(),
            })
    }
}

/// A parsed manifest-like document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // short-lived, never stored in bulk
pub enum Parsed {
    /// An image manifest.
    Manifest(Manifest),
    /// An index or manifest list.
    Index(Index),
}

impl Parsed {
    /// Its media type.
    pub fn media_type(&self) -> &str {
        match self {
            Parsed::Manifest(m) => m.effective_media_type(),
            Parsed::Index(i) => i.effective_media_type(),
        }
    }
}

/// What is wrong with a manifest, index or config.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Larger than rbox accepts.
    #[error("{what} is {size} bytes, more than the {max} bytes accepted")]
    TooLarge {
        /// "manifest" or "config".
        what: &'static str,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Not valid JSON for its type.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// "manifest", "index" or "config".
        what: &'static str,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A media type rbox does not handle.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// Docker schema 1, long deprecated.
    #[error(
        "the image uses Docker manifest schema 1, which rbox does not support: push it again with a current docker or skopeo"
    )]
    Schema1,
    /// A field holds a value the spec does not allow.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The document.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// No entry of an index matches the wanted platform.
    #[error("no image for platform {want} (the index has: {})", if available.is_empty() { "no platforms".to_string() } else { available.join(", ") })]
    NoPlatform {
        /// The platform asked for.
        want: String,
        /// What the index offers.
        available: Vec<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sniff {
    #[serde(default)]
    schema_version: Option<u32>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default)]
    fs_layers: Option<serde_json::Value>,
}

/// Parses a manifest or index. `content_type` is the registry's
/// Content-Type header (or the descriptor's media type), used when the
/// document has no `mediaType` of its own; when both are present they
/// must agree.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Parsed, ManifestError> {
    if bytes.len() as u64 > MAX_MANIFEST_SIZE {
        return Err(ManifestError::TooLarge {
            what: "manifest",
            size: bytes.len() as u64,
            max: MAX_MANIFEST_SIZE,
        });
    }
    let sniff: Sniff =
        serde_json::from_slice(bytes).map_err(|source| ManifestError::Malformed {
            what: "manifest",
            source,
        })?;
    // A Content-Type with parameters ("...; charset=utf-8") or generic
    // JSON says nothing about the kind.
    let header = content_type
        .map(|c| c.split(';').next().unwrap_or("").trim())
        .filter(|c| !c.is_empty() && *c != "application/json" && *c != "text/plain");
    if matches!(
        sniff.media_type.as_deref().or(header),
        Some(media_type::DOCKER_SCHEMA1 | media_type::DOCKER_SCHEMA1_SIGNED)
    ) || sniff.fs_layers.is_some()
    {
        return Err(ManifestError::Schema1);
    }
    if let (Some(own), Some(h)) = (sniff.media_type.as_deref(), header)
        && own != h
    {
        return Err(ManifestError::Invalid {
            what: "manifest",
            reason: format!("its mediaType {own:?} disagrees with the content type {h:?}"),
        });
    }
    let kind = match sniff.media_type.as_deref().or(header) {
        Some(t) if media_type::is_index(t) => Kind::Index,
        Some(t) if media_type::is_manifest(t) => Kind::Manifest,
        Some(t) => return Err(ManifestError::UnsupportedMediaType(t.to_string())),
        // OCI allows omitting mediaType: decide by shape.
        None if sniff.manifests.is_some() => Kind::Index,
        None if sniff.config.is_some() => Kind::Manifest,
        None => {
            return Err(ManifestError::Invalid {
                what: "manifest",
                reason: "neither a mediaType nor a config or manifests field".into(),
            });
        }
    };
    if sniff.schema_version != Some(2) {
        return Err(ManifestError::Invalid {
            what: "manifest",
            reason: format!("schemaVersion is {:?}, expected 2", sniff.schema_version),
        });
    }
    match kind {
        Kind::Index => {
            let i: Index =
                serde_json::from_slice(bytes).map_err(|source| ManifestError::Malformed {
                    what: "index",
                    source,
                })?;
            Ok(Parsed::Index(i))
        }
        Kind::Manifest => {
            let m: Manifest =
                serde_json::from_slice(bytes).map_err(|source| ManifestError::Malformed {
                    what: "manifest",
                    source,
                })?;
            validate_manifest(&m)?;
            Ok(Parsed::Manifest(m))
        }
    }
}

enum Kind {
    Index,
    Manifest,
}

fn validate_manifest(m: &Manifest) -> Result<(), ManifestError> {
    // An artifact manifest may carry any config and layers; only images
    // are checked as images.
    if m.artifact_type.is_some() || m.config.media_type == media_type::OCI_EMPTY {
        return Ok(());
    }
    if !matches!(
        m.config.media_type.as_str(),
        media_type::OCI_CONFIG | media_type::DOCKER_CONFIG
    ) {
        return Err(ManifestError::Invalid {
            what: "manifest",
            reason: format!(
                "config media type {:?} is not an image config",
                m.config.media_type
            ),
        });
    }
    if m.config.size > MAX_CONFIG_SIZE {
        return Err(ManifestError::TooLarge {
            what: "config",
            size: m.config.size,
            max: MAX_CONFIG_SIZE,
        });
    }
    for l in &m.layers {
        if !media_type::is_layer(&l.media_type) {
            return Err(ManifestError::Invalid {
                what: "manifest",
                reason: format!(
                    "layer {} has unsupported media type {:?}",
                    l.digest, l.media_type
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
