//! `customer-area generate-docs DIR` (hidden): man pages and shell completions generated from
//! the clap definitions, so that they never disagree with `--help`. The package build runs it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write `man/*.1` and `completions/` (created if missing).
    dir: PathBuf,
}

/// Writes a man page per visible command and the bash, zsh and fish completions.
pub fn write(args: &Args) -> anyhow::Result<()> {
    let command = super::Cli::command();
    let man = args.dir.join("man");
    std::fs::create_dir_all(&man).with_context(|| format!("cannot create {}", man.display()))?;
    write_man_pages(&command, &man)?;
    let completions = args.dir.join("completions");
    std::fs::create_dir_all(&completions)
        .with_context(|| format!("cannot create {}", completions.display()))?;
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let mut command = super::Cli::command();
        clap_complete::generate_to(shell, &mut command, "customer-area", &completions)
            .with_context(|| format!("cannot write the {shell} completion"))?;
    }
    Ok(())
}

/// `customer-area.1`, `customer-area-customers.1`, `customer-area-customers-create.1`...
fn write_man_pages(command: &clap::Command, dir: &Path) -> anyhow::Result<()> {
    let mut command = command.clone();
    command.build();
    walk(&command, "customer-area", dir)
}

fn walk(command: &clap::Command, name: &str, dir: &Path) -> anyhow::Result<()> {
    let page = command.clone().name(name.to_owned());
    let path = dir.join(format!("{name}.1"));
    let mut out = Vec::new();
    clap_mangen::Man::new(page).render(&mut out)?;
    std::fs::write(&path, out).with_context(|| format!("cannot write {}", path.display()))?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        walk(sub, &format!("{name}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}
