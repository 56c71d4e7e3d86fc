//! `push`: upload an image from the store — every blob a few at a time
//! (HEAD first, a cross-repository mount when the store knows the image
//! under another repository of the same registry), then the manifests:
//! for an index each child manifest by digest, then the index under the
//! tag. Manifests are sent with their stored bytes, so digests survive.

use rbox_image::manifest::{Descriptor, Manifest, Parsed, media_type};
use rbox_image::{Digest, Reference, Store};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::parallel;
use crate::progress::{Classify, ProgressEvent, ProgressSink, ProgressState};

/// What [`Client::push`] uploaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushedImage {
    /// Where it went.
    pub reference: Reference,
    /// The top manifest or index as the registry now serves it.
    pub target: Descriptor,
}

impl Client {
    /// Pushes the manifest or index `digest` from `store` to `target`
    /// (its tag, or its digest when it has no tag).
    pub fn push(
        &self,
        store: &Store,
        digest: &Digest,
        target: &Reference,
        progress: &dyn ProgressSink,
    ) -> Result<PushedImage> {
        let _lease = store.lease()?;
        let bytes = store.read_blob(digest)?;
        let parsed = store.read_manifest(digest, None)?;
        let mount_from = mount_source(store, digest, target)?;
        let media = parsed.media_type().to_owned();
        match parsed {
            Parsed::Manifest(m) => {
                self.push_blobs(store, &m, target, mount_from.as_ref(), progress)?;
            }
            Parsed::Index(index) => {
                for child in &index.manifests {
                    if !store.contains(&child.digest)? {
                        return Err(Error::IncompleteIndex {
                            index: digest.clone(),
                            missing: child.digest.clone(),
                            platform: child
                                .platform
                                .as_ref()
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                        });
                    }
                    let child_bytes = store.read_blob(&child.digest)?;
                    match store.read_manifest(&child.digest, Some(&child.media_type))? {
                        Parsed::Manifest(m) => {
                            self.push_blobs(store, &m, target, mount_from.as_ref(), progress)?;
                        }
                        Parsed::Index(_) => {
                            // Nested indexes hold no blobs of their own
                            // here; their children must already exist.
                        }
                    }
                    let by_digest = target.with_digest(child.digest.clone());
                    self.put_manifest(&by_digest, &child.media_type, &child_bytes)?;
                }
            }
        }
        let pushed = self.put_manifest(target, &media, &bytes)?;
        tracing::info!(%target, digest = %pushed, "pushed");
        Ok(PushedImage {
            reference: target.clone(),
            target: Descriptor::new(media, pushed, bytes.len() as u64),
        })
    }

    fn push_blobs(
        &self,
        store: &Store,
        m: &Manifest,
        target: &Reference,
        mount_from: Option<&Reference>,
        progress: &dyn ProgressSink,
    ) -> Result<()> {
        let progress = &Classify {
            inner: progress,
            config: &m.config.digest,
        };
        let mut blobs: Vec<&Descriptor> = Vec::new();
        for d in std::iter::once(&m.config).chain(&m.layers) {
            if blobs.iter().any(|b| b.digest == d.digest) {
                continue;
            }
            // Foreign layers live elsewhere; a registry never had them.
            if is_foreign(&d.media_type) && !store.contains(&d.digest)? {
                continue;
            }
            blobs.push(d);
        }
        for b in &blobs {
            progress.event(ProgressEvent::new(
                &b.digest,
                ProgressState::Waiting,
                0,
                Some(b.size),
            ));
        }
        let blobs = crate::pull::largest_first(blobs);
        parallel::for_each(self.config.parallelism, &blobs, |b| {
            self.push_blob(target, &b.digest, b.size, store, mount_from, progress)
                .map(|_| ())
        })
    }
}

fn is_foreign(mt: &str) -> bool {
    mt == media_type::DOCKER_LAYER_FOREIGN || mt.contains("nondistributable")
}

/// Another repository of `target`'s registry that the store says holds
/// this image (it was pulled from or pushed there): a mount source.
fn mount_source(store: &Store, digest: &Digest, target: &Reference) -> Result<Option<Reference>> {
    let records = store.records()?;
    Ok(records
        .iter()
        .find(|(name, rec)| {
            rec.digest == *digest
                && name.domain() == target.domain()
                && name.path() != target.path()
        })
        .map(|(name, _)| name.clone()))
}
