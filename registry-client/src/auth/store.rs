//! [`CredentialStore`]: the docker-compatible lookup order over one auth
//! file, its helpers and native ECR, plus `login`/`logout`.

use super::docker_config::helper_server_url;
use super::ecr::{EcrAuth, parse_ecr_host};
use super::{AuthError, AuthFile, CredentialHelper, DockerConfig, Env};
use crate::credential::{Credential, CredentialSource};

/// The helper name that means "ask ECR", answered natively.
pub const ECR_LOGIN_HELPER: &str = "ecr-login";

/// Where [`CredentialStore::login`] put the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stored {
    /// In the auth file (base64 in `auths`).
    File(std::path::PathBuf),
    /// In the named credential helper.
    Helper(String),
}

/// Registry credentials from docker config, helpers and ECR.
#[derive(Debug)]
pub struct CredentialStore {
    auth_file: AuthFile,
    env: Env,
    ecr: EcrAuth,
}

impl CredentialStore {
    /// A store over `auth_file`, with helpers and AWS settings from `env`.
    pub fn new(auth_file: AuthFile, env: Env) -> Self {
        Self {
            ecr: EcrAuth::new(env.clone()),
            auth_file,
            env,
        }
    }

    /// A store as docker would use it in this process: the process
    /// environment, and the auth file `explicit` or the default one.
    pub fn from_process(explicit: Option<&std::path::Path>) -> Result<Self, AuthError> {
        let env = Env::from_process();
        Ok(Self::new(AuthFile::resolve(explicit, &env)?, env))
    }

    /// Also caches ECR tokens on disk in `dir` (see
    /// [`EcrAuth::with_cache_dir`]).
    pub fn with_ecr_cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.ecr = self.ecr.with_cache_dir(dir);
        self
    }

    /// The auth file.
    pub fn auth_file(&self) -> &AuthFile {
        &self.auth_file
    }

    /// The credential for `registry`, trying in order: `credHelpers` for it
    /// (`ecr-login` answered natively), an ECR host name, `credsStore`,
    /// `auths`, then the fallback file's `auths`. `None`: anonymous.
    pub fn lookup(&self, registry: &str) -> Result<Option<Credential>, AuthError> {
        let config = self.auth_file.load()?;
        if let Some(helper) = config.cred_helper(registry)? {
            return self.ask_helper(helper, registry);
        }
        if parse_ecr_host(registry).is_some() {
            return self.ecr.credential(registry).map(Some);
        }
        // As docker-credential-ecr-login does, a default ecr-login store
        // knows nothing about registries that are not ECR (and those that
        // are were answered above).
        if let Some(store) = config.creds_store()?
            && store != ECR_LOGIN_HELPER
            && let Some(cred) = self.ask_helper(store, registry)?
        {
            return Ok(Some(cred));
        }
        if let Some(cred) = config.auth(registry)? {
            return Ok(Some(cred));
        }
        match self.auth_file.load_fallback()? {
            Some(fallback) => fallback.auth(registry),
            None => Ok(None),
        }
    }

    fn ask_helper(&self, helper: &str, registry: &str) -> Result<Option<Credential>, AuthError> {
        if helper == ECR_LOGIN_HELPER {
            return self.ecr.credential(registry).map(Some);
        }
        CredentialHelper::find(helper, registry, &self.env)?.get(&helper_server_url(registry))
    }

    /// The helper holding `registry`'s secret, `ecr-login` meaning ECR
    /// manages it: an explicit `credHelpers` entry, an ECR host name, else
    /// `credsStore` (a default `ecr-login` store only covers ECR hosts).
    fn store_helper<'a>(
        &self,
        config: &'a DockerConfig,
        registry: &str,
    ) -> Result<Option<&'a str>, AuthError> {
        if let Some(helper) = config.cred_helper(registry)? {
            return Ok(Some(helper));
        }
        if parse_ecr_host(registry).is_some() {
            return Ok(Some(ECR_LOGIN_HELPER));
        }
        Ok(config.creds_store()?.filter(|s| *s != ECR_LOGIN_HELPER))
    }

    /// Saves a login: into the registry's helper when `credHelpers` or
    /// `credsStore` names one (dropping any plain-text copy from the
    /// file), else base64 into the auth file. A corrupt auth file is an
    /// error and stays untouched.
    pub fn login(
        &self,
        registry: &str,
        username: &str,
        password: &str,
    ) -> Result<Stored, AuthError> {
        let mut config = self.auth_file.load()?;
        match self.store_helper(&config, registry)? {
            Some(ECR_LOGIN_HELPER) => Err(AuthError::EcrManaged {
                registry: registry.to_owned(),
            }),
            Some(helper) => {
                let helper = helper.to_owned();
                CredentialHelper::find(&helper, registry, &self.env)?.store(
                    &helper_server_url(registry),
                    username,
                    password,
                )?;
                if config.remove_auth(registry) {
                    config.save()?;
                }
                Ok(Stored::Helper(helper))
            }
            None => {
                config.set_auth(registry, username, password);
                config.save()?;
                Ok(Stored::File(self.auth_file.path().to_owned()))
            }
        }
    }

    /// Removes a login from the helper and the auth file; true if one
    /// existed.
    pub fn logout(&self, registry: &str) -> Result<bool, AuthError> {
        let mut config = self.auth_file.load()?;
        let mut removed = false;
        match self.store_helper(&config, registry)? {
            Some(ECR_LOGIN_HELPER) => {
                return Err(AuthError::EcrManaged {
                    registry: registry.to_owned(),
                });
            }
            Some(helper) => {
                removed |= CredentialHelper::find(helper, registry, &self.env)?
                    .erase(&helper_server_url(registry))?;
            }
            None => {}
        }
        if config.remove_auth(registry) {
            config.save()?;
            removed = true;
        }
        Ok(removed)
    }
}

impl CredentialSource for CredentialStore {
    fn credential(&self, registry: &str) -> Result<Option<Credential>, crate::Error> {
        Ok(self.lookup(registry)?)
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
