//! `rbox build`: argument parsing and the progress display over
//! rbox-builder.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rbox_builder::build::{BuildRequest, Event, Puller, build};
use rbox_builder::{BuildArgs, BuildOptions, Platform as BuildPlatform};
use rbox_image::archive::{self, SaveFormat, SaveItem};
use rbox_image::manifest::Platform;
use rbox_image::{Reference, Store};

use crate::Global;

/// `rbox build`.
#[derive(clap::Args, Debug)]
pub struct BuildArgsCli {
    /// Build context directory, or `-` for a tar archive on stdin.
    pub context: String,
    /// Name the image (repeatable).
    #[arg(short, long = "tag")]
    pub tag: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile; `-` reads stdin).
    #[arg(short, long)]
    pub file: Option<String>,
    /// Build this stage.
    #[arg(long)]
    pub target: Option<String>,
    /// `K=V`, or `K` to take the value from the environment (repeatable).
    #[arg(long = "build-arg")]
    pub build_arg: Vec<String>,
    /// Do not use the step cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Pull base images even if present.
    #[arg(long)]
    pub pull: bool,
    /// Add a label `K=V` (repeatable).
    #[arg(long)]
    pub label: Vec<String>,
    /// Write the image id to this file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Print only the image id.
    #[arg(short, long)]
    pub quiet: bool,
    /// Target platform (default: this host's). Foreign RUN steps are not
    /// executed (no emulation).
    #[arg(long)]
    pub platform: Option<String>,
    /// Creation time and file-time clamp (seconds since the epoch), for
    /// reproducible images; default `$SOURCE_DATE_EPOCH`.
    #[arg(long)]
    pub timestamp: Option<u64>,
    /// `type=oci|docker,dest=FILE` or `type=local,dest=DIR` (repeatable).
    #[arg(short, long)]
    pub output: Vec<String>,
    /// `plain` (default), `quiet` or `json`.
    #[arg(long, default_value = "plain")]
    pub progress: String,
    /// Absolute cgroup parent of the build containers.
    #[arg(long, default_value = "/rbox/build")]
    pub cgroup_parent: String,
    /// Push every `-t` name after the build.
    #[arg(long)]
    pub push: bool,
    #[command(flatten)]
    pub registry: crate::image_cli::registry::RegistryOpts,
}

/// Runs `rbox build`.
pub fn main(global: &Global, args: BuildArgsCli) -> ExitCode {
    match run(global, args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut parts: Vec<String> = Vec::new();
            for c in e.chain() {
                let s = c.to_string();
                if !parts.last().is_some_and(|p| p.ends_with(&s)) {
                    parts.push(s);
                }
            }
            eprintln!("rbox: {}", parts.join(": "));
            ExitCode::from(1)
        }
    }
}

enum Output {
    Archive(SaveFormat, PathBuf),
    Local(PathBuf),
}

fn parse_output(s: &str) -> Result<Output> {
    let mut kv: BTreeMap<&str, &str> = BTreeMap::new();
    for part in s.split(',') {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("--output {s:?}: {part:?} is not key=value"))?;
        kv.insert(k, v);
    }
    let dest = kv
        .get("dest")
        .map(PathBuf::from)
        .with_context(|| format!("--output {s:?} needs dest="))?;
    match kv.get("type").copied() {
        Some("oci") => Ok(Output::Archive(SaveFormat::Oci, dest)),
        Some("docker") => Ok(Output::Archive(SaveFormat::Docker, dest)),
        Some("local") => Ok(Output::Local(dest)),
        Some(t) => bail!("--output type {t:?} is not supported: use oci, docker or local"),
        None => bail!("--output {s:?} needs type="),
    }
}

