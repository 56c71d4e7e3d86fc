//! Images in the store: manifests and configs read back from blobs,
//! resolution of what a user typed (name, id, id prefix, digest), writing
//! a new image (the builder's and `load`'s commit), and the set of blobs
//! the records reach (gc's roots).
//!
//! An image's id is its config digest, as docker's; a record may point at
//! an index, in which case the platform picks the manifest.

use std::collections::BTreeSet;

use super::{Record, Store};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::manifest::{
    self, Descriptor, ImageConfig, Index, Manifest, Parsed, Platform, media_type,
};
use crate::reference::{AnyReference, Reference};

/// An image resolved to one platform's manifest and config.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Image {
    /// What the record (or the request) pointed at: the index or manifest.
    pub target: Descriptor,
    /// The manifest's digest.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: Manifest,
    /// The image id: the config's digest.
    pub id: Digest,
    /// The config.
    pub config: ImageConfig,
}

impl Image {
    /// Layer descriptors with their diff ids, base first. Errors if the
    /// manifest and config disagree on the number of layers.
    pub fn layers(&self) -> Result<Vec<(Descriptor, Digest)>> {
        let diff_ids = &self.config.rootfs.diff_ids;
        if diff_ids.len() != self.manifest.layers.len() {
            return Err(Error::InvalidImage {
                digest: self.manifest_digest.clone(),
                reason: format!(
                    "the manifest has {} layers but the config {} diff ids",
                    self.manifest.layers.len(),
                    diff_ids.len()
                ),
            });
        }
        Ok(self
            .manifest
            .layers
            .iter()
            .cloned()
            .zip(diff_ids.iter().cloned())
            .collect())
    }

    /// The short id docker prints (12 hex digits).
    pub fn short_id(&self) -> &str {
        &self.id.hex()[..12]
    }
}

/// One line of `images`: a name (or none for a dangling image) and the
/// image it resolves to on the host platform.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ImageEntry {
    /// The names pointing at this image (sorted), empty if none.
    pub names: Vec<Reference>,
    /// The image.
    pub image: Image,
}

impl Store {
    /// Reads and parses a manifest or index blob.
    pub fn read_manifest(&self, digest: &Digest, media_type: Option<&str>) -> Result<Parsed> {
        let size = self.blob_size(digest)?;
        if size > manifest::MAX_MANIFEST_SIZE {
            return Err(Error::Manifest {
                digest: digest.clone(),
                source: manifest::ManifestError::TooLarge {
                    what: "manifest",
                    size,
                    max: manifest::MAX_MANIFEST_SIZE,
                },
            });
        }
        let bytes = self.read_blob(digest)?;
        manifest::parse(&bytes, media_type).map_err(|source| Error::Manifest {
            digest: digest.clone(),
            source,
        })
    }

    /// Reads and parses a config blob.
    pub fn read_config(&self, digest: &Digest) -> Result<ImageConfig> {
        let size = self.blob_size(digest)?;
        if size > manifest::MAX_CONFIG_SIZE {
            return Err(Error::Manifest {
                digest: digest.clone(),
                source: manifest::ManifestError::TooLarge {
                    what: "config",
                    size,
                    max: manifest::MAX_CONFIG_SIZE,
                },
            });
        }
        let bytes = self.read_blob(digest)?;
        ImageConfig::parse(&bytes).map_err(|source| Error::Manifest {
            digest: digest.clone(),
            source,
        })
    }

    /// The image `target` (a manifest or index descriptor) stands for on
    /// `platform`.
    pub fn image_for(&self, target: &Descriptor, platform: &Platform) -> Result<Image> {
        let mut desc = target.clone();
        // An index may nest one more index (rare, but allowed); stop
        // there so a hostile cycle cannot loop.
        for _ in 0..3 {
            match self.read_manifest(&desc.digest, Some(&desc.media_type))? {
                Parsed::Index(index) => {
                    desc = index
                        .select(platform)
                        .map_err(|source| Error::Manifest {
                            digest: desc.digest.clone(),
                            source,
                        })?
                        .clone();
                }
                Parsed::Manifest(manifest) => {
                    let config = self.read_config(&manifest.config.digest)?;
                    return Ok(Image {
                        target: target.clone(),
                        manifest_digest: desc.digest,
                        id: manifest.config.digest.clone(),
                        manifest,
                        config,
                    });
                }
            }
        }
        Err(Error::InvalidImage {
            digest: target.digest.clone(),
            reason: "indexes nested more than two deep".into(),
        })
    }

