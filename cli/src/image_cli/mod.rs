//! Image commands: `images`, `image inspect`, `tag`, `rmi`, `image
//! prune`, `save`, `load` — argument parsing and presentation over
//! rbox-image — and the registry commands (`pull`, `push`, `login`,
//! `logout`) in [`registry`].

pub(crate) mod format;
mod progress;
pub mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use rbox_image::archive::{self, SaveFormat, SaveItem};
use rbox_image::manifest::Platform;
use rbox_image::store::{GcOptions, Image};
use rbox_image::{Reference, Store};
use serde_json::json;

use crate::Global;
use format::{human_size, print_table, since};

/// `rbox image …`.
#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// List images.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Show images' details as JSON.
    Inspect(InspectArgs),
    /// Give an image another name.
    Tag(TagArgs),
    /// Remove images.
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove unused images and their layers.
    Prune(PruneArgs),
    /// Write images to a tar archive.
    Save(SaveArgs),
    /// Read images from a tar archive.
    Load(LoadArgs),
    /// Download an image from a registry.
    Pull(registry::PullArgs),
    /// Upload an image to a registry.
    Push(registry::PushArgs),
}

/// `rbox images`.
#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Only this repository (and tag).
    pub reference: Option<String>,
    /// Show only ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Show manifest digests.
    #[arg(long)]
    pub digests: bool,
    /// Full ids.
    #[arg(long)]
    pub no_trunc: bool,
    /// `table` (default) or `json` (one object per line, as docker).
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Platform to show (default: this host's).
    #[arg(long)]
    pub platform: Option<String>,
}

/// `rbox image inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Images (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Platform for multi-platform images.
    #[arg(long)]
    pub platform: Option<String>,
}

/// `rbox tag`.
#[derive(clap::Args, Debug)]
pub struct TagArgs {
    /// The image (name or id).
    pub source: String,
    /// The new name.
    pub target: String,
}

/// `rbox rmi`.
#[derive(clap::Args, Debug)]
pub struct RmArgs {
    /// Images (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove an id even if several names point at it.
    #[arg(short, long)]
    pub force: bool,
}

/// `rbox image prune`.
#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    /// Also remove every image no container uses.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask (rbox never asks; accepted for docker compatibility).
    #[arg(short, long)]
    pub force: bool,
}

/// `rbox save`.
#[derive(clap::Args, Debug)]
pub struct SaveArgs {
    /// Images (names or ids).
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Output file (default: stdout, which must not be a terminal).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// `docker` (docker-archive with an OCI layout inside) or `oci`.
    #[arg(long, default_value = "docker")]
    pub format: String,
    /// Platform for multi-platform images.
    #[arg(long)]
    pub platform: Option<String>,
}

/// `rbox load`.
#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Input file (default: stdin). gzip and zstd are detected.
    #[arg(short, long)]
    pub input: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Runs an image command; errors are printed with their causes.
pub fn main(global: &Global, cmd: ImageCommand) -> ExitCode {
    match run(global, cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rbox: {}", chain(&e));
            ExitCode::from(1)
        }
    }
}

