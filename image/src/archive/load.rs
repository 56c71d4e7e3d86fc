//! Reading images from an archive into the store.

use std::collections::BTreeMap;
use std::io::{self, Read};

use serde::Deserialize;

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layer::{self, Compression};
use crate::manifest::{self, Descriptor, ImageConfig, Index, Parsed, media_type};
use crate::reference::Reference;
use crate::store::{Expected, Ingest, Store};

/// JSON documents larger than this are refused (manifest.json of a
/// thousand images is far below).
const MAX_JSON: u64 = 8 << 20;
/// How many symlinks a path lookup follows (legacy docker-archives link
/// shared layers).
const MAX_LINKS: usize = 8;
/// Files up to this size are read into memory (every JSON document an
/// archive holds is far smaller); larger ones stream into the store.
const SMALL: u64 = 1 << 20;

/// One image `load` recorded (or found without a name).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadedImage {
    /// The manifest or index now in the store.
    pub target: Descriptor,
    /// Names recorded for it (empty: loaded by id only).
    pub names: Vec<Reference>,
}

/// The archive's files: regular files are in the store by digest, small
/// ones (possible JSON documents) also in memory.
#[derive(Default)]
struct Files {
    blobs: BTreeMap<String, (Digest, u64)>,
    small: BTreeMap<String, Vec<u8>>,
    links: BTreeMap<String, String>,
}

impl Files {
    /// The digest and size of the file at `path`, following symlinks
    /// (relative to the link's directory, staying inside the archive).
    fn lookup(&self, path: &str) -> Option<&(Digest, u64)> {
        let mut p = clean(path)?;
        for _ in 0..MAX_LINKS {
            if let Some(b) = self.blobs.get(&p) {
                return Some(b);
            }
            let target = self.links.get(&p)?;
            let dir = p.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            p = clean(&format!("{dir}/{target}"))?;
        }
        None
    }

    fn json(&self, path: &str) -> Option<&[u8]> {
        let p = clean(path)?;
        self.small.get(&p).map(|v| v.as_slice())
    }
}

/// Normalises an archive path: no leading `./` or `/`, `..` resolved
/// lexically and never above the root (None then).
fn clean(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// Reads an archive (docker-archive or OCI layout; plain, gzip or zstd)
/// from `input` into `store`, records the names it carries, and returns
/// what was loaded. Blobs are verified as they are stored; nothing is
/// recorded unless every blob an image needs is present and valid.
pub fn load(store: &Store, input: impl Read) -> Result<Vec<LoadedImage>> {
    let _lease = store.lease()?;
    let (_, reader) = layer::decompress(input)?;
    let files = read_entries(store, reader)?;
    let images = if files.json("manifest.json").is_some() {
        docker_images(store, &files)?
    } else if files.json("index.json").is_some() {
        oci_images(store, &files)?
    } else {
        return Err(bad(
            "neither manifest.json (docker-archive) nor index.json (OCI layout) found",
        ));
    };
    for img in &images {
        for name in &img.names {
            store.tag(name, &img.target)?;
        }
    }
    Ok(images)
}

fn bad(reason: impl Into<String>) -> Error {
    Error::InvalidArchive(reason.into())
}

fn read_entries(store: &Store, reader: impl Read) -> Result<Files> {
    let mut files = Files::default();
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a readable tar archive: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8(raw).map_err(|_| bad("an entry name is not UTF-8"))?;
        let Some(path) = clean(&name) else {
            return Err(bad(format!("entry {name:?} climbs above the archive root")));
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                // A hard link names an archive path; a symlink is relative
                // to its directory.
                let target = if entry.header().entry_type() == tar::EntryType::Link {
                    format!("/{target}")
                } else {
                    target
                };
                if target.starts_with('/') {
                    let Some(t) = clean(&target) else { continue };
                    // Store as relative to the root: lookup joins with
                    // the link's dir, so make it climb back fully.
                    let depth = path.matches('/').count();
                    files
                        .links
                        .insert(path, format!("{}{t}", "../".repeat(depth)));
                } else {
                    files.links.insert(path, target);
                }
                continue;
            }
            _ => continue,
        }
        let size = entry.size();
        let document = path == "manifest.json" || path == "index.json";
        if document && size > MAX_JSON {
            return Err(bad(format!("{path} is {size} bytes, more than {MAX_JSON}")));
        }
        if document || size <= SMALL {
            let mut buf = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut buf)
                .map_err(|e| bad(format!("reading {path}: {e}")))?;
            if let Some(named) = blob_digest(&path)
                && named != crate::Digest::sha256(&buf)
            {
                return Err(bad(format!(
                    "{path} does not hash to its name (corrupt or tampered)"
                )));
            }
            let digest = store.write_blob(&buf)?;
            files.blobs.insert(path.clone(), (digest, buf.len() as u64));
            files.small.insert(path, buf);
            continue;
        }
        let info = ingest_entry(store, &path, &mut entry, size)?;
        files.blobs.insert(path, info);
    }
    Ok(files)
}

