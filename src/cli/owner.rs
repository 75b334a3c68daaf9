//! The admin commands run as the user who owns the database, the service's user: a command run
//! as anyone else (root, typically) would leave files the service cannot write.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::bail;

/// Refuses unless the current user owns `database` (or, before it exists, its directory),
/// naming the command to run instead.
pub fn check(database: &Path) -> anyhow::Result<()> {
    let Some((what, owner)) = owner_of(database) else {
        return Ok(());
    };
    let me = rustix::process::geteuid().as_raw();
    if owner == me {
        return Ok(());
    }
    let name = user_name(owner).unwrap_or_else(|| format!("#{owner}"));
    bail!(
        "{what} {} belongs to user {name}; run the command as that user, so that every file it \
         writes stays theirs:\n  runuser -u {name} -- {}",
        database.display(),
        this_command()
    )
}

/// The owner of the database file, or of the directory it will be created in (unless that is
/// a shared directory such as /tmp, with the sticky bit).
fn owner_of(database: &Path) -> Option<(&'static str, u32)> {
    if let Ok(meta) = std::fs::metadata(database) {
        return Some(("the database", meta.uid()));
    }
    let dir = match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let meta = std::fs::metadata(dir).ok()?;
    const STICKY: u32 = 0o1000;
    (meta.mode() & STICKY == 0).then_some(("the directory of the database", meta.uid()))
}

/// The name of user `uid`, from the user database.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id = fields.nth(1)?.parse::<u32>().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

/// This process's command line, quoted for a shell where needed.
fn this_command() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
