//! rbox-registry: the OCI distribution protocol and the credentials it
//! needs.
//!
//! This scaffold holds the credential side only: [`credential`] is the
//! boundary the HTTP client consumes, [`auth`] finds credentials in docker
//! config files, credential helpers and AWS (native ECR).

pub mod auth;
pub mod credential;
mod error;

pub use error::{Error, Result};