/// Streams one large entry into the store, hashing as it goes; a
/// `blobs/sha256/<hex>` entry must hash to its name.
fn ingest_entry(
    store: &Store,
    path: &str,
    entry: &mut impl Read,
    size: u64,
) -> Result<(Digest, u64)> {
    let named = blob_digest(path);
    // A blob named by its digest resumes safely (it is verified); any
    // other file gets a private ingest, since the same path in another
    // archive holds other bytes.
    let (reference, expected) = match &named {
        Some(d) => (format!("load-{d}"), Expected::new(d.clone(), size)),
        None => (
            format!("load-{}-{path}", std::process::id()),
            Expected::unknown(),
        ),
    };
    let info = match store.ingest(&reference, expected)? {
        Ingest::Exists(info) => {
            io::copy(entry, &mut io::sink()).map_err(|e| bad(format!("reading {path}: {e}")))?;
            info
        }
        Ingest::Writer(mut w) => {
            // A resumed partial from an earlier killed load of this blob:
            // skip what is already there.
            let skip = w.offset();
            let copied = io::copy(&mut entry.take(skip), &mut io::sink())
                .map_err(|e| bad(format!("reading {path}: {e}")))
                .and_then(|_| io::copy(entry, &mut w).map_err(|e| w.write_error(e)));
            if let Err(e) = copied {
                if named.is_none() {
                    let _ = w.abort();
                }
                return Err(e);
            }
            w.commit()?
        }
    };
    Ok((info.digest, info.size))
}

