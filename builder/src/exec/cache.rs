//! The step cache: `build-cache/<key>.json` records what a step made.
//!
//! A step's key is the hash of its parent's key (or the base image id)
//! and the step's exact inputs, each length-prefixed so no two input
//! lists collide: the instruction after expansion, the environment and
//! build args that reach it, and for COPY/ADD the content hashes of the
//! files copied (never their mtimes). A hit needs only the record and
//! the presence of its layer blob — no layer data is read.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rbox_image::manifest::Descriptor;
use rbox_image::{Digest, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::ExecError;

/// Builds a step key from its inputs.
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    hasher: Sha256,
}

impl KeyBuilder {
    /// A key chained to `parent` (the previous step's key, or the base
    /// image id for the first step).
    pub fn new(parent: &str) -> Self {
        let mut k = KeyBuilder {
            hasher: Sha256::new(),
        };
        k.add(b"rbox-build-cache-v1");
        k.add(parent.as_bytes());
        k
    }

    /// Adds one input.
    pub fn add(&mut self, part: &[u8]) -> &mut Self {
        self.hasher.update((part.len() as u64).to_le_bytes());
        self.hasher.update(part);
        self
    }

    /// The key.
    pub fn finish(&self) -> Digest {
        let hex: String = self
            .hasher
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Digest::parse(&format!("sha256:{hex}")).expect("a sha256 hex digest parses")
    }
}

/// What a cached step produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedStep {
    /// The layer, if the step made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer: Option<Descriptor>,
    /// Its diff id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_id: Option<Digest>,
    /// When the step first ran (RFC 3339): a cache hit reuses it, so a
    /// fully cached build makes the same image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

/// The cache directory of a data root.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache under `data_root/build-cache`.
    pub fn open(data_root: &Path) -> Result<Self, ExecError> {
        let dir = data_root.join("build-cache");
        fs::create_dir_all(&dir).map_err(|e| ExecError::io("create", &dir, e))?;
        Ok(Cache { dir })
    }

    fn path(&self, key: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", key.hex()))
    }

    /// The record for `key`, if present and its layer is still in
    /// `store`. A corrupt record is a miss (and logged), never an error
    /// that stops the build.
    pub fn get(&self, store: &Store, key: &Digest) -> Result<Option<CachedStep>, ExecError> {
        let path = self.path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ExecError::io("read", &path, e)),
        };
        let step: CachedStep = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring a corrupt cache record: {e}");
                return Ok(None);
            }
        };
        if let Some(l) = &step.layer
            && !store.contains(&l.digest)?
        {
            return Ok(None);
        }
        Ok(Some(step))
    }

    /// Records `step` under `key` (atomically).
    pub fn put(&self, key: &Digest, step: &CachedStep) -> Result<(), ExecError> {
        let path = self.path(key);
        let tmp = self
            .dir
            .join(format!(".{}.{}.tmp", key.hex(), std::process::id()));
        let body = serde_json::to_vec(step).expect("cache records serialise");
        fs::write(&tmp, body).map_err(|e| ExecError::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| ExecError::io("rename into place", &path, e))
    }

    /// Removes every record (`builder prune`).
    pub fn clear(&self) -> Result<usize, ExecError> {
        let mut n = 0;
        let rd = fs::read_dir(&self.dir).map_err(|e| ExecError::io("read", &self.dir, e))?;
        for e in rd.flatten() {
            if fs::remove_file(e.path()).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_length_prefixed_and_chained() {
        let k = |parent: &str, parts: &[&[u8]]| {
            let mut b = KeyBuilder::new(parent);
            for p in parts {
                b.add(p);
            }
            b.finish()
        };
        assert_eq!(k("p", &[b"ab", b"c"]), k("p", &[b"ab", b"c"]));
        assert_ne!(k("p", &[b"ab", b"c"]), k("p", &[b"a", b"bc"]));
        assert_ne!(k("p", &[b"x"]), k("q", &[b"x"]));
    }

    #[test]
    fn records_round_trip_and_miss_without_their_blob() {
        let tmp = rbox_test_support::TempRoot::new("builder-cache").unwrap();
        let store = Store::open(tmp.join("data")).unwrap();
        let cache = Cache::open(&tmp.join("data")).unwrap();
        let key = KeyBuilder::new("base").finish();
        assert!(cache.get(&store, &key).unwrap().is_none());
        let blob = store.write_blob(b"layer").unwrap();
        let step = CachedStep {
            layer: Some(Descriptor::new(
                "application/vnd.oci.image.layer.v1.tar",
                blob.clone(),
                5,
            )),
            diff_id: Some(blob.clone()),
            created: None,
        };
        cache.put(&key, &step).unwrap();
        assert_eq!(cache.get(&store, &key).unwrap(), Some(step));
        store.delete_blob(&blob).unwrap();
        assert!(cache.get(&store, &key).unwrap().is_none());
        fs::write(cache.path(&key), b"{corrupt").unwrap();
        assert!(cache.get(&store, &key).unwrap().is_none());
        assert_eq!(cache.clear().unwrap(), 1);
    }
}
