//! The [`Client`]: settings, credentials, and one [`Endpoint`] per
//! registry host, made on first use and kept for the client's life so
//! connections, the chosen scheme and bearer tokens are reused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rbox_image::Reference;
use reqwest::{Method, StatusCode};

use crate::config::ClientConfig;
use crate::credential::{CredentialSource, StaticCredentials};
use crate::error::{Error, Result};
use crate::transport::{Endpoint, Request};

/// Docker Hub's name in references and its API host.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// An OCI distribution client. Cheap to share across threads (`&Client`
/// is `Sync`); clone-free by design: hold one per process.
pub struct Client {
    pub(crate) config: ClientConfig,
    credentials: Arc<dyn CredentialSource>,
    endpoints: Mutex<HashMap<String, Arc<Endpoint>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with `config`, asking `credentials` when a registry wants
    /// them.
    pub fn new(config: ClientConfig, credentials: Arc<dyn CredentialSource>) -> Self {
        Self {
            config,
            credentials,
            endpoints: Mutex::new(HashMap::new()),
        }
    }

    /// A client with default settings and anonymous access only.
    pub fn anonymous() -> Self {
        Self::new(ClientConfig::default(), Arc::new(StaticCredentials::new()))
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Checks that `registry` (a reference domain such as `docker.io` or
    /// `localhost:5000`) answers the distribution API, learning its scheme
    /// and authentication challenge.
    pub fn ping(&self, registry: &str) -> Result<()> {
        self.endpoint(registry)?.base().map(|_| ())
    }

    /// Checks that `registry` accepts its credentials, as `docker login`
    /// does: `GET /v2/` with them (for a bearer registry, after fetching
    /// a token without a repository scope). A refusal is
    /// [`Error::Unauthorized`]; a registry without authentication passes.
    pub fn authenticate(&self, registry: &str) -> Result<()> {
        let ep = self.endpoint(registry)?;
        let resp = ep.send(&Request::new(Method::GET, "/v2/", &[]))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        Err(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Error::Unauthorized {
                registry: registry.to_owned(),
                detail: format!("/v2/ answered {status}"),
            },
            _ => Error::Status {
                method: "GET".to_owned(),
                url: format!("{}/v2/", ep.api_host),
                status: status.as_u16(),
                detail: String::new(),
            },
        })
    }

    /// The endpoint of `reference`'s registry.
    pub(crate) fn endpoint_for(&self, reference: &Reference) -> Result<Arc<Endpoint>> {
        self.endpoint(reference.domain())
    }

    pub(crate) fn endpoint(&self, registry: &str) -> Result<Arc<Endpoint>> {
        let mut map = self.endpoints.lock().map_err(|_| Error::Config {
            message: "endpoint table poisoned by a panicked thread".to_owned(),
        })?;
        if let Some(e) = map.get(registry) {
            return Ok(e.clone());
        }
        let api_host = if registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            registry
        };
        let e = Arc::new(Endpoint::new(
            registry,
            api_host,
            &self.config,
            self.credentials.clone(),
        )?);
        map.insert(registry.to_owned(), e.clone());
        Ok(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_is_spoken_to_at_its_api_host() {
        let c = Client::anonymous();
        assert_eq!(c.endpoint("docker.io").unwrap().api_host, DOCKER_HUB_API);
        assert_eq!(
            c.endpoint("docker.io").unwrap().registry,
            "docker.io",
            "credentials and messages keep the reference's name"
        );
        assert_eq!(c.endpoint("quay.io").unwrap().api_host, "quay.io");
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(r.path(), "library/busybox");
        assert_eq!(c.endpoint_for(&r).unwrap().api_host, DOCKER_HUB_API);
    }
}
