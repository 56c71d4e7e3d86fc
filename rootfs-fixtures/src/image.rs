//! The busybox fixture as an image in an rbox-image store: one gzip
//! layer packed from the cached busybox rootfs, a config with
//! `Cmd ["sh"]`, tagged under the name the caller gives.

use rbox_image::Store;
use rbox_image::layer::{PackOptions, pack};
use rbox_image::manifest::{ContainerConfig, Descriptor, ImageConfig, Platform, RootFs};

use crate::error::{FixtureError, Result};

fn image_err(e: rbox_image::Error) -> FixtureError {
    FixtureError::Image(e.to_string())
}

/// Writes the busybox image into `store` and tags it `name` (e.g.
/// `busybox` or `busybox:latest`); returns the manifest descriptor.
pub fn busybox_image(store: &Store, name: &str) -> Result<Descriptor> {
    let rootfs = crate::cached_busybox_rootfs()?;
    let mut layer = Vec::new();
    let packed = pack(&rootfs, &PackOptions::default(), &mut layer).map_err(image_err)?;
    let digest = store.write_blob(&layer).map_err(image_err)?;
    let desc = Descriptor::new(packed.compression.oci_media_type(), digest, packed.size);
    let host = Platform::host();
    let config = ImageConfig {
        architecture: host.architecture.clone(),
        os: host.os.clone(),
        config: Some(ContainerConfig {
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        }),
        rootfs: RootFs {
            diff_ids: vec![packed.diff_id],
            ..Default::default()
        },
        ..Default::default()
    };
    let target = store.write_image(&config, &[desc]).map_err(image_err)?;
    let reference =
        rbox_image::Reference::parse(name).map_err(|e| FixtureError::Image(e.to_string()))?;
    store.tag(&reference, &target).map_err(image_err)?;
    Ok(target)
}
