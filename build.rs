//! Names the commit the binary is built from, for `--version` and the start-up banner:
//! `CUSTOMER_AREA_COMMIT` when set (a build from a source tarball can pass it), else git's
//! `HEAD`, else "unknown commit".

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=CUSTOMER_AREA_COMMIT");
    let commit = std::env::var("CUSTOMER_AREA_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(git_head)
        .unwrap_or_else(|| "unknown commit".to_owned());
    println!("cargo:rustc-env=BUILT_FROM_COMMIT={}", commit.trim());
}

/// `commit <short hash>` of HEAD, with the files that move when HEAD does marked for a rebuild.
fn git_head() -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git").args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        // A file that does not exist would make cargo run this script on every build.
        let path = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]);
        if let Some(path) = path.filter(|p| std::path::Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    Some(format!("commit {hash}"))
}