fn chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in e.chain() {
        let s = c.to_string();
        if !parts.last().is_some_and(|p| p.ends_with(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
}

fn open_store(global: &Global) -> Result<Store> {
    Store::open(&global.data_root).with_context(|| {
        format!(
            "cannot open the image store at {}",
            global.data_root.display()
        )
    })
}

fn platform(p: &Option<String>) -> Result<Platform> {
    match p {
        Some(p) => Ok(Platform::parse(p)?),
        None => Ok(Platform::host()),
    }
}

fn run(global: &Global, cmd: ImageCommand) -> Result<()> {
    let store = open_store(global)?;
    match cmd {
        ImageCommand::Ls(a) => ls(&store, a),
        ImageCommand::Inspect(a) => inspect(&store, a),
        ImageCommand::Tag(a) => {
            let image = store.resolve(&a.source, &Platform::host())?;
            let name = Reference::parse(&a.target)
                .with_context(|| format!("invalid target name {:?}", a.target))?;
            if name.digest().is_some() {
                bail!("cannot tag with a digest ({}): give a name[:tag]", a.target);
            }
            store.tag(&name, &image.target)?;
            Ok(())
        }
        ImageCommand::Rm(a) => rm(&store, a),
        ImageCommand::Prune(a) => prune(&store, a.all),
        ImageCommand::Save(a) => save(&store, a),
        ImageCommand::Load(a) => load(&store, a),
        ImageCommand::Pull(a) => registry::pull(global, &store, a),
        ImageCommand::Push(a) => registry::push(global, &store, a),
    }
}

fn names_by_target(store: &Store) -> Result<BTreeMap<rbox_image::Digest, Vec<Reference>>> {
    let mut out: BTreeMap<_, Vec<Reference>> = BTreeMap::new();
    for (name, record) in store.records()?.iter() {
        out.entry(record.digest.clone())
            .or_default()
            .push(name.clone());
    }
    Ok(out)
}

fn image_size(image: &Image) -> u64 {
    image.manifest.layers.iter().map(|l| l.size).sum::<u64>() + image.manifest.config.size
}

fn ls(store: &Store, a: LsArgs) -> Result<()> {
    let platform = platform(&a.platform)?;
    let filter = a
        .reference
        .as_deref()
        .map(|r| Reference::parse(r).with_context(|| format!("invalid reference {r:?}")))
        .transpose()?;
    let mut rows: Vec<(Reference, Image)> = Vec::new();
    for entry in store.images(&platform)? {
        for name in entry.names {
            if let Some(f) = &filter {
                let same_repo = f.name() == name.name();
                let tag_given = a
                    .reference
                    .as_deref()
                    .is_some_and(|r| r.rsplit_once('/').map_or(r, |(_, last)| last).contains(':'));
                if !same_repo || (tag_given && f.tag() != name.tag()) {
                    continue;
                }
            }
            rows.push((name, entry.image.clone()));
        }
    }
    rows.sort_by_key(|r| r.0.familiar());
    let id = |i: &Image| {
        if a.no_trunc {
            i.id.to_string()
        } else {
            i.short_id().to_string()
        }
    };
    if a.quiet {
        let mut seen = BTreeSet::new();
        for (_, i) in &rows {
            if seen.insert(i.id.clone()) {
                println!("{}", id(i));
            }
        }
        return Ok(());
    }
    match a.format.as_str() {
        "json" | "{{json .}}" => {
            for (name, i) in &rows {
                let v = json!({
                    "Containers": "N/A",
                    "CreatedAt": i.config.created.clone().unwrap_or_default(),
                    "CreatedSince": since(i.config.created.as_deref()),
                    "Digest": i.target.digest.to_string(),
                    "ID": id(i),
                    "Repository": name.familiar_name(),
                    "SharedSize": "N/A",
                    "Size": human_size(image_size(i)),
                    "Tag": name.tag().unwrap_or("<none>"),
                    "UniqueSize": "N/A",
                    "VirtualSize": human_size(image_size(i)),
                });
                println!("{v}");
            }
            Ok(())
        }
        "table" => {
            let mut header = vec!["REPOSITORY".to_string(), "TAG".into()];
            if a.digests {
                header.push("DIGEST".into());
            }
            header.extend(["IMAGE ID".into(), "CREATED".into(), "SIZE".into()]);
            let mut table = vec![header];
            for (name, i) in &rows {
                let mut r = vec![
                    name.familiar_name(),
                    name.tag().unwrap_or("<none>").to_string(),
                ];
                if a.digests {
                    r.push(i.target.digest.to_string());
                }
                r.extend([
                    id(i),
                    since(i.config.created.as_deref()),
                    human_size(image_size(i)),
                ]);
                table.push(r);
            }
            print_table(&table);
            Ok(())
        }
        other => bail!("unknown --format {other:?}: use table or json"),
    }
}

fn inspect(store: &Store, a: InspectArgs) -> Result<()> {
    let platform = platform(&a.platform)?;
    let names = names_by_target(store)?;
    let mut out = Vec::new();
    let mut failed = Vec::new();
    for what in &a.images {
        match store.resolve(what, &platform) {
            Ok(i) => out.push(inspect_json(&i, names.get(&i.target.digest))),
            Err(e) => failed.push(format!("{what}: {e}")),
        }
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

/// docker's `image inspect` shape.
fn inspect_json(i: &Image, names: Option<&Vec<Reference>>) -> serde_json::Value {
    let names = names.cloned().unwrap_or_default();
    let tags: Vec<String> = names
        .iter()
        .filter(|n| n.tag().is_some())
        .map(|n| n.familiar())
        .collect();
    let mut repo_digests: Vec<String> = names
        .iter()
        .map(|n| format!("{}@{}", n.familiar_name(), i.target.digest))
        .collect();
    repo_digests.dedup();
    let c = &i.config;
    json!({
        "Id": i.id.to_string(),
        "RepoTags": tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": c.extra.get("comment").cloned().unwrap_or(json!("")),
        "Created": c.created.clone().unwrap_or_default(),
        "DockerVersion": c.extra.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": c.author.clone().unwrap_or_default(),
        "Config": c.config.clone().unwrap_or_default(),
        "Architecture": c.architecture,
        "Variant": c.variant,
        "Os": c.os,
        "Size": image_size(i),
        "RootFS": {"Type": c.rootfs.kind, "Layers": c.rootfs.diff_ids},
        "Descriptor": {
            "mediaType": i.target.media_type,
            "digest": i.target.digest.to_string(),
            "size": i.target.size,
        },
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    })
}

fn rm(store: &Store, a: RmArgs) -> Result<()> {
    let mut failed = Vec::new();
    for what in &a.images {
        if let Err(e) = rm_one(store, what, a.force) {
            failed.push(format!("{what}: {}", chain(&e)));
        }
    }
    // Blobs only the removed images used go now; unpacked layers nothing
    // holds go too.
    collect(store)?;
    if !failed.is_empty() {
        bail!("{}", failed.join("\n"));
    }
    Ok(())
}

/// Owners (containers, builds) holding the image's top layer.
fn users_of(store: &Store, image: &Image) -> Result<Vec<String>> {
    let Some(top) = image.config.chain_ids().pop() else {
        return Ok(Vec::new());
    };
    Ok(store
        .held_layers()?
        .into_iter()
        .filter(|(_, ids)| ids.contains(&top))
        .map(|(owner, _)| owner)
        .collect())
}

fn rm_one(store: &Store, what: &str, force: bool) -> Result<()> {
    let image = store.resolve(what, &Platform::host())?;
    let users = users_of(store, &image)?;
    let last_name = names_by_target(store)?
        .get(&image.target.digest)
        .is_none_or(|n| n.len() <= 1);
    if !users.is_empty() && !force && last_name {
        bail!(
            "image {} is in use by container {}: remove the container first (rbox rm), or use -f",
            image.short_id(),
            users.join(", ")
        );
    }
    let by_name = Reference::parse(what)
        .ok()
        .filter(|n| store.record(n).ok().flatten().is_some());
    if let Some(name) = by_name {
        // A name: untag it; the image goes when no name is left.
        store.remove_record(&name)?;
        println!("Untagged: {}", name.familiar());
        if !names_by_target(store)?.contains_key(&image.target.digest) {
            println!("Deleted: {}", image.id);
        }
        return Ok(());
    }
    let names: Vec<Reference> = names_by_target(store)?
        .into_iter()
        .filter(|(d, _)| d == &image.target.digest)
        .flat_map(|(_, n)| n)
        .collect();
    if names.len() > 1 && !force {
        bail!(
            "image {} is referenced by {} names ({}): remove them by name or use -f",
            image.short_id(),
            names.len(),
            names
                .iter()
                .map(|n| n.familiar())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for n in &names {
        store.remove_record(n)?;
        println!("Untagged: {}", n.familiar());
    }
    println!("Deleted: {}", image.id);
    Ok(())
}

/// gc of blobs and unpacked layers no image (or holder) needs.
fn collect(store: &Store) -> Result<(u64, usize)> {
    let report = store.gc(&GcOptions::default(), |s| s.reachable())?;
    let mut keep = BTreeSet::new();
    for entry in store.images(&Platform::host())? {
        keep.extend(entry.image.config.chain_ids());
    }
    let layers = store.prune_layers(&keep)?;
    Ok((report.freed, report.removed.len() + layers.len()))
}

fn prune(store: &Store, all: bool) -> Result<()> {
    if all {
        let held: BTreeSet<rbox_image::Digest> = store
            .held_layers()?
            .into_iter()
            .flat_map(|(_, ids)| ids)
            .collect();
        for entry in store.images(&Platform::host())? {
            let used = entry
                .image
                .config
                .chain_ids()
                .last()
                .is_some_and(|top| held.contains(top));
            if used {
                continue;
            }
            for n in entry.names {
                store.remove_record(&n)?;
                println!("untagged: {}", n.familiar());
            }
            println!("deleted: {}", entry.image.id);
        }
    }
    let (freed, count) = collect(store)?;
    println!("Removed {count} unused blobs and layers");
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(())
}

fn save(store: &Store, a: SaveArgs) -> Result<()> {
    let platform = platform(&a.platform)?;
    let format = match a.format.as_str() {
        "docker" | "docker-archive" => SaveFormat::Docker,
        "oci" | "oci-archive" => SaveFormat::Oci,
        other => bail!("unknown --format {other:?}: use docker or oci"),
    };
    let mut items: Vec<SaveItem> = Vec::new();
    for what in &a.images {
        let image = store.resolve(what, &platform)?;
        let name = Reference::parse(what)
            .ok()
            .filter(|n| store.record(n).ok().flatten().is_some() && n.tag().is_some());
        match items.iter_mut().find(|i| i.image.id == image.id) {
            Some(item) => item.names.extend(name),
            None => items.push(SaveItem {
                image,
                names: name.into_iter().collect(),
            }),
        }
    }
    match &a.output {
        Some(path) => {
            // Write next to the target and rename, so a failed save never
            // leaves a truncated archive under the requested name.
            let tmp = path.with_file_name(format!(
                ".{}.rbox-tmp",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            let f =
                File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            let result = archive::save(store, &items, format, BufWriter::new(&f))
                .map_err(anyhow::Error::from)
                .and_then(|()| f.sync_all().context("fsync"))
                .and_then(|()| {
                    std::fs::rename(&tmp, path)
                        .with_context(|| format!("cannot rename into {}", path.display()))
                });
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result
        }
        None => {
            let stdout = io::stdout();
            if stdout.is_terminal() {
                bail!("refusing to write an archive to a terminal: use -o FILE or redirect stdout");
            }
            let mut lock = stdout.lock();
            archive::save(store, &items, format, &mut lock)?;
            lock.flush()?;
            Ok(())
        }
    }
}

fn load(store: &Store, a: LoadArgs) -> Result<()> {
    let loaded = match &a.input {
        Some(p) => {
            let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            archive::load(store, BufReader::with_capacity(1 << 20, f))?
        }
        None => {
            let stdin = io::stdin();
            if stdin.is_terminal() {
                bail!("no archive on stdin: use -i FILE or pipe one in");
            }
            archive::load(store, BufReader::with_capacity(1 << 20, stdin.lock()))?
        }
    };
    if !a.quiet {
        for l in &loaded {
            if l.names.is_empty() {
                let img = store.image_for(&l.target, &Platform::host());
                match img {
                    Ok(i) => println!("Loaded image ID: {}", i.id),
                    Err(_) => println!("Loaded image: {}", l.target.digest),
                }
            }
            for n in &l.names {
                println!("Loaded image: {}", n.familiar());
            }
        }
    }
    Ok(())
}
