//! Image archives: `save` writes and `load` reads the two tar formats
//! tools exchange images in.
//!
//! - OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`),
//!   as `skopeo copy oci-archive:` and `podman save --format oci-archive`.
//! - docker-archive (`manifest.json` with `Config`/`RepoTags`/`Layers`
//!   paths), as `docker save`; rbox writes it the way Docker 25+ does: the
//!   same tar also holds an OCI layout whose blobs the paths point at, with
//!   layers uncompressed (their file names are their diff ids), so old and
//!   new docker, podman and skopeo all read it.
//!
//! `load` never writes a path taken from the archive: every file goes into
//! the content store by its hash, and the JSON documents (capped in size)
//! name files only by lookups in that in-memory map. So a hostile archive
//! can at worst add unreferenced blobs, which gc removes.

mod load;
mod save;

pub use load::{LoadedImage, load};
pub use save::{SaveFormat, SaveItem, save};

/// `org.opencontainers.image.ref.name`: the tag (or full name) of an
/// index entry in an OCI layout.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's full image name annotation, which docker and nerdctl
/// write next to the OCI one.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

#[cfg(test)]
mod tests;
