//! Layers: tar streams (plain, gzip or zstd) applied to and made from
//! directory trees.
//!
//! [`unpack`] applies a layer to a directory in one streaming pass:
//! decompression, the two digests (the stream's, and the `diff_id` of the
//! uncompressed tar) and the file writes. Every entry is placed by
//! resolving its parent with `openat2(RESOLVE_IN_ROOT)` from a descriptor
//! of the target and creating the last component with a `*at` call that
//! never follows it, so no name, link or earlier entry can make a write
//! land outside the target. [`pack`] goes the other way, reproducibly.

mod pack;
mod path;
mod stream;
mod tree;
mod unpack;

use std::io::Read;
use std::path::Path;

pub use pack::{Mtime, PackOptions, PackSource, PackedLayer, pack};
pub use unpack::{UnpackedLayer, unpack};

use crate::error::{Error, Result};

/// How a layer stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// A plain tar.
    #[default]
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// zstd frames.
    Zstd,
}

impl Compression {
    /// Recognises the compression from the first bytes of a stream (at
    /// least 6 are needed to tell all formats apart). Formats this library
    /// cannot read (xz, bzip2) are an error rather than a confusing tar
    /// failure later.
    pub fn detect(prefix: &[u8]) -> Result<Self> {
        if prefix.starts_with(&[0x1f, 0x8b]) {
            Ok(Self::Gzip)
        } else if prefix.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Ok(Self::Zstd)
        } else if prefix.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
            Err(Error::UnsupportedCompression { format: "xz" })
        } else if prefix.starts_with(b"BZh") {
            Err(Error::UnsupportedCompression { format: "bzip2" })
        } else {
            Ok(Self::None)
        }
    }

    /// The OCI media type of a layer with this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// What whiteout entries (`.wh.<name>`, `.wh..wh..opq`) turn into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Whiteouts {
    /// The target holds the layers below (a flattened rootfs): a whiteout
    /// removes the path, an opaque marker removes what the directory held
    /// before this layer.
    #[default]
    Apply,
    /// The target is one overlayfs lower directory: whiteouts become
    /// overlay whiteouts (character device 0/0) and opaque markers the
    /// `trusted.overlay.opaque=y` attribute. Needs root.
    Overlay,
}

/// What device-node entries (character and block devices) do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Devices {
    /// Create them (needs CAP_MKNOD in the initial user namespace); a
    /// refusal by the kernel is an error naming the entry.
    Create,
    /// Skip them with a debug log, as rootless engines do.
    Skip,
    /// Fail on the first one.
    Refuse,
}

/// How [`unpack`] applies a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackOptions {
    /// Whiteout handling; [`Whiteouts::Apply`] by default.
    pub whiteouts: Whiteouts,
    /// Set owners from the archive. Default: when running as root.
    pub same_owner: bool,
    /// Device nodes. Default: [`Devices::Create`] for root outside a user
    /// namespace, [`Devices::Skip`] otherwise. FIFOs are always created.
    pub devices: Devices,
    /// Apply `SCHILY.xattr.*` records. Default: true. Attributes the
    /// filesystem or our privileges do not allow are skipped with a
    /// warning; `*.overlay.*` ones are always skipped, as they would change
    /// how overlayfs reads the tree.
    pub xattrs: bool,
    /// Let an entry's parent path go through symlinks, resolved inside the
    /// target as the container would (`lib/x` under `lib -> usr/lib`).
    /// Default: true. When false such an entry is refused.
    pub follow_parent_symlinks: bool,
    /// `syncfs` the target's filesystem when done. Default: false.
    pub sync: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        let root = nix::unistd::geteuid().is_root();
        Self {
            whiteouts: Whiteouts::Apply,
            same_owner: root,
            devices: if root && !tree::in_user_namespace() {
                Devices::Create
            } else {
                Devices::Skip
            },
            xattrs: true,
            follow_parent_symlinks: true,
            sync: false,
        }
    }
}

/// Unpacks the layer file at `path` into `target` (see [`unpack`]).
pub fn unpack_file(path: &Path, target: &Path, options: &UnpackOptions) -> Result<UnpackedLayer> {
    let f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    unpack(f, target, options)
}

/// Opens `path` read-only inside the tree at `root`, resolving it (and
/// every symlink on the way) as if `root` were `/` — never above it. For
/// reading files of an image or build context (`/etc/passwd` of a
/// rootfs, a COPY source) that a hostile tree may have made links.
pub fn open_in_root(root: &Path, path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::ffi::OsStrExt;
    let root_fd = nix::fcntl::open(
        root,
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let rel = path.as_os_str().as_bytes();
    let rel = if rel.is_empty() { &b"."[..] } else { rel };
    let c = tree::cstring(rel)?;
    let fd = crate::sys::openat2(
        std::os::fd::AsFd::as_fd(&root_fd),
        &c,
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
        tree::resolve_flags(true),
    )?;
    Ok(std::fs::File::from(fd))
}

/// The path `path` inside the tree at `root` really names on the host,
/// resolved as [`open_in_root`] resolves it (every symlink inside the
/// root) and read back from the kernel: a path without symlinks, below
/// `root`, that plain path calls can then use for that directory's
/// entries (which they must still not follow).
pub fn real_path_in_root(root: &Path, path: &Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::fd::AsRawFd;
    let f = open_in_root(root, path)?;
    std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
}

/// A reader that applies [`Compression::detect`] and decompresses, for
/// callers that want the tar stream itself.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> Result<(Compression, Box<dyn Read + 'a>)> {
    stream::decompress(reader)
}

#[cfg(test)]
mod tests;
