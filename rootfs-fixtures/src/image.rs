//! The busybox rootfs as an OCI image, in a store or as a docker-archive
//! tar (which `rbox load` reads), made offline and reproducibly: one gzip
//! layer with fixed mtimes, a fixed creation time, `sh` as the command.
//! Also multi-layer images from any directories, for registry tests and
//! benchmarks.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use rbox_image::archive::{self, SaveFormat, SaveItem};
use rbox_image::layer::{self, Mtime, PackOptions};
use rbox_image::manifest::{
    ContainerConfig, Descriptor, History, ImageConfig, Platform, RootFs, media_type,
};
use rbox_image::{Reference, Store};

use crate::error::{FixtureError, Result};

/// The image's creation time (and every file's mtime).
pub const BUSYBOX_CREATED: &str = "2024-01-01T00:00:00Z";
const EPOCH: u64 = 1_704_067_200;

/// Writes the busybox image into `store` under `name` (e.g. `busybox`),
/// returning its manifest descriptor.
pub fn busybox_image(store: &Store, name: &str) -> Result<Descriptor> {
    let rootfs = crate::cached_busybox_rootfs()?;
    let reference = parse_name(name)?;
    let mut blob = Vec::new();
    let mut options = PackOptions::default();
    options.mtime = Mtime::Fixed(EPOCH);
    let packed = layer::pack(&rootfs, &options, &mut blob)?;
    let digest = store.write_blob(&blob)?;
    let layer = Descriptor::new(media_type::OCI_LAYER_GZIP, digest, blob.len() as u64);
    let host = Platform::host();
    let config = ImageConfig {
        created: Some(BUSYBOX_CREATED.into()),
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        config: Some(ContainerConfig {
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        }),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: vec![packed.diff_id],
        },
        history: vec![History {
            created: Some(BUSYBOX_CREATED.into()),
            created_by: Some("rbox-fixtures: Debian busybox-static".into()),
            ..Default::default()
        }],
        ..Default::default()
    };
    let target = store.write_image(&config, &[layer])?;
    store.tag(&reference, &target)?;
    Ok(target)
}

/// Writes the busybox image named `name` as a docker-archive tar at
/// `dest`, using a scratch store under `scratch` (an empty directory).
pub fn busybox_archive(dest: &Path, name: &str, scratch: &Path) -> Result<()> {
    let store = Store::open(scratch)?;
    busybox_image(&store, name)?;
    save_archive(&store, dest, name)
}

/// Writes an image named `name` into `store` with one gzip layer per
/// directory of `layers` (base first), each packed as it is with fixed
/// mtimes: multi-layer images for registry tests and benchmarks.
pub fn layered_image(store: &Store, name: &str, layers: &[&Path]) -> Result<Descriptor> {
    let reference = parse_name(name)?;
    let mut options = PackOptions::default();
    options.mtime = Mtime::Fixed(EPOCH);
    let mut descriptors = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = Vec::new();
    for dir in layers {
        let mut blob = Vec::new();
        let packed = layer::pack(dir, &options, &mut blob)?;
        let digest = store.write_blob(&blob)?;
        descriptors.push(Descriptor::new(
            media_type::OCI_LAYER_GZIP,
            digest,
            blob.len() as u64,
        ));
        diff_ids.push(packed.diff_id);
        history.push(History {
            created: Some(BUSYBOX_CREATED.into()),
            created_by: Some(format!("rbox-fixtures: {}", dir.display())),
            ..Default::default()
        });
    }
    let host = Platform::host();
    let config = ImageConfig {
        created: Some(BUSYBOX_CREATED.into()),
        architecture: host.architecture,
        os: host.os,
        variant: host.variant,
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        history,
        ..Default::default()
    };
    let target = store.write_image(&config, &descriptors)?;
    store.tag(&reference, &target)?;
    Ok(target)
}

/// Writes [`layered_image`] as a docker-archive tar at `dest`, using a
/// scratch store under `scratch` (an empty directory).
pub fn layered_archive(dest: &Path, name: &str, layers: &[&Path], scratch: &Path) -> Result<()> {
    let store = Store::open(scratch)?;
    layered_image(&store, name, layers)?;
    save_archive(&store, dest, name)
}

fn save_archive(store: &Store, dest: &Path, name: &str) -> Result<()> {
    let image = store.resolve(name, &Platform::host())?;
    let reference = parse_name(name)?;
    let io = |op, e| FixtureError::Io {
        op,
        path: dest.to_path_buf(),
        source: e,
    };
    let f = File::create(dest).map_err(|e| io("create", e))?;
    let mut w = BufWriter::new(f);
    archive::save(
        store,
        &[SaveItem {
            image,
            names: vec![reference],
        }],
        SaveFormat::Docker,
        &mut w,
    )?;
    w.flush().map_err(|e| io("write", e))
}

fn parse_name(name: &str) -> Result<Reference> {
    Reference::parse(name).map_err(|source| FixtureError::InvalidName {
        name: name.to_string(),
        source,
    })
}
