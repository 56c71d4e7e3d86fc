//! A step's result as a layer: the overlay upper directory packed (with
//! overlay whiteouts turned into OCI ones) straight into the store.

use std::path::Path;

use rbox_image::Store;
use rbox_image::layer::{self, Mtime, PackOptions, PackSource};
use rbox_image::manifest::{Descriptor, media_type};
use rbox_image::store::{Expected, Ingest};

use super::ExecError;

/// gzip level of built layers: 1 is several times faster than the
/// default 6 on typical trees for a few percent more bytes, and it is
/// fixed, so builds stay reproducible.
pub const BUILD_GZIP_LEVEL: u32 = 1;

/// A committed layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The blob's descriptor.
    pub descriptor: Descriptor,
    /// The uncompressed digest (the config's diff id).
    pub diff_id: rbox_image::Digest,
    /// True if the upper held nothing (docker then records an empty
    /// layer in history and no layer).
    pub empty: bool,
}

/// Packs `upper` into a gzip layer in `store`. `epoch`, when given
/// (SOURCE_DATE_EPOCH), clamps every mtime for reproducible output.
pub fn commit_upper(
    store: &Store,
    upper: &Path,
    epoch: Option<u64>,
) -> Result<Committed, ExecError> {
    let empty = std::fs::read_dir(upper)
        .map_err(|e| ExecError::io("read", upper, e))?
        .next()
        .is_none();
    let mut options = PackOptions::default();
    options.source = PackSource::OverlayUpper;
    options.level = Some(BUILD_GZIP_LEVEL);
    if let Some(e) = epoch {
        options.mtime = Mtime::Clamp(e);
    }
    pack_into_store(store, upper, &options, empty)
}

/// Packs an ordinary tree (a COPY --link staging dir) into `store`.
pub fn commit_tree(store: &Store, dir: &Path, epoch: Option<u64>) -> Result<Committed, ExecError> {
    let mut options = PackOptions::default();
    options.level = Some(BUILD_GZIP_LEVEL);
    if let Some(e) = epoch {
        options.mtime = Mtime::Clamp(e);
    }
    pack_into_store(store, dir, &options, false)
}

fn pack_into_store(
    store: &Store,
    dir: &Path,
    options: &PackOptions,
    empty: bool,
) -> Result<Committed, ExecError> {
    // The digest is known only at the end: stream into a private ingest
    // with an unknown digest, which commit names by its hash.
    let reference = format!("build-{}-{}", std::process::id(), unique());
    let mut w = match store.ingest(&reference, Expected::unknown())? {
        Ingest::Writer(w) => w,
        _ => {
            return Err(ExecError::Runtime(format!(
                "ingest {reference} unexpectedly exists in the store"
            )));
        }
    };
    let packed = match layer::pack(dir, options, &mut w) {
        Ok(p) => p,
        Err(e) => {
            let _ = w.abort();
            return Err(e.into());
        }
    };
    let info = w.commit()?;
    debug_assert_eq!(info.digest, packed.digest);
    Ok(Committed {
        descriptor: Descriptor::new(media_type::OCI_LAYER_GZIP, info.digest, info.size),
        diff_id: packed.diff_id,
        empty,
    })
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
