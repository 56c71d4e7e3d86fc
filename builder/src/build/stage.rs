//! One stage: its steps in order, each looked up in the cache and, on a
//! miss, executed on a fresh overlay snapshot of the layers so far.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rbox_image::manifest::{Descriptor, History};
use rbox_image::store::{Image, Overlay, OverlayOptions};
use rbox_image::{Digest, Store};

use super::config::created;
use super::{BuildError, BuildRequest, Event, StageResult};
use crate::dockerignore::Matcher;
use crate::exec::cache::{Cache, CachedStep, KeyBuilder};
use crate::exec::container::{self, Mount, Network, RunOptions};
use crate::exec::copy::{self, CopyOptions};
use crate::exec::{ExecError, commit, user};
use crate::instructions::{MountType, NetworkMode};
use crate::plan::{CopySource, Op, PlannedStep, RunFile, StagePlan};
use crate::stages::{Base, Source};

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub req: &'a BuildRequest,
    pub work: &'a Path,
    pub ignore: Option<&'a Matcher>,
    pub cache: Cache,
    pub bases: &'a BTreeMap<String, Image>,
    pub done: BTreeMap<usize, StageResult>,
    pub step_no: usize,
    pub total: usize,
    pub progress: &'a mut dyn FnMut(Event),
    #[allow(dead_code)]
    pub started: Instant,
}

/// A mounted read-only view of a stage's or image's filesystem, for
/// `COPY --from` and `RUN --mount=from=`.
struct View {
    _overlay: Overlay,
    root: PathBuf,
}

pub(crate) fn run_stage(ctx: &mut Ctx<'_>, s: &StagePlan) -> Result<StageResult, BuildError> {
    let mut st = match &s.base {
        Base::Scratch => StageResult {
            key: "scratch".into(),
            ..Default::default()
        },
        Base::Image(r) => {
            let img = &ctx.bases[r];
            StageResult {
                layers: img.layers()?,
                history: img.config.history.clone(),
                key: img.id.to_string(),
                base_config: Some(img.config.clone()),
                config: Default::default(),
                last_created: img.config.created.clone(),
            }
        }
        Base::Stage(i) => ctx
            .done
            .get(i)
            .cloned()
            .expect("stages are built in dependency order"),
    };
    st.config = s.config.clone();
    let label = s
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{}", s.index));
    for step in &s.steps {
        ctx.step_no += 1;
        let n = ctx.step_no;
        (ctx.progress)(Event::Step {
            n,
            total: ctx.total,
            stage: label.clone(),
            text: step.original.clone(),
        });
        let t0 = Instant::now();
        let cached = run_step(ctx, &mut st, step, n)?;
        if cached && !matches!(step.op, Op::Config) {
            (ctx.progress)(Event::Cached { n });
        }
        (ctx.progress)(Event::Done {
            n,
            secs: t0.elapsed().as_secs_f64(),
        });
    }
    Ok(st)
}

fn step_err(step: &PlannedStep, source: ExecError) -> BuildError {
    BuildError::Step {
        location: step.location,
        text: step.original.clone(),
        source: Box::new(source),
    }
}

