//! Writing images into an archive.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use serde_json::json;

use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::digest::{Algorithm, Digest, DigestWriter};
use crate::error::{Error, Result};
use crate::layer;
use crate::manifest::{Descriptor, Index, Manifest, Parsed, media_type};
use crate::reference::Reference;
use crate::store::{Image, Store};

/// Blobs already in the archive, with their sizes.
type Written = BTreeMap<Digest, u64>;

/// Which archive format [`save`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SaveFormat {
    /// docker-archive with an OCI layout inside (Docker 25's `docker save`).
    #[default]
    Docker,
    /// OCI image layout only, blobs as stored (compressed layers kept).
    Oci,
}

/// One image to save and the names to give it.
#[derive(Debug, Clone)]
pub struct SaveItem {
    /// The image (for docker-archive, the platform's manifest is saved).
    pub image: Image,
    /// Names (may be empty: the image is saved by id only).
    pub names: Vec<Reference>,
}

/// Writes `items` to `out` as a tar archive in `format`.
pub fn save(store: &Store, items: &[SaveItem], format: SaveFormat, out: impl Write) -> Result<()> {
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut written: Written = BTreeMap::new();
    let mut index_entries: Vec<Descriptor> = Vec::new();
    let mut docker_manifest = Vec::new();
    let mut repositories = serde_json::Map::new();
    for item in items {
        match format {
            SaveFormat::Oci => {
                // The whole target (an index with every platform present
                // here, else the one manifest).
                let target = if target_complete(store, &item.image.target)? {
                    item.image.target.clone()
                } else {
                    let size = store.blob_size(&item.image.manifest_digest)?;
                    Descriptor::new(
                        item.image.manifest.effective_media_type().to_string(),
                        item.image.manifest_digest.clone(),
                        size,
                    )
                };
                write_tree(store, &mut tar, &target, &mut written)?;
                push_entries(&mut index_entries, &target, &item.names);
            }
            SaveFormat::Docker => {
                let (desc, layer_paths, config_path) =
                    write_docker_image(store, &mut tar, &item.image, &mut written)?;
                push_entries(&mut index_entries, &desc, &item.names);
                let tags: Vec<String> = item
                    .names
                    .iter()
                    .filter(|n| n.tag().is_some())
                    .map(|n| n.familiar())
                    .collect();
                for n in item.names.iter().filter(|n| n.tag().is_some()) {
                    let repo = repositories
                        .entry(n.familiar_name())
                        .or_insert_with(|| json!({}));
                    if let Some(last) = item.image.config.rootfs.diff_ids.last() {
                        repo[n.tag().unwrap_or("latest")] = json!(last.hex());
                    }
                }
                docker_manifest.push(json!({
                    "Config": config_path,
                    "RepoTags": tags,
                    "Layers": layer_paths,
                }));
            }
        }
    }
    let io_err = |e: io::Error| Error::io("write archive", "<output>", e);
    let index = Index {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.into()),
        artifact_type: None,
        manifests: index_entries,
        subject: None,
        annotations: Default::default(),
    };
    append(&mut tar, "index.json", &index.to_json()).map_err(io_err)?;
    append(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err)?;
    if format == SaveFormat::Docker {
        let m = serde_json::to_vec(&docker_manifest).expect("json values serialise");
        append(&mut tar, "manifest.json", &m).map_err(io_err)?;
        if !repositories.is_empty() {
            let r = serde_json::to_vec(&repositories).expect("json values serialise");
            append(&mut tar, "repositories", &r).map_err(io_err)?;
        }
    }
    tar.into_inner().and_then(|mut w| w.flush()).map_err(io_err)
}

/// True if every manifest an index names is here (an OCI save of a
/// pulled multi-arch image with only one platform pulled saves just that
/// platform's manifest).
fn target_complete(store: &Store, target: &Descriptor) -> Result<bool> {
    if !media_type::is_index(&target.media_type) {
        return Ok(true);
    }
    match store.read_manifest(&target.digest, Some(&target.media_type))? {
        Parsed::Index(i) => {
            for m in &i.manifests {
                if !store.contains(&m.digest)? {
                    return Ok(false);
                }
                if let Parsed::Manifest(man) =
                    store.read_manifest(&m.digest, Some(&m.media_type))?
                {
                    for b in std::iter::once(&man.config).chain(&man.layers) {
                        if !store.contains(&b.digest)? {
                            return Ok(false);
                        }
                    }
                }
            }
            Ok(true)
        }
        Parsed::Manifest(_) => Ok(true),
    }
}

