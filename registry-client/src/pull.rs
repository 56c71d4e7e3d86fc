//! `pull`: resolve a tag to a manifest or index, pick the platform's
//! manifest from an index, download config and layers a few at a time
//! into the store, and record the name.
//!
//! Manifests and indexes are stored as blobs with their exact bytes, so
//! the store's image resolution sees what the registry served. A lease
//! on the store keeps gc away until the record is written.

use rbox_image::manifest::{self, Descriptor, ManifestError, Parsed, Platform};
use rbox_image::store::Expected;
use rbox_image::{Digest, Reference, Store};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::manifests::FetchedManifest;
use crate::parallel;
use crate::progress::{Classify, ProgressEvent, ProgressSink, ProgressState};

/// What [`Client::pull`] fetched and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PulledImage {
    /// The name pulled (as recorded in the store).
    pub reference: Reference,
    /// What the name points at: the index or the manifest.
    pub target: Descriptor,
    /// The platform's manifest.
    pub manifest: Descriptor,
    /// The config (the image id is its digest).
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

impl Client {
    /// Pulls `reference` for `platform` into `store` and records the name
    /// (docker's `pull`). Blobs already in the store are not fetched
    /// again; a partial left by an interrupted pull is resumed.
    pub fn pull(
        &self,
        reference: &Reference,
        platform: &Platform,
        store: &Store,
        progress: &dyn ProgressSink,
    ) -> Result<PulledImage> {
        let _lease = store.lease()?;
        let top = self.fetch_manifest(reference)?;
        let target = store_manifest(store, &top)?;
        let registry = reference.domain().to_owned();
        let mut current = top;
        let mut desc = target.clone();
        // An index may hold one nested index; a deeper chain is refused.
        for _ in 0..3 {
            match parse(&registry, reference, &current)? {
                Parsed::Index(index) => {
                    let chosen = index.select(platform).map_err(|e| match e {
                        ManifestError::NoPlatform { .. } => Error::NoPlatform {
                            platform: platform.to_string(),
                            reference: format!("{reference} ({e})"),
                        },
                        other => invalid(&registry, reference, other),
                    })?;
                    tracing::debug!(%reference, digest = %chosen.digest, "platform manifest chosen");
                    current = self.fetch_manifest(&reference.with_digest(chosen.digest.clone()))?;
                    if current.bytes.len() as u64 != chosen.size {
                        return Err(Error::SizeMismatch {
                            registry,
                            what: format!("manifest {}@{}", reference.path(), chosen.digest),
                            expected: chosen.size,
                            actual: current.bytes.len() as u64,
                        });
                    }
                    desc = store_manifest(store, &current)?;
                }
                Parsed::Manifest(m) => {
                    let progress = &Classify {
                        inner: progress,
                        config: &m.config.digest,
                    };
                    let mut blobs = vec![m.config.clone()];
                    for l in &m.layers {
                        if !blobs.iter().any(|b| b.digest == l.digest) {
                            blobs.push(l.clone());
                        }
                    }
                    for b in &blobs {
                        progress.event(ProgressEvent::new(
                            &b.digest,
                            ProgressState::Waiting,
                            0,
                            Some(b.size),
                        ));
                    }
                    if self.config.unpack_layers {
                        self.pull_and_unpack(reference, &m, store, progress)?;
                    } else {
                        parallel::for_each(self.config.parallelism, &largest_first(blobs), |b| {
                            self.pull_blob(reference, &b.digest, Some(b.size), store, progress)
                                .map(|_| ())
                        })?;
                    }
                    store.tag(reference, &target)?;
                    tracing::info!(%reference, digest = %target.digest, "pulled");
                    return Ok(PulledImage {
                        reference: reference.clone(),
                        target,
                        manifest: desc,
                        config: m.config,
                        layers: m.layers,
                    });
                }
            }
        }
        Err(Error::InvalidDocument {
            registry,
            what: format!("index {reference}"),
            message: "indexes nested more than two deep".to_owned(),
        })
    }
}