/// Runs one step; true if it came from the cache.
fn run_step(
    ctx: &mut Ctx<'_>,
    st: &mut StageResult,
    step: &PlannedStep,
    n: usize,
) -> Result<bool, BuildError> {
    let mut key = KeyBuilder::new(&st.key);
    key.add(&step.key.bytes());
    let history = |empty: bool, when: Option<String>| History {
        created: when,
        created_by: Some(step.original.clone()),
        empty_layer: empty.then_some(true),
        ..Default::default()
    };
    if matches!(step.op, Op::Config) {
        st.key = key.finish().to_string();
        // A config change takes the time of what it follows, so it never
        // makes a cached build's image differ.
        let when = ctx
            .req
            .epoch
            .map(|_| created(ctx.req))
            .or_else(|| st.last_created.clone());
        st.history.push(history(true, when));
        return Ok(true);
    }
    // COPY's key includes its sources' contents.
    let mut from_view: Option<View> = None;
    if let Op::Copy {
        sources,
        from,
        add,
        checksum,
        ..
    } = &step.op
    {
        if sources
            .iter()
            .any(|s| matches!(s, CopySource::Path(p) if p.contains("://") || p.starts_with("git@")))
        {
            return Err(BuildError::Unsupported {
                location: step.location,
                what: format!(
                    "{} of a URL or git repository",
                    if *add { "ADD" } else { "COPY" }
                ),
            });
        }
        if checksum.is_some() {
            return Err(BuildError::Unsupported {
                location: step.location,
                what: "ADD --checksum (it applies to URLs)".into(),
            });
        }
        if let Some(src) = from {
            from_view = Some(view_of(ctx, src, step, n)?);
        }
        let (context, ignore) = copy_context(ctx, from_view.as_ref());
        let (srcs, inline_dir) = copy_sources(ctx, step, sources, n)?;
        let ctx_dir = inline_dir.as_deref().unwrap_or(context);
        let ign = if inline_dir.is_some() { None } else { ignore };
        let (dest, workdir) = copy_dest(step);
        let plan = copy::plan(
            ctx_dir,
            &srcs,
            dest,
            workdir,
            None,
            &CopyOptions::default(),
            ign,
        )
        .map_err(|e| step_err(step, e))?;
        key.add(plan.content_key.as_str().as_bytes());
    }
    let key = key.finish();
    if !ctx.req.no_cache
        && let Some(hit) = ctx
            .cache
            .get(ctx.store, &key)
            .map_err(|e| step_err(step, e))?
    {
        let when = ctx.req.epoch.map(|_| created(ctx.req)).or(hit.created);
        match (hit.layer, hit.diff_id) {
            (Some(l), Some(d)) => {
                st.layers.push((l, d));
                st.history.push(history(false, when.clone()));
            }
            _ => st.history.push(history(true, when.clone())),
        }
        if when.is_some() {
            st.last_created = when;
        }
        st.key = key.to_string();
        return Ok(true);
    }

    // A miss: mount a snapshot and do the work.
    let dir = ctx.work.join(format!("step-{n}"));
    let (upper, workd, merged) = (dir.join("upper"), dir.join("work"), dir.join("merged"));
    let lowers = ctx.store.layer_dirs_for(&st.layers)?;
    let overlay = ctx.store.mount_overlay(
        &lowers,
        &upper,
        &workd,
        &merged,
        OverlayOptions::throwaway(),
    )?;
    let result = execute(ctx, st, step, n, &merged, &dir, from_view.as_ref());
    drop(from_view);
    overlay.unmount()?;
    result?;
    let committed =
        commit::commit_upper(ctx.store, &upper, ctx.req.epoch).map_err(|e| step_err(step, e))?;
    if !committed.empty {
        // The upper dir is the new layer in lower-dir form: keep it as the
        // unpacked layer so the next step need not unpack the blob.
        let mut diff_ids: Vec<Digest> = st.layers.iter().map(|(_, d)| d.clone()).collect();
        diff_ids.push(committed.diff_id.clone());
        let chain = rbox_image::manifest::chain_ids(&diff_ids);
        if let Some(top) = chain.last() {
            ctx.store.adopt_layer_dir(top, &upper)?;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let now = created(ctx.req);
    st.last_created = Some(now.clone());
    let record = if committed.empty {
        // No change: no layer, as BuildKit.
        st.history.push(history(true, Some(now.clone())));
        CachedStep {
            layer: None,
            diff_id: None,
            created: Some(now),
        }
    } else {
        st.layers
            .push((committed.descriptor.clone(), committed.diff_id.clone()));
        st.history.push(history(false, Some(now.clone())));
        CachedStep {
            layer: Some(committed.descriptor),
            diff_id: Some(committed.diff_id),
            created: Some(now),
        }
    };
    ctx.cache
        .put(&key, &record)
        .map_err(|e| step_err(step, e))?;
    st.key = key.to_string();
    Ok(false)
}

fn copy_dest(step: &PlannedStep) -> (&str, &str) {
    match &step.op {
        // The planner resolved dest against WORKDIR already.
        Op::Copy { dest, .. } => (dest.as_str(), "/"),
        _ => ("/", "/"),
    }
}

fn copy_context<'a>(ctx: &'a Ctx<'_>, view: Option<&'a View>) -> (&'a Path, Option<&'a Matcher>) {
    match view {
        Some(v) => (v.root.as_path(), None),
        None => (ctx.req.context.as_path(), ctx.ignore),
    }
}

/// The sources as paths; heredoc sources are written to a directory of
/// their own first (returned), and then are the only sources.
fn copy_sources(
    ctx: &Ctx<'_>,
    step: &PlannedStep,
    sources: &[CopySource],
    n: usize,
) -> Result<(Vec<String>, Option<PathBuf>), BuildError> {
    let inline: Vec<(&String, &String)> = sources
        .iter()
        .filter_map(|s| match s {
            CopySource::Inline { name, content } => Some((name, content)),
            CopySource::Path(_) => None,
        })
        .collect();
    if inline.is_empty() {
        let paths = sources
            .iter()
            .filter_map(|s| match s {
                CopySource::Path(p) => Some(p.clone()),
                CopySource::Inline { .. } => None,
            })
            .collect();
        return Ok((paths, None));
    }
    if inline.len() != sources.len() {
        return Err(BuildError::Unsupported {
            location: step.location,
            what: "mixing heredoc and path sources in one COPY".into(),
        });
    }
    let dir = ctx.work.join(format!("inline-{n}"));
    std::fs::create_dir_all(&dir).map_err(|e| step_err(step, ExecError::io("create", &dir, e)))?;
    let mut names = Vec::new();
    for (name, content) in inline {
        if name.contains('/') || name == ".." || name == "." {
            return Err(step_err(
                step,
                ExecError::Source {
                    source_path: name.clone(),
                    reason: "a heredoc name cannot be a path".into(),
                },
            ));
        }
        let p = dir.join(name);
        std::fs::write(&p, content).map_err(|e| step_err(step, ExecError::io("write", &p, e)))?;
        let mtime = nix::sys::time::TimeSpec::new(ctx.req.epoch.unwrap_or(0) as i64, 0);
        let _ = nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            &p,
            &mtime,
            &mtime,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        );
        names.push(name.clone());
    }
    Ok((names, Some(dir)))
}

