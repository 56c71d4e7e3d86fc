#![doc = include_str!("../README.md")]
//!
//! Library code here never prints; the `rbox-fixture` binary does.

mod cache;
mod elf;
pub mod error;
mod image;
mod rootfs;
mod spec;

pub use cache::{busybox_bundle, cached_busybox_rootfs};
pub use error::{FixtureError, Result};
pub use image::{BUSYBOX_CREATED, busybox_archive, busybox_image, layered_archive, layered_image};
pub use rootfs::{BUSYBOX, NOBODY_UID, RBOX_UID, busybox_rootfs};
pub use spec::{OCI_VERSION, runtime_spec, write_spec};