fn push_entries(entries: &mut Vec<Descriptor>, target: &Descriptor, names: &[Reference]) {
    if names.is_empty() {
        entries.push(target.clone());
        return;
    }
    for n in names {
        let mut d = target.clone();
        d.annotations
            .insert(ANNOTATION_IMAGE_NAME.into(), n.to_string());
        if let Some(t) = n.tag() {
            d.annotations
                .insert(ANNOTATION_REF_NAME.into(), t.to_string());
        }
        entries.push(d);
    }
}

/// Writes a manifest/index and everything below it, as stored.
fn write_tree<W: Write>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    target: &Descriptor,
    written: &mut Written,
) -> Result<()> {
    let mut todo = vec![target.clone()];
    while let Some(d) = todo.pop() {
        if media_type::is_index(&d.media_type) || media_type::is_manifest(&d.media_type) {
            match store.read_manifest(&d.digest, Some(&d.media_type))? {
                Parsed::Index(i) => todo.extend(i.manifests),
                Parsed::Manifest(m) => {
                    todo.push(m.config);
                    todo.extend(m.layers);
                }
            }
        }
        write_blob(store, tar, &d.digest, written)?;
    }
    Ok(())
}

fn blob_name(d: &Digest) -> String {
    format!("blobs/{}/{}", d.algorithm().as_str(), d.hex())
}

fn write_blob<W: Write>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    d: &Digest,
    written: &mut Written,
) -> Result<()> {
    if written.contains_key(d) {
        return Ok(());
    }
    let size = store.blob_size(d)?;
    written.insert(d.clone(), size);
    let file = store.open_blob(d)?;
    let mut header = file_header(size);
    tar.append_data(&mut header, blob_name(d), file)
        .map_err(|e| Error::io("write archive entry for", store.blob_path(d), e))
}

/// Writes one image docker-style: uncompressed layers named by diff id,
/// the config, and an OCI manifest of those; returns the manifest's
/// descriptor and the paths manifest.json lists.
fn write_docker_image<W: Write>(
    store: &Store,
    tar: &mut tar::Builder<W>,
    image: &Image,
    written: &mut Written,
) -> Result<(Descriptor, Vec<String>, String)> {
    let mut layers = Vec::new();
    let mut paths = Vec::new();
    for (desc, diff_id) in image.layers()? {
        paths.push(blob_name(&diff_id));
        if let Some(&size) = written.get(&diff_id) {
            layers.push(Descriptor::new(media_type::OCI_LAYER, diff_id, size));
            continue;
        }
        // The tar entry's size is needed up front: decompress once to a
        // sink to learn it and check the diff id, then stream again.
        let (size, got) = uncompressed_size(store, &desc.digest)?;
        if got != diff_id {
            return Err(Error::InvalidImage {
                digest: desc.digest,
                reason: format!("uncompressed layer hashes to {got}, the config says {diff_id}"),
            });
        }
        let (_, reader) = layer::decompress(store.open_blob(&desc.digest)?)?;
        let mut header = file_header(size);
        tar.append_data(&mut header, blob_name(&diff_id), reader)
            .map_err(|e| Error::io("write archive entry for", store.blob_path(&desc.digest), e))?;
        written.insert(diff_id.clone(), size);
        layers.push(Descriptor::new(media_type::OCI_LAYER, diff_id, size));
    }
    let config = &image.manifest.config;
    write_blob(store, tar, &config.digest, written)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        artifact_type: None,
        config: Descriptor::new(media_type::OCI_CONFIG, config.digest.clone(), config.size),
        layers,
        subject: None,
        annotations: Default::default(),
    };
    let bytes = manifest.to_json();
    let digest = Digest::sha256(&bytes);
    if written.insert(digest.clone(), bytes.len() as u64).is_none() {
        append(tar, &blob_name(&digest), &bytes)
            .map_err(|e| Error::io("write archive", "<output>", e))?;
    }
    Ok((
        Descriptor::new(media_type::OCI_MANIFEST, digest, bytes.len() as u64),
        paths,
        blob_name(&config.digest),
    ))
}

fn uncompressed_size(store: &Store, blob: &Digest) -> Result<(u64, Digest)> {
    let (_, mut reader) = layer::decompress(store.open_blob(blob)?)?;
    let mut sink = DigestWriter::new(io::sink(), Algorithm::Sha256);
    copy(&mut reader, &mut sink).map_err(|e| Error::io("read layer", store.blob_path(blob), e))?;
    let (_, digest, count) = sink.into_parts();
    Ok((count, digest))
}

fn copy(r: &mut dyn Read, w: &mut impl Write) -> io::Result<u64> {
    io::copy(r, w)
}

fn file_header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = file_header(data.len() as u64);
    tar.append_data(&mut h, name, data)
}