fn run(global: &Global, a: BuildArgsCli) -> Result<()> {
    let store = Store::open(&global.data_root).with_context(|| {
        format!(
            "cannot open the image store at {}",
            global.data_root.display()
        )
    })?;
    let outputs = a
        .output
        .iter()
        .map(|o| parse_output(o))
        .collect::<Result<Vec<_>>>()?;
    let tags = a
        .tag
        .iter()
        .map(|t| Reference::parse(t).with_context(|| format!("invalid tag {t:?}")))
        .collect::<Result<Vec<_>>>()?;
    let target_platform = match &a.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let host = Platform::host();
    let stdin_used = a.context == "-";
    let mut scratch: Option<PathBuf> = None;
    let context = if stdin_used {
        // A tar context: unpacked (safely) into scratch space.
        let dir = store
            .root()
            .join("tmp")
            .join(format!("context-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        scratch = Some(dir.clone());
        let mut options = rbox_image::layer::UnpackOptions::default();
        options.same_owner = false;
        rbox_image::layer::unpack(io::stdin(), &dir, &options)
            .context("cannot read the build context tar from stdin")?;
        dir
    } else {
        let p = PathBuf::from(&a.context);
        if !p.is_dir() {
            bail!("build context {} is not a directory", p.display());
        }
        p
    };
    let result = (|| {
        let dockerfile = match a.file.as_deref() {
            Some("-") => {
                if stdin_used {
                    bail!("-f - and a context on stdin cannot both read stdin");
                }
                let mut v = Vec::new();
                io::stdin().read_to_end(&mut v)?;
                v
            }
            Some(f) => {
                // -f is relative to the current directory, as docker.
                std::fs::read(f).with_context(|| format!("cannot read Dockerfile {f}"))?
            }
            None => {
                let p = context.join("Dockerfile");
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?
            }
        };
        let env: BTreeMap<String, String> = std::env::vars().collect();
        let build_args = BuildArgs::parse(&a.build_arg, &env)?;
        let variant = |p: &Platform| p.variant.clone().unwrap_or_default();
        let mut options = BuildOptions::new(
            BuildPlatform::new(&host.os, &host.architecture, &variant(&host)),
            BuildPlatform::new(
                &target_platform.os,
                &target_platform.architecture,
                &variant(&target_platform),
            ),
        )
        .with_build_args(build_args);
        if let Some(t) = &a.target {
            options = options.with_target(t.clone());
        }
        let mut req = BuildRequest::new(dockerfile, &context);
        req.options = options;
        req.tags = tags.clone();
        req.no_cache = a.no_cache;
        req.pull_always = a.pull;
        req.cgroup_parent = a.cgroup_parent.clone();
        req.state_root = global.state_root.join("build");
        req.epoch = a.timestamp.or_else(|| {
            std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|v| v.trim().parse().ok())
        });
        for l in &a.label {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            req.labels.insert(k.to_string(), v.to_string());
        }
        req.puller = Some(puller(global, &a.registry));
        let quiet = a.quiet || a.progress == "quiet";
        let json = a.progress == "json";
        // Not held: pushes report progress from other threads.
        let mut err = io::stderr();
        let started = Instant::now();
        let mut printer = |e: Event| {
            if quiet {
                return;
            }
            if json {
                let v = match &e {
                    Event::Step {
                        n,
                        total,
                        stage,
                        text,
                    } => {
                        serde_json::json!({"step": n, "total": total, "stage": stage, "instruction": text})
                    }
                    Event::Cached { n } => serde_json::json!({"step": n, "cached": true}),
                    Event::Output { n, line } => serde_json::json!({"step": n, "output": line}),
                    Event::Done { n, secs } => {
                        serde_json::json!({"step": n, "done": true, "seconds": secs})
                    }
                    Event::Warning(w) => serde_json::json!({"warning": w}),
                    _ => return,
                };
                let _ = writeln!(err, "{v}");
                return;
            }
            let _ = match &e {
                Event::Step {
                    n,
                    total,
                    stage,
                    text,
                } => writeln!(err, "#{n} [{stage} {n}/{total}] {text}"),
                Event::Cached { n } => writeln!(err, "#{n} CACHED"),
                Event::Output { n, line } => {
                    writeln!(err, "#{n} {:.3} {line}", started.elapsed().as_secs_f64())
                }
                Event::Done { n, secs } => writeln!(err, "#{n} DONE {secs:.1}s"),
                Event::Warning(w) => writeln!(err, "WARNING: {w}"),
                _ => Ok(()),
            };
        };
        let built = build(&store, &req, &mut printer)?;
        if !quiet {
            eprintln!("writing image {} done", built.id);
            for t in &tags {
                eprintln!("naming to {t} done");
            }
        }
        if let Some(f) = &a.iidfile {
            std::fs::write(f, built.id.as_str())
                .with_context(|| format!("cannot write {}", f.display()))?;
        }
        for o in &outputs {
            let image = store.image_for(&built.manifest, &target_platform)?;
            match o {
                Output::Archive(format, dest) => {
                    let file = File::create(dest)
                        .with_context(|| format!("cannot create {}", dest.display()))?;
                    let mut w = BufWriter::new(file);
                    archive::save(
                        &store,
                        &[SaveItem {
                            image,
                            names: tags.clone(),
                        }],
                        *format,
                        &mut w,
                    )?;
                    w.flush()?;
                }
                Output::Local(dir) => {
                    std::fs::create_dir_all(dir)?;
                    store.flatten_into(&image, dir)?;
                }
            }
        }
        if a.push {
            if tags.is_empty() {
                bail!("--push needs at least one -t name to push to");
            }
            for t in &tags {
                crate::image_cli::registry::push(
                    global,
                    &store,
                    crate::image_cli::registry::PushArgs {
                        name: t.to_string(),
                        output: crate::image_cli::registry::OutputOpts {
                            quiet,
                            format: None,
                        },
                        registry: a.registry.clone(),
                    },
                )?;
            }
        }
        if a.quiet {
            println!("{}", built.id);
        }
        Ok(())
    })();
    if let Some(d) = scratch {
        let _ = std::fs::remove_dir_all(d);
    }
    result
}

/// Pulls a missing base image through the registry client, with the
/// same auth file, TLS and insecure-registry settings as `rbox pull`.
fn puller(global: &Global, opts: &crate::image_cli::registry::RegistryOpts) -> Puller {
    let global = global.clone();
    let opts = opts.clone();
    Puller(std::sync::Arc::new(
        move |reference: &str, platform: &Platform| {
            pull(&global, &opts, reference, platform).map_err(|e| format!("{e:#}"))
        },
    ))
}

fn pull(
    global: &Global,
    opts: &crate::image_cli::registry::RegistryOpts,
    reference: &str,
    platform: &Platform,
) -> Result<()> {
    let store = Store::open(&global.data_root)?;
    let name = Reference::parse(reference)?;
    let client = crate::image_cli::registry::client(global, opts)?;
    eprintln!("pulling {}", name.familiar());
    client.pull(&name, platform, &store, &rbox_registry::NoProgress)?;
    Ok(())
}
