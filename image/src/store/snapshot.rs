//! Unpacked layers: `layers/<chain-id hex>/`, one overlayfs lower
//! directory per layer, created once and shared read-only by every
//! container and build that uses the layer.
//!
//! A layer is unpacked into `layers/<hex>.tmp` under an flock of
//! `layers/<hex>.lock`, its diff id checked, synced and renamed into
//! place, so a directory named by a chain id is always complete; a crash
//! leaves only a `.tmp` that the next attempt removes. Whiteouts are kept
//! in overlay form (char 0/0, `trusted.overlay.opaque`), so the stack of
//! directories is exactly the image's filesystem when mounted as
//! lowerdirs.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{Store, open_lock_file, read_dir_names, sync_dir};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer::{self, UnpackOptions, Whiteouts};
use crate::store::Image;

const LAYERS: &str = "layers";

impl Store {
    /// The directory holding unpacked layers.
    pub fn layers_dir(&self) -> PathBuf {
        self.root().join(LAYERS)
    }

    /// Where the layer with `chain_id` is (or would be) unpacked.
    pub fn layer_dir(&self, chain_id: &Digest) -> PathBuf {
        self.layers_dir().join(chain_id.hex())
    }

    /// Unpacks (if not done before) every layer of `image` and returns
    /// their directories, base first — the overlay lowerdirs, in reverse.
    /// Missing layer blobs are an error naming the layer (pull the image
    /// again).
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>> {
        self.layer_dirs_for(&image.layers()?)
    }

    /// [`Store::layer_dirs`] for a list of (layer descriptor, diff id),
    /// base first — an image being built, before it has a manifest.
    pub fn layer_dirs_for(
        &self,
        layers: &[(crate::manifest::Descriptor, Digest)],
    ) -> Result<Vec<PathBuf>> {
        let diff_ids: Vec<Digest> = layers.iter().map(|(_, d)| d.clone()).collect();
        let chain_ids = crate::manifest::chain_ids(&diff_ids);
        let dir = self.layers_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let mut out = Vec::with_capacity(layers.len());
        for ((desc, diff_id), chain_id) in layers.iter().zip(&chain_ids) {
            let path = self.layer_dir(chain_id);
            if !path.exists() {
                self.unpack_layer(&desc.digest, diff_id, chain_id)
                    .map_err(|e| Error::Snapshot {
                        diff_id: diff_id.clone(),
                        chain_id: chain_id.clone(),
                        source: Box::new(e),
                    })?;
            }
            out.push(path);
        }
        Ok(out)
    }

    /// Unpacks the layer blob `blob` (uncompressed digest `diff_id`) as
    /// the layer `chain_id`, unless it already is; returns its directory.
    /// A pull calls this per layer as soon as the blob is in.
    pub fn ensure_layer_dir(
        &self,
        blob: &Digest,
        diff_id: &Digest,
        chain_id: &Digest,
    ) -> Result<PathBuf> {
        let dir = self.layers_dir();
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let path = self.layer_dir(chain_id);
        if !path.exists() {
            self.unpack_layer(blob, diff_id, chain_id)
                .map_err(|e| Error::Snapshot {
                    diff_id: diff_id.clone(),
                    chain_id: chain_id.clone(),
                    source: Box::new(e),
                })?;
        }
        Ok(path)
    }

    fn unpack_layer(&self, blob: &Digest, diff_id: &Digest, chain_id: &Digest) -> Result<()> {
        let dir = self.layers_dir();
        let lock_path = dir.join(format!("{}.lock", chain_id.hex()));
        let lock = open_lock_file(&lock_path)?;
        lock.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        let path = self.layer_dir(chain_id);
        if path.exists() {
            // Another process finished it while we waited.
            return Ok(());
        }
        let tmp = dir.join(format!("{}.tmp", chain_id.hex()));
        remove_tree(&tmp)?;
        fs::create_dir(&tmp).map_err(|e| Error::io("create directory", &tmp, e))?;
        let options = UnpackOptions {
            whiteouts: Whiteouts::Overlay,
            sync: true,
            ..UnpackOptions::default()
        };
        let file = self.open_blob(blob)?;
        let result = layer::unpack(file, &tmp, &options);
        let check = result.and_then(|u| {
            if &u.digest != blob {
                return Err(Error::InvalidImage {
                    digest: blob.clone(),
                    reason: format!("layer blob hashes to {}", u.digest),
                });
            }
            if &u.diff_id != diff_id {
                return Err(Error::InvalidImage {
                    digest: blob.clone(),
                    reason: format!(
                        "uncompressed layer hashes to {}, but the config says {diff_id}",
                        u.diff_id
                    ),
                });
            }
            Ok(())
        });
        if let Err(e) = check {
            let _ = remove_tree(&tmp);
            return Err(e);
        }
        fs::rename(&tmp, &path).map_err(|e| Error::io("rename into place", &path, e))?;
        sync_dir(&dir)
    }