/// The digest a `blobs/<alg>/<hex>` path claims.
fn blob_digest(path: &str) -> Option<Digest> {
    path.strip_prefix("blobs/")
        .and_then(|rest| rest.split_once('/'))
        .and_then(|(alg, hex)| Digest::parse(&format!("{alg}:{hex}")).ok())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn docker_images(store: &Store, files: &Files) -> Result<Vec<LoadedImage>> {
    let raw = files.json("manifest.json").expect("checked by the caller");
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(raw).map_err(|e| bad(format!("manifest.json is malformed: {e}")))?;
    let mut out = Vec::new();
    for e in entries {
        let (config_digest, config_size) = files
            .lookup(&e.config)
            .ok_or_else(|| {
                bad(format!(
                    "manifest.json names config {:?}, not in the archive",
                    e.config
                ))
            })?
            .clone();
        let config = store.read_config(&config_digest)?;
        if config.rootfs.diff_ids.len() != e.layers.len() {
            return Err(bad(format!(
                "config {} has {} diff ids but manifest.json lists {} layers",
                e.config,
                config.rootfs.diff_ids.len(),
                e.layers.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in e.layers.iter().zip(&config.rootfs.diff_ids) {
            let (d, size) = files
                .lookup(path)
                .ok_or_else(|| {
                    bad(format!(
                        "manifest.json names layer {path:?}, not in the archive"
                    ))
                })?
                .clone();
            let compression = {
                let mut prefix = [0u8; 8];
                let n = read_prefix(store, &d, &mut prefix)?;
                Compression::detect(&prefix[..n])?
            };
            if compression == Compression::None && &d != diff_id {
                return Err(bad(format!(
                    "layer {path} hashes to {d}, but the config says {diff_id}"
                )));
            }
            layers.push(Descriptor::new(compression.oci_media_type(), d, size));
        }
        let image_manifest = crate::manifest::Manifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.into()),
            artifact_type: None,
            config: Descriptor::new(media_type::OCI_CONFIG, config_digest, config_size),
            layers,
            subject: None,
            annotations: Default::default(),
        };
        let bytes = image_manifest.to_json();
        let digest = store.write_blob(&bytes)?;
        let target = Descriptor::new(media_type::OCI_MANIFEST, digest, bytes.len() as u64);
        let mut names = Vec::new();
        for t in e.repo_tags.unwrap_or_default() {
            names.push(
                Reference::parse(&t).map_err(|err| bad(format!("RepoTags entry {t:?}: {err}")))?,
            );
        }
        out.push(LoadedImage { target, names });
    }
    Ok(out)
}

fn read_prefix(store: &Store, d: &Digest, buf: &mut [u8]) -> Result<usize> {
    let mut f = store.open_blob(d)?;
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(Error::io("read", store.blob_path(d), e)),
        }
    }
    Ok(n)
}

fn oci_images(store: &Store, files: &Files) -> Result<Vec<LoadedImage>> {
    let raw = files.json("index.json").expect("checked by the caller");
    let index = match manifest::parse(raw, Some(media_type::OCI_INDEX)) {
        Ok(Parsed::Index(i)) => i,
        Ok(Parsed::Manifest(_)) => return Err(bad("index.json is a manifest, not an index")),
        Err(e) => return Err(bad(format!("index.json: {e}"))),
    };
    if let Some(layout) = files.json("oci-layout") {
        let v: serde_json::Value = serde_json::from_slice(layout)
            .map_err(|e| bad(format!("oci-layout is malformed: {e}")))?;
        if v["imageLayoutVersion"] != "1.0.0" {
            return Err(bad(format!(
                "unsupported imageLayoutVersion {}",
                v["imageLayoutVersion"]
            )));
        }
    }
    let mut out: Vec<LoadedImage> = Vec::new();
    for d in index.manifests {
        check_present(store, &d)?;
        let name = d
            .annotations
            .get(ANNOTATION_IMAGE_NAME)
            .or_else(|| d.annotations.get(ANNOTATION_REF_NAME))
            // A bare tag ("latest") names no repository: load it unnamed.
            .filter(|n| n.contains([':', '/']))
            .and_then(|n| Reference::parse(n).ok());
        let mut target = d.clone();
        target.annotations.clear();
        target.platform = None;
        match out.iter_mut().find(|l| l.target == target) {
            Some(l) => l.names.extend(name),
            None => out.push(LoadedImage {
                target,
                names: name.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// Checks that a manifest or index and everything under it is in the
/// store (loaded from the archive or already present).
fn check_present(store: &Store, d: &Descriptor) -> Result<()> {
    let mut todo = vec![d.clone()];
    let mut seen = 0usize;
    while let Some(d) = todo.pop() {
        seen += 1;
        if seen > 100_000 {
            return Err(bad("the index references too many blobs"));
        }
        if !store.contains(&d.digest)? {
            return Err(bad(format!(
                "{} {} is not in the archive",
                d.media_type, d.digest
            )));
        }
        if media_type::is_index(&d.media_type) || media_type::is_manifest(&d.media_type) {
            match store.read_manifest(&d.digest, Some(&d.media_type))? {
                Parsed::Index(Index { manifests, .. }) => todo.extend(manifests),
                Parsed::Manifest(m) => {
                    let config: ImageConfig = store.read_config(&m.config.digest)?;
                    if config.rootfs.diff_ids.len() != m.layers.len() {
                        return Err(bad(format!(
                            "manifest {} has {} layers but its config {} diff ids",
                            d.digest,
                            m.layers.len(),
                            config.rootfs.diff_ids.len()
                        )));
                    }
                    todo.extend(m.layers);
                }
            }
        }
    }
    Ok(())
}
