//! rbox-engine: the Docker-like host engine. `rbox run IMAGE` without a
//! daemon: image config and flags become an OCI bundle on a snapshot, the
//! runtime runs it, and the engine keeps container records, networks and
//! volumes under the data root (default `/var/lib/rbox`).

pub mod network;
pub mod volume;
