//! One server per SQLite database: `serve` holds an exclusive lock on a file beside the
//! database (`<database>.lock`, holding its PID) for as long as it runs. The admin commands do
//! not take it, so they keep working beside the server. (On PostgreSQL several servers share
//! one database by design, and take no lock.)

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// The lock held by a running server; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct ServerLock {
    _file: File,
    pub path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another customer-area serve (PID {pid}) is already running on the database {database} \
         (it holds {lock}); one server per database"
    )]
    Held {
        pid: String,
        database: PathBuf,
        lock: PathBuf,
    },
    /// The lock file cannot be written for the reason the database could not be either.
    #[error("the database {database} cannot be written: {condition}")]
    Unwritable {
        database: PathBuf,
        condition: super::Unwritable,
    },
    /// The database's folder is missing and cannot be made (a file may have its name).
    #[error("cannot create the database's folder {dir}")]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot lock {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The lock file of `database`.
pub fn path_for(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the exclusive lock of `database` and writes this process's PID into it.
pub fn acquire(database: &Path) -> Result<ServerLock, LockError> {
    let path = path_for(database);
    // A full disk or a read-only file system stops the lock file first: say so in the words
    // the database's own check would use.
    let io = |source| match super::health::diagnose(database) {
        Some(condition) => LockError::Unwritable {
            database: database.to_owned(),
            condition,
        },
        None => LockError::Io {
            path: path.clone(),
            source,
        },
    };
    if let Some(dir) = database.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| match io(source) {
            LockError::Io { source, .. } => LockError::Folder {
                dir: dir.to_owned(),
                source,
            },
            unwritable => unwritable,
        })?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
        let mut pid = String::new();
        let _ = file.read_to_string(&mut pid);
        let pid = pid.trim();
        return Err(LockError::Held {
            pid: if pid.is_empty() { "unknown" } else { pid }.to_owned(),
            database: database.to_owned(),
            lock: path,
        });
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(ServerLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_database_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("area.db");
        let held = acquire(&database).unwrap();
        let err = acquire(&database).unwrap_err().to_string();
        assert!(
            err.contains(&format!("PID {}", std::process::id())),
            "{err}"
        );
        drop(held);
        acquire(&database).expect("free again once the holder is gone");
    }
}