/// Mounts a read-only view of a stage or image for COPY --from.
fn view_of(ctx: &Ctx<'_>, src: &Source, step: &PlannedStep, n: usize) -> Result<View, BuildError> {
    let layers: Vec<(Descriptor, Digest)> = match src {
        Source::Stage(i) => ctx
            .done
            .get(i)
            .map(|r| r.layers.clone())
            .expect("stages are built in dependency order"),
        Source::Image(r) => {
            let platform = super::image_platform(&ctx.req.options);
            let img = ctx.store.resolve(r, &platform).map_err(|e| match e {
                rbox_image::Error::ImageNotFound(_) => BuildError::MissingImage {
                    location: step.location,
                    reference: r.clone(),
                },
                other => BuildError::Image(other),
            })?;
            img.layers()?
        }
    };
    let dir = ctx.work.join(format!("from-{n}"));
    let lowers = ctx.store.layer_dirs_for(&layers)?;
    let root = dir.join("merged");
    let overlay = ctx.store.mount_overlay(
        &lowers,
        &dir.join("upper"),
        &dir.join("work"),
        &root,
        OverlayOptions::throwaway(),
    )?;
    Ok(View {
        _overlay: overlay,
        root,
    })
}

fn execute(
    ctx: &mut Ctx<'_>,
    st: &StageResult,
    step: &PlannedStep,
    n: usize,
    merged: &Path,
    dir: &Path,
    view: Option<&View>,
) -> Result<(), BuildError> {
    match &step.op {
        Op::Run {
            argv,
            env,
            mounts,
            network,
            security,
            files,
            workdir,
            user: user_spec,
        } => {
            if security.as_deref().is_some_and(|s| s != "sandbox") {
                return Err(BuildError::Unsupported {
                    location: step.location,
                    what: "RUN --security=insecure".into(),
                });
            }
            let user = user::resolve(merged, user_spec).map_err(|e| step_err(step, e))?;
            let mut env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if !env.iter().any(|e| e.starts_with("PATH=")) {
                env.insert(0, DEFAULT_PATH.to_string());
            }
            // The plan already folded heredocs into argv; a `#!` heredoc
            // comes as a script file to mount read-only.
            let args = argv.clone();
            let mut run_mounts = Vec::new();
            for m in mounts {
                run_mounts.push(run_mount(ctx, m, step)?);
            }
            for (i, file) in files.iter().enumerate() {
                run_mounts.push(run_file(&dir.join(format!("file-{i}")), file, step)?);
            }
            let opts = RunOptions {
                args,
                env,
                cwd: if workdir.is_empty() {
                    "/".into()
                } else {
                    workdir.clone()
                },
                user,
                network: match network {
                    NetworkMode::Default => Network::Default,
                    NetworkMode::None => Network::None,
                    NetworkMode::Host => Network::Host,
                },
                mounts: run_mounts,
                hostname: "buildkitsandbox".into(),
                cgroup_parent: ctx.req.cgroup_parent.clone(),
                state_root: ctx.req.state_root.clone(),
            };
            let id = format!("rbox-build-{}-{n}", std::process::id());
            let progress = &mut *ctx.progress;
            let out = container::run(merged, &dir.join("bundle"), &id, &opts, &mut |line| {
                progress(Event::Output {
                    n,
                    line: line.to_string(),
                })
            })
            .map_err(|e| step_err(step, e))?;
            if out.code != 0 {
                return Err(BuildError::RunFailed {
                    location: step.location,
                    text: step.original.clone(),
                    code: out.code,
                    tail: out.tail,
                });
            }
            Ok(())
        }
        Op::Copy {
            sources,
            chown,
            chmod,
            exclude,
            parents,
            ..
        } => {
            if *parents {
                return Err(BuildError::Unsupported {
                    location: step.location,
                    what: "COPY --parents".into(),
                });
            }
            let mut options = CopyOptions {
                preserve_owner: view.is_some(),
                ..CopyOptions::default()
            };
            if let Some(c) = chown {
                let u = user::resolve(merged, c).map_err(|e| step_err(step, e))?;
                options.chown = Some((u.uid, u.gid));
            }
            if let Some(m) = chmod {
                options.chmod = Some(u32::from_str_radix(m, 8).map_err(|_| {
                    step_err(
                        step,
                        ExecError::Source {
                            source_path: m.clone(),
                            reason: "--chmod wants an octal mode".into(),
                        },
                    )
                })?);
            }
            let (context, ignore) = copy_context(ctx, view);
            let (srcs, inline_dir) = copy_sources(ctx, step, sources, n)?;
            let ctx_dir = inline_dir.as_deref().unwrap_or(context);
            let combined;
            let ign = if inline_dir.is_some() {
                None
            } else if exclude.is_empty() {
                ignore
            } else {
                let mut patterns: Vec<String> = ignore
                    .map(|m| {
                        m.patterns()
                            .iter()
                            .map(|p| p.as_str().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                patterns.extend(exclude.iter().cloned());
                combined = Matcher::new(&patterns).map_err(BuildError::from)?;
                Some(&combined)
            };
            let (dest, workdir) = copy_dest(step);
            let plan = copy::plan(ctx_dir, &srcs, dest, workdir, Some(merged), &options, ign)
                .map_err(|e| step_err(step, e))?;
            copy::apply(ctx_dir, &plan, merged).map_err(|e| step_err(step, e))?;
            let _ = st;
            Ok(())
        }
        Op::Workdir(path) => {
            // Created as root whatever USER says (docker's classic builder
            // and buildah; the plan does not carry the USER in effect).
            let plan = copy::plan_mkdir(path, merged, (0, 0)).map_err(|e| step_err(step, e))?;
            if !plan.is_empty() {
                copy::apply(Path::new("/"), &plan, merged).map_err(|e| step_err(step, e))?;
            }
            Ok(())
        }
        Op::Config => Ok(()),
    }
}

/// `RUN <<EOF` runs the body as the script; any other heredoc is handed
/// to the shell with its body after the command line, which is what a
/// shell heredoc means.
/// Writes a RUN file (a heredoc script) beside the step and binds it in.
fn run_file(host: &Path, file: &RunFile, step: &PlannedStep) -> Result<Mount, BuildError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(host, &file.content)
        .and_then(|()| std::fs::set_permissions(host, std::fs::Permissions::from_mode(file.mode)))
        .map_err(|e| step_err(step, ExecError::io("write", host, e)))?;
    Ok(Mount::Bind {
        source: host.to_path_buf(),
        target: file.path.clone(),
        readonly: true,
    })
}

fn run_mount(
    ctx: &Ctx<'_>,
    m: &crate::instructions::MountSpec,
    step: &PlannedStep,
) -> Result<Mount, BuildError> {
    let unsupported = |what: &str| BuildError::Unsupported {
        location: step.location,
        what: what.to_string(),
    };
    let target = m
        .target
        .clone()
        .ok_or_else(|| unsupported("RUN --mount without target"))?;
    match m.kind {
        MountType::Tmpfs => Ok(Mount::Tmpfs {
            target,
            size: m.size.unwrap_or(0),
        }),
        MountType::Cache => {
            let id = m.id.clone().unwrap_or_else(|| target.clone());
            let hex: String = Digest::sha256(id.as_bytes()).hex()[..32].to_string();
            let dir = ctx
                .store
                .root()
                .join("build-mounts")
                .join("cache")
                .join(hex);
            std::fs::create_dir_all(&dir)
                .map_err(|e| step_err(step, ExecError::io("create", &dir, e)))?;
            use std::os::unix::fs::PermissionsExt;
            let mode = m.mode.unwrap_or(0o755);
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode));
            let _ = nix::unistd::chown(
                &dir,
                Some(nix::unistd::Uid::from_raw(m.uid.unwrap_or(0))),
                Some(nix::unistd::Gid::from_raw(m.gid.unwrap_or(0))),
            );
            Ok(Mount::Bind {
                source: dir,
                target,
                readonly: false,
            })
        }
        MountType::Bind => {
            if m.from.is_some() {
                return Err(unsupported("RUN --mount=type=bind,from="));
            }
            let rel = m.source.clone().unwrap_or_default();
            // The path the kernel resolves inside the context.
            let real = rbox_image::layer::real_path_in_root(&ctx.req.context, Path::new(&rel))
                .map_err(|e| {
                    step_err(
                        step,
                        ExecError::Source {
                            source_path: rel.clone(),
                            reason: format!("cannot open in the build context: {e}"),
                        },
                    )
                })?;
            Ok(Mount::Bind {
                source: real,
                target,
                // A bind is read-only unless asked (rw changes are thrown
                // away in BuildKit; here they would reach the context).
                readonly: true,
            })
        }
        MountType::Secret => Err(unsupported(
            "RUN --mount=type=secret (no --secret flag yet)",
        )),
        MountType::Ssh => Err(unsupported("RUN --mount=type=ssh")),
    }
}
