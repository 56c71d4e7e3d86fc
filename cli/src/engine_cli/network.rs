//! `rbox network ls|create|rm|inspect`, with docker's flags and output.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rbox_engine::network::{self, NetworkOptions};

/// Manage networks.
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// List networks.
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Create a bridge network.
    Create(CreateArgs),
    /// Remove one or more networks.
    #[command(alias = "remove")]
    Rm(NamesArgs),
    /// Show networks as JSON.
    Inspect(NamesArgs),
}

/// `network ls` flags.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Only show network ids.
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate ids.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
}

/// `network create` flags.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Driver: only "bridge".
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    /// IPv4 subnet in CIDR form (default: a free /24 from 10.209.0.0/16).
    #[arg(long)]
    subnet: Option<String>,
    /// Driver options; `com.docker.network.bridge.name=NAME` sets the bridge.
    #[arg(short = 'o', long = "opt")]
    opts: Vec<String>,
    /// No outside access.
    #[arg(long)]
    internal: bool,
    /// Metadata key=value.
    #[arg(long)]
    label: Vec<String>,
    /// Network name.
    name: String,
}

/// Names or ids.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Network names (or id prefixes for inspect).
    #[arg(required = true)]
    names: Vec<String>,
}

/// Runs a network command.
pub fn main(data_root: &Path, cmd: NetworkCommand) -> Result<()> {
    match cmd {
        NetworkCommand::Ls(a) => ls(data_root, &a),
        NetworkCommand::Create(a) => create(data_root, a),
        NetworkCommand::Rm(a) => rm(data_root, &a.names),
        NetworkCommand::Inspect(a) => inspect(data_root, &a.names),
    }
}

fn ls(root: &Path, a: &LsArgs) -> Result<()> {
    let nets = network::list_networks(root).context("listing networks")?;
    let id = |s: &str| {
        if a.no_trunc {
            s.to_string()
        } else {
            s.chars().take(12).collect()
        }
    };
    if !a.quiet {
        println!("{:<14}{:<24}{:<10}SCOPE", "NETWORK ID", "NAME", "DRIVER");
    }
    for n in nets {
        if a.quiet {
            println!("{}", id(&n.id));
        } else {
            println!("{:<14}{:<24}{:<10}local", id(&n.id), n.name, n.driver);
        }
    }
    Ok(())
}

pub(crate) fn labels(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

fn create(root: &Path, a: CreateArgs) -> Result<()> {
    if a.driver != "bridge" {
        bail!(
            "network driver {:?} is not supported (only bridge)",
            a.driver
        );
    }
    let mut opts = NetworkOptions::default().internal(a.internal);
    opts.labels = labels(&a.label);
    if let Some(s) = a.subnet {
        opts = opts.subnet(s);
    }
    for o in &a.opts {
        match o.split_once('=') {
            Some(("com.docker.network.bridge.name", b)) => opts = opts.bridge(b),
            _ => bail!("unsupported network option {o:?}"),
        }
    }
    let info = network::create_network(root, &a.name, &opts)
        .with_context(|| format!("creating network {}", a.name))?;
    println!("{}", info.id);
    Ok(())
}

fn rm(root: &Path, names: &[String]) -> Result<()> {
    let mut failed = false;
    for n in names {
        if n == network::DEFAULT_NETWORK {
            eprintln!("rbox: {n} is a pre-defined network and cannot be removed");
            failed = true;
            continue;
        }
        match network::remove_network(root, n) {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("rbox: {}", crate::log::chain(&e));
                failed = true;
            }
        }
    }
    if failed {
        bail!("some networks could not be removed");
    }
    Ok(())
}

fn inspect(root: &Path, names: &[String]) -> Result<()> {
    let mut out = Vec::new();
    for n in names {
        let info = network::inspect_network(root, n)?;
        let eps: Vec<(String, String, String)> = network::endpoints(root, &info.name)?
            .into_iter()
            .map(|e| {
                let prefix = info.subnet.rsplit('/').next().unwrap_or("32").to_string();
                let ip = e
                    .ips
                    .first()
                    .map(|ip| format!("{ip}/{prefix}"))
                    .unwrap_or_default();
                (e.container_id, e.name, ip)
            })
            .collect();
        out.push(info.docker_json(&eps));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
