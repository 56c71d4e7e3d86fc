//! rbox-builder: Dockerfile to image without a daemon.
//!
//! - [`exec`]: the step machinery — build containers on overlay snapshots
//!   (RUN), context files written straight into a layer (COPY/ADD), layer
//!   commit from an overlay upper directory, and the step cache.

pub mod exec;