    /// Resolves what a user typed: a name (`busybox`, `host/ns/app:tag`,
    /// `name@sha256:…`), a full image id or manifest digest, or a unique
    /// prefix of an image id (at least 4 hex digits, as docker).
    pub fn resolve(&self, what: &str, platform: &Platform) -> Result<Image> {
        let not_found = || Error::ImageNotFound(what.to_string());
        let records = self.records()?;
        if let Ok(any) = AnyReference::parse(what) {
            match any {
                AnyReference::Name(name) => {
                    if let Some(r) = records.get(&name) {
                        return self.image_for(&record_descriptor(self, r)?, platform);
                    }
                    // name@digest: the content may be here under another
                    // tag (or none).
                    if let Some(d) = name.digest()
                        && self.contains(d)?
                    {
                        return self.image_by_digest(d, platform);
                    }
                    // "05432217" is a valid name, and an id prefix.
                    if !what.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(not_found());
                    }
                }
                AnyReference::Id(d) => {
                    if self.contains(&d)? {
                        return self.image_by_digest(&d, platform);
                    }
                    return Err(not_found());
                }
            }
        }
        // A short id prefix.
        let prefix = what.strip_prefix("sha256:").unwrap_or(what);
        if prefix.len() < 4 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let mut found: Option<Image> = None;
        for entry in self.images(platform)? {
            if entry.image.id.hex().starts_with(prefix) {
                if let Some(f) = &found
                    && f.id != entry.image.id
                {
                    return Err(Error::AmbiguousImage(what.to_string()));
                }
                found = Some(entry.image);
            }
        }
        found.ok_or_else(not_found)
    }

    /// An image from a blob digest that is a manifest, an index, or a
    /// config (an image id): for an id, the first record whose image has
    /// that config.
    fn image_by_digest(&self, d: &Digest, platform: &Platform) -> Result<Image> {
        match self.read_manifest(d, None) {
            Ok(parsed) => {
                let size = self.blob_size(d)?;
                let desc = Descriptor::new(parsed.media_type().to_string(), d.clone(), size);
                self.image_for(&desc, platform)
            }
            Err(Error::Manifest { .. }) => {
                for entry in self.images(platform)? {
                    if &entry.image.id == d {
                        return Ok(entry.image);
                    }
                }
                Err(Error::ImageNotFound(d.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Every recorded image on `platform`, grouped by image id, sorted by
    /// first name. Records whose content is missing or that have no image
    /// for `platform` are skipped with a warning.
    pub fn images(&self, platform: &Platform) -> Result<Vec<ImageEntry>> {
        let records = self.records()?;
        let mut out: Vec<ImageEntry> = Vec::new();
        for (name, record) in records.iter() {
            let image =
                match record_descriptor(self, record).and_then(|d| self.image_for(&d, platform)) {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::warn!(name = %name, "skipping image record: {e}");
                        continue;
                    }
                };
            match out
                .iter_mut()
                .find(|e| e.image.id == image.id && e.image.target.digest == image.target.digest)
            {
                Some(e) => e.names.push(name.clone()),
                None => out.push(ImageEntry {
                    names: vec![name.clone()],
                    image,
                }),
            }
        }
        Ok(out)
    }

    /// Writes an image made of `layers` (already in the store, base
    /// first) and `config`: the config blob, an OCI manifest, and returns
    /// the manifest descriptor. Nothing is recorded; see [`Store::tag`].
    pub fn write_image(&self, config: &ImageConfig, layers: &[Descriptor]) -> Result<Descriptor> {
        if config.rootfs.diff_ids.len() != layers.len() {
            return Err(Error::InvalidImage {
                digest: Digest::sha256(&config.to_json()),
                reason: format!(
                    "{} layers but {} diff ids",
                    layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            });
        }
        for l in layers {
            if !self.contains(&l.digest)? {
                return Err(Error::BlobNotFound(l.digest.clone()));
            }
        }
        let config_bytes = config.to_json();
        let config_digest = self.write_blob(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(
                media_type::OCI_CONFIG,
                config_digest,
                config_bytes.len() as u64,
            ),
            layers: layers.to_vec(),
            subject: None,
            annotations: Default::default(),
        };
        let bytes = manifest.to_json();
        let digest = self.write_blob(&bytes)?;
        Ok(Descriptor::new(
            media_type::OCI_MANIFEST,
            digest,
            bytes.len() as u64,
        ))
    }

    /// Points `name` at the manifest or index `target`; returns the
    /// previous target, if any.
    pub fn tag(&self, name: &Reference, target: &Descriptor) -> Result<Option<Record>> {
        if name.digest().is_some() && name.tag().is_none() {
            // name@digest records are allowed (docker keeps them for
            // pulls by digest), but must point at that digest.
            if name.digest() != Some(&target.digest) {
                return Err(Error::InvalidImage {
                    digest: target.digest.clone(),
                    reason: format!("cannot record {name} for a different digest"),
                });
            }
        }
        self.set_record(
            name,
            Record::with_descriptor(
                target.digest.clone(),
                target.media_type.clone(),
                target.size,
            ),
        )
    }

    /// Every blob the records reach: indexes, manifests, configs and
    /// layers (gc's roots). A missing or unreadable manifest keeps what is
    /// known and logs, so gc never deletes because of a read error.
    pub fn reachable(&self) -> Result<BTreeSet<Digest>> {
        let mut keep = BTreeSet::new();
        let mut todo: Vec<(Digest, Option<String>)> = self
            .records()?
            .iter()
            .map(|(_, r)| (r.digest.clone(), r.media_type.clone()))
            .collect();
        while let Some((d, mt)) = todo.pop() {
            if !keep.insert(d.clone()) {
                continue;
            }
            match self.read_manifest(&d, mt.as_deref()) {
                Ok(Parsed::Index(Index { manifests, .. })) => {
                    todo.extend(
                        manifests
                            .into_iter()
                            .map(|m| (m.digest, Some(m.media_type))),
                    );
                }
                Ok(Parsed::Manifest(m)) => {
                    keep.insert(m.config.digest);
                    keep.extend(m.layers.into_iter().map(|l| l.digest));
                }
                Err(Error::BlobNotFound(_)) => {}
                Err(e) => tracing::warn!(digest = %d, "cannot read a recorded manifest: {e}"),
            }
        }
        Ok(keep)
    }
}

fn record_descriptor(store: &Store, r: &Record) -> Result<Descriptor> {
    let media_type = match &r.media_type {
        Some(m) => m.clone(),
        None => store
            .read_manifest(&r.digest, None)?
            .media_type()
            .to_string(),
    };
    let size = match r.size {
        Some(s) => s,
        None => store.blob_size(&r.digest)?,
    };
    Ok(Descriptor::new(media_type, r.digest.clone(), size))
}
