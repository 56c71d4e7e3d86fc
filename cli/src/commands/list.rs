//! `list`: containers under --root, as a table or JSON.

use anyhow::Result;

use crate::runtime_cli::Ctx;

/// Runs `list`.
pub fn run(ctx: &Ctx, format: &str, quiet: bool) -> Result<()> {
    let all = ctx.runtime.list()?;
    if quiet {
        for c in &all {
            println!("{}", c.id());
        }
        return Ok(());
    }
    match format {
        "json" => {
            let v: Vec<_> = all.iter().map(|c| c.runc_state_json()).collect();
            println!("{}", serde_json::to_string(&v)?);
        }
        "table" => {
            let rows: Vec<[String; 6]> = all
                .iter()
                .map(|c| {
                    let s = c.state();
                    [
                        s.id.clone(),
                        c.pid().to_string(),
                        c.status().to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            let head = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut w = [0usize; 6];
            for r in std::iter::once(&head).chain(rows.iter()) {
                for (i, c) in r.iter().enumerate() {
                    w[i] = w[i].max(c.len());
                }
            }
            for r in std::iter::once(&head).chain(rows.iter()) {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<width$}", width = w[i]))
                    .collect();
                println!("{}", line.join("   ").trim_end());
            }
        }
        other => anyhow::bail!("unknown --format {other:?}: use table or json"),
    }
    Ok(())
}
