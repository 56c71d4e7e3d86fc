//! The build driver: a Dockerfile and a context in, an image in the store
//! out. It plans the build (twice: once to learn the base images, once
//! with their configs), then runs the needed stages in order, each step on
//! its own overlay snapshot of the layers so far, looking every step up in
//! the cache first. A failing step leaves no image and no name behind.

mod config;
mod stage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rbox_image::manifest::{Descriptor, ImageConfig, Platform as ImagePlatform};
use rbox_image::{Digest, Reference, Store};

use crate::dockerignore::Matcher;
use crate::error::Location;
use crate::exec::ExecError;
use crate::plan::{BuildOptions, ConfigState};

/// Everything a build needs besides the store.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The Dockerfile's bytes.
    pub dockerfile: Vec<u8>,
    /// The context directory.
    pub context: PathBuf,
    /// Target, build args, platforms.
    pub options: BuildOptions,
    /// Names to record the image under (`-t`).
    pub tags: Vec<Reference>,
    /// Extra labels (`--label`).
    pub labels: BTreeMap<String, String>,
    /// Ignore the step cache (`--no-cache`).
    pub no_cache: bool,
    /// SOURCE_DATE_EPOCH / `--timestamp`: fixed creation time and clamped
    /// file times, for reproducible images.
    pub epoch: Option<u64>,
    /// Absolute cgroup parent of the build containers.
    pub cgroup_parent: String,
    /// Runtime state directory for build containers.
    pub state_root: PathBuf,
    /// Fetches a base image into the store (a registry pull), asked when
    /// one is missing, or for every base with `pull_always`.
    pub puller: Option<Puller>,
    /// `--pull`: refresh every base image even if present.
    pub pull_always: bool,
}

/// The function behind a [`Puller`].
pub type PullFn = dyn Fn(&str, &ImagePlatform) -> Result<(), String> + Send + Sync;

/// A callback that pulls a reference into the store; `Err` carries the
/// message to show.
#[derive(Clone)]
pub struct Puller(pub std::sync::Arc<PullFn>);

impl std::fmt::Debug for Puller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Puller")
    }
}

impl BuildRequest {
    /// A request with defaults: no tags, cache on, cgroups under
    /// `/rbox/build`, runtime state in `/run/rbox/build`.
    pub fn new(dockerfile: Vec<u8>, context: impl Into<PathBuf>) -> Self {
        Self {
            dockerfile,
            context: context.into(),
            options: BuildOptions::default(),
            tags: Vec::new(),
            labels: BTreeMap::new(),
            no_cache: false,
            epoch: None,
            cgroup_parent: "/rbox/build".into(),
            state_root: PathBuf::from("/run/rbox/build"),
            puller: None,
            pull_always: false,
        }
    }
}

/// Progress of a build, for the caller's display.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A step starts: number (from 1), total, stage label, instruction.
    Step {
        /// Step number.
        n: usize,
        /// Steps in the build.
        total: usize,
        /// `stage-0`, or the stage's name.
        stage: String,
        /// The instruction as written.
        text: String,
    },
    /// The step was found in the cache.
    Cached {
        /// Step number.
        n: usize,
    },
    /// A line of a RUN step's output.
    Output {
        /// Step number.
        n: usize,
        /// The line.
        line: String,
    },
    /// The step finished.
    Done {
        /// Step number.
        n: usize,
        /// Seconds it took.
        secs: f64,
    },
    /// A warning (unused build args, ...).
    Warning(String),
}

/// What a build made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The image manifest.
    pub manifest: Descriptor,
    /// The image id (config digest).
    pub id: Digest,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The Dockerfile is invalid.
    #[error(transparent)]
    Dockerfile(Box<crate::error::Error>),
    /// A step could not be executed.
    #[error("line {}: {text}", .location.line)]
    Step {
        /// Where.
        location: Location,
        /// The instruction.
        text: String,
        /// Why.
        #[source]
        source: Box<ExecError>,
    },
    /// A RUN step exited non-zero.
    #[error("line {}: {text}: the command exited with code {code}{}", .location.line, tail_text(.tail))]
    RunFailed {
        /// Where.
        location: Location,
        /// The instruction.
        text: String,
        /// Its exit code.
        code: i32,
        /// Its last lines of output.
        tail: Vec<String>,
    },
    /// A base or `--from` image is not in the store.
    #[error("line {}: image {reference} is not in the local store: pull it first (rbox pull {reference})", .location.line)]
    MissingImage {
        /// Where.
        location: Location,
        /// The reference.
        reference: String,
    },
    /// A base image could not be pulled.
    #[error("line {}: cannot pull {reference}: {message}", .location.line)]
    Pull {
        /// Where.
        location: Location,
        /// The reference.
        reference: String,
        /// Why.
        message: String,
    },
    /// Something the builder does not do yet.
    #[error("line {}: {what} is not supported yet", .location.line)]
    Unsupported {
        /// Where.
        location: Location,
        /// What.
        what: String,
    },
    /// The store failed outside any step.
    #[error(transparent)]
    Image(#[from] rbox_image::Error),
    /// The build's scratch space failed.
    #[error(transparent)]
    Exec(Box<ExecError>),
}

impl From<crate::error::Error> for BuildError {
    fn from(e: crate::error::Error) -> Self {
        BuildError::Dockerfile(Box::new(e))
    }
}