    /// Makes `dir` — a tree already in overlay lower-dir form, such as
    /// the upper directory of the build step that produced the layer —
    /// the unpacked layer `chain_id`, instead of unpacking the blob again.
    /// The tree is synced before it is renamed into place, so a crash
    /// never leaves a partial layer under a chain id. If the layer is
    /// already unpacked, `dir` is removed. `dir` must be on the store's
    /// filesystem.
    pub fn adopt_layer_dir(&self, chain_id: &Digest, dir: &Path) -> Result<PathBuf> {
        let layers = self.layers_dir();
        fs::create_dir_all(&layers).map_err(|e| Error::io("create directory", &layers, e))?;
        let lock_path = layers.join(format!("{}.lock", chain_id.hex()));
        let lock = open_lock_file(&lock_path)?;
        lock.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        let path = self.layer_dir(chain_id);
        if path.exists() {
            remove_tree(dir)?;
            return Ok(path);
        }
        let f = fs::File::open(dir).map_err(|e| Error::io("open", dir, e))?;
        nix::unistd::syncfs(&f).map_err(|e| Error::io("syncfs", dir, e.into()))?;
        fs::rename(dir, &path).map_err(|e| Error::io("rename into place", &path, e))?;
        sync_dir(&layers)?;
        Ok(path)
    }

    /// Applies every layer of `image` into `target` (an empty directory),
    /// whiteouts applied: the flattened root filesystem, for hosts without
    /// overlayfs and for `--output type=local`.
    pub fn flatten_into(&self, image: &Image, target: &Path) -> Result<()> {
        let options = UnpackOptions::default();
        for (desc, diff_id) in image.layers()? {
            let u = layer::unpack(self.open_blob(&desc.digest)?, target, &options)?;
            if u.diff_id != diff_id {
                return Err(Error::InvalidImage {
                    digest: desc.digest,
                    reason: format!(
                        "uncompressed layer hashes to {}, but the config says {diff_id}",
                        u.diff_id
                    ),
                });
            }
        }
        Ok(())
    }

    /// Removes unpacked layers whose chain id is neither in `keep` nor
    /// held (see [`Store::hold_layers`]), and stale temporaries; returns
    /// the chain ids (hex) removed.
    pub fn prune_layers(&self, keep: &BTreeSet<Digest>) -> Result<Vec<String>> {
        let dir = self.layers_dir();
        let held = self.held_layers()?;
        let mut keep: BTreeSet<&str> = keep.iter().map(|d| d.hex()).collect();
        keep.extend(held.iter().flat_map(|(_, ids)| ids.iter().map(|d| d.hex())));
        let mut removed = Vec::new();
        for name in read_dir_names(&dir)? {
            let (hex, is_tmp) = match name.strip_suffix(".tmp") {
                Some(h) => (h, true),
                None => (name.as_str(), false),
            };
            if name == HOLDS
                || name == "l"
                || name == "empty"
                || name.ends_with(".lock")
                || (keep.contains(hex) && !is_tmp)
            {
                continue;
            }
            let lock_path = dir.join(format!("{hex}.lock"));
            let lock = open_lock_file(&lock_path)?;
            // Someone unpacking it right now: leave it.
            if lock.try_lock().is_err() {
                continue;
            }
            remove_tree(&dir.join(&name))?;
            if !is_tmp {
                removed.push(hex.to_string());
            }
        }
        Ok(removed)
    }
}

fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}

const HOLDS: &str = "holds";

impl Store {
    /// Records that `owner` (a container or build id: `[A-Za-z0-9_.-]+`)
    /// uses the layers `chain_ids`, so [`Store::prune_layers`] and
    /// image removal keep them until [`Store::release_layers`]. Replaces
    /// an earlier hold of the same owner. Written atomically.
    pub fn hold_layers(&self, owner: &str, chain_ids: &[Digest]) -> Result<()> {
        let dir = self.layers_dir().join(HOLDS);
        fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        let path = hold_path(&dir, owner)?;
        let body: String = chain_ids.iter().map(|d| format!("{d}\n")).collect();
        let tmp = dir.join(format!(".{owner}.tmp"));
        fs::write(&tmp, body).map_err(|e| Error::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io("rename into place", &path, e))
    }

    /// Drops `owner`'s hold; fine if there is none.
    pub fn release_layers(&self, owner: &str) -> Result<()> {
        let path = hold_path(&self.layers_dir().join(HOLDS), owner)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }

    /// Every chain id some owner holds, with the owners.
    pub fn held_layers(&self) -> Result<Vec<(String, Vec<Digest>)>> {
        let dir = self.layers_dir().join(HOLDS);
        let mut out = Vec::new();
        for owner in read_dir_names(&dir)? {
            if owner.starts_with('.') {
                continue;
            }
            let path = dir.join(&owner);
            let text = fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
            let ids = text
                .lines()
                .filter_map(|l| match Digest::parse(l) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        tracing::warn!(path = %path.display(), "ignoring a bad hold line: {e}");
                        None
                    }
                })
                .collect();
            out.push((owner, ids));
        }
        Ok(out)
    }
}

fn hold_path(dir: &Path, owner: &str) -> Result<PathBuf> {
    let ok = !owner.is_empty()
        && owner.len() <= 128
        && !owner.starts_with('.')
        && owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !ok {
        return Err(Error::InvalidIngestRef {
            reference: owner.to_string(),
            reason: "a layer hold owner must be 1-128 of [A-Za-z0-9_.-], not starting with a dot",
        });
    }
    Ok(dir.join(owner))
}