impl Client {
    /// The config first (its diff ids name the layers' directories), then
    /// every layer in parallel, each unpacked by its worker right after
    /// its download.
    fn pull_and_unpack(
        &self,
        reference: &Reference,
        m: &rbox_image::manifest::Manifest,
        store: &Store,
        progress: &dyn ProgressSink,
    ) -> Result<()> {
        self.pull_blob(
            reference,
            &m.config.digest,
            Some(m.config.size),
            store,
            progress,
        )?;
        let config = store.read_config(&m.config.digest)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != m.layers.len() {
            return Err(Error::InvalidDocument {
                registry: reference.domain().to_owned(),
                what: format!("config {}", m.config.digest),
                message: format!("{} diff ids for {} layers", diff_ids.len(), m.layers.len()),
            });
        }
        let chain = rbox_image::manifest::chain_ids(diff_ids);
        let jobs: Vec<(Descriptor, Digest, Digest)> = m
            .layers
            .iter()
            .cloned()
            .zip(diff_ids.iter().cloned())
            .zip(chain)
            .map(|((l, d), c)| (l, d, c))
            .collect();
        for (l, _, _) in &jobs {
            progress.event(ProgressEvent::new(
                &l.digest,
                ProgressState::Waiting,
                0,
                Some(l.size),
            ));
        }
        let mut ordered = jobs;
        ordered.sort_by_key(|(l, _, _)| std::cmp::Reverse(l.size));
        parallel::for_each(
            self.config.parallelism,
            &ordered,
            |(l, diff_id, chain_id)| {
                self.pull_blob(reference, &l.digest, Some(l.size), store, progress)?;
                if !store.layer_dir(chain_id).exists() {
                    progress.event(ProgressEvent::new(
                        &l.digest,
                        ProgressState::Extracting,
                        l.size,
                        Some(l.size),
                    ));
                    store.ensure_layer_dir(&l.digest, diff_id, chain_id)?;
                    progress.event(ProgressEvent::new(
                        &l.digest,
                        ProgressState::Done,
                        l.size,
                        Some(l.size),
                    ));
                }
                Ok(())
            },
        )
    }
}

/// The blobs in transfer order: largest first, so the longest transfer
/// starts at once instead of becoming the tail that everything waits on.
pub(crate) fn largest_first<T: std::borrow::Borrow<Descriptor>>(mut blobs: Vec<T>) -> Vec<T> {
    blobs.sort_by_key(|b| std::cmp::Reverse(b.borrow().size));
    blobs
}

/// Writes a fetched manifest into the store under its own digest.
fn store_manifest(store: &Store, m: &FetchedManifest) -> Result<Descriptor> {
    let size = m.bytes.len() as u64;
    store.write_blob_from(
        &mut &m.bytes[..],
        m.digest.as_str(),
        Expected::new(m.digest.clone(), size),
    )?;
    Ok(Descriptor::new(
        m.media_type.clone(),
        m.digest.clone(),
        size,
    ))
}

fn parse(registry: &str, reference: &Reference, m: &FetchedManifest) -> Result<Parsed> {
    manifest::parse(&m.bytes, Some(&m.media_type)).map_err(|e| match e {
        ManifestError::UnsupportedMediaType(mt) => Error::UnknownMediaType {
            registry: registry.to_owned(),
            what: format!("manifest {reference}"),
            media_type: mt,
        },
        other => invalid(registry, reference, other),
    })
}

fn invalid(registry: &str, reference: &Reference, e: ManifestError) -> Error {
    Error::InvalidDocument {
        registry: registry.to_owned(),
        what: format!("manifest {reference}"),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rbox_image::Digest;

    #[test]
    fn largest_blobs_go_first() {
        let d = |size: u64| {
            Descriptor::new(
                "application/octet-stream",
                Digest::parse(&format!("sha256:{:064x}", size)).unwrap(),
                size,
            )
        };
        let order: Vec<u64> = largest_first(vec![d(5), d(40), d(1), d(40), d(9)])
            .iter()
            .map(|b| b.size)
            .collect();
        assert_eq!(order, [40, 40, 9, 5, 1]);
    }
}