impl From<ExecError> for BuildError {
    fn from(e: ExecError) -> Self {
        BuildError::Exec(Box::new(e))
    }
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; last output:\n  {}", tail.join("\n  "))
    }
}

/// Runs a build; see the module docs.
pub fn build(
    store: &Store,
    req: &BuildRequest,
    progress: &mut dyn FnMut(Event),
) -> Result<Built, BuildError> {
    let _lease = store.lease()?;
    let dockerfile = crate::parser::parse(&req.dockerfile)?;
    // Pass 1: learn which images the stages start from.
    let first = crate::plan::plan(&dockerfile, &req.options)?;
    let mut options = req.options.clone();
    let target_platform = image_platform(&req.options);
    let mut bases: BTreeMap<String, rbox_image::store::Image> = BTreeMap::new();
    for s in &first.stages {
        if let crate::stages::Base::Image(r) = &s.base {
            let location = s
                .steps
                .first()
                .map(|st| st.location)
                .unwrap_or(Location::new(1, 1));
            if let Some(p) = &req.puller {
                let missing = matches!(
                    store.resolve(r, &target_platform),
                    Err(rbox_image::Error::ImageNotFound(_))
                );
                if (missing || req.pull_always)
                    && !bases.contains_key(r)
                    && let Err(message) = (p.0)(r, &target_platform)
                {
                    return Err(BuildError::Pull {
                        location,
                        reference: r.clone(),
                        message,
                    });
                }
            }
            let img = store.resolve(r, &target_platform).map_err(|e| match e {
                rbox_image::Error::ImageNotFound(_) => BuildError::MissingImage {
                    location,
                    reference: r.clone(),
                },
                other => BuildError::Image(other),
            })?;
            options
                .base_configs
                .insert(r.clone(), config::state_from_image(&img.config));
            bases.insert(r.clone(), img);
        }
    }
    let plan = crate::plan::plan(&dockerfile, &options)?;
    for a in &plan.unused_build_args {
        progress(Event::Warning(format!(
            "build argument {a} was given but no ARG in the Dockerfile uses it"
        )));
    }
    let ignore = read_dockerignore(&req.context)?;
    let work = store
        .root()
        .join("tmp")
        .join(format!("build-{}-{}", std::process::id(), unique()));
    std::fs::create_dir_all(&work).map_err(|e| ExecError::io("create", &work, e))?;
    let total: usize = plan.stages.iter().map(|s| s.steps.len()).sum();
    let mut ctx = stage::Ctx {
        store,
        req,
        work: &work,
        ignore: ignore.as_ref(),
        cache: crate::exec::cache::Cache::open(store.root())?,
        bases: &bases,
        done: BTreeMap::new(),
        step_no: 0,
        total,
        progress,
        started: Instant::now(),
    };
    let result = (|| {
        for s in &plan.stages {
            let result = stage::run_stage(&mut ctx, s)?;
            ctx.done.insert(s.index, result);
        }
        let target = ctx
            .done
            .remove(&plan.target)
            .expect("the target stage was built");
        let image_config = config::final_config(&target, req, &target_platform);
        let manifest = store.write_image(&image_config, &target.layers_descriptors())?;
        for t in &req.tags {
            store.tag(t, &manifest)?;
        }
        Ok(Built {
            id: manifest_config_id(store, &manifest)?,
            manifest,
        })
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn manifest_config_id(store: &Store, manifest: &Descriptor) -> Result<Digest, BuildError> {
    Ok(store
        .image_for(manifest, &ImagePlatform::host())
        .map(|i| i.id)
        .or_else(|_| {
            // A foreign-platform image: read the config digest directly.
            match store.read_manifest(&manifest.digest, Some(&manifest.media_type))? {
                rbox_image::manifest::Parsed::Manifest(m) => Ok(m.config.digest),
                rbox_image::manifest::Parsed::Index(_) => Err(rbox_image::Error::InvalidImage {
                    digest: manifest.digest.clone(),
                    reason: "the build wrote an index".into(),
                }),
            }
        })?)
}

fn image_platform(o: &BuildOptions) -> ImagePlatform {
    let p = &o.target_platform;
    ImagePlatform::new(
        &p.os,
        &p.architecture,
        (!p.variant.is_empty()).then_some(p.variant.as_str()),
    )
}

fn read_dockerignore(context: &Path) -> Result<Option<Matcher>, BuildError> {
    let path = context.join(".dockerignore");
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Matcher::parse(&text)?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ExecError::io("read", &path, e).into()),
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// The layers and history of a built stage.
#[derive(Debug, Clone, Default)]
pub(crate) struct StageResult {
    pub layers: Vec<(Descriptor, Digest)>,
    pub history: Vec<rbox_image::manifest::History>,
    /// Key of the last step (the next stage's parent key).
    pub key: String,
    /// The base image's config (for fields the Dockerfile never sets).
    pub base_config: Option<ImageConfig>,
    /// The config at the end of the stage.
    pub config: ConfigState,
    /// Creation time of the newest step so far (cached steps keep theirs).
    pub last_created: Option<String>,
}

impl StageResult {
    fn layers_descriptors(&self) -> Vec<Descriptor> {
        self.layers.iter().map(|(d, _)| d.clone()).collect()
    }
}
