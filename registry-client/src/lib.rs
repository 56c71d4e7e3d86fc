#![doc = include_str!("../README.md")]

pub mod auth;
mod blobs;
pub mod challenge;
mod client;
pub mod config;
pub mod credential;
pub mod error;
mod manifests;
pub mod media;
mod parallel;
pub mod progress;
mod pull;
mod push;
mod token;
mod transport;
mod upload;

pub use client::Client;
pub use config::ClientConfig;
pub use credential::{Credential, CredentialSource, StaticCredentials};
pub use error::{Error, Result};
pub use manifests::{FetchedManifest, ManifestInfo};
pub use progress::{
    BlobKind, NoProgress, ProgressEvent, ProgressSink, ProgressState, RecordingProgress,
};
pub use pull::PulledImage;
pub use push::PushedImage;
pub use upload::BlobPush;
