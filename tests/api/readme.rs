//! The README's curl walkthrough, run exactly as written against the built binary (only the
//! `cargo run --release --` prefix and the port are swapped for the test's own).

use std::process::Command;

use crate::common::binary::{self, Binary};

fn walkthrough() -> String {
    let readme = include_str!("../../README.md");
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("start marker");
    let end = readme.find("<!-- walkthrough:end -->").expect("end marker");
    readme[start..end]
        .lines()
        .filter(|l| !l.starts_with("```") && !l.starts_with("<!--"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let cheap_hashing = ("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000");
    let binary::Serving {
        child: mut server,
        port,
        ..
    } = Binary::new()
        .in_dir(dir.path())
        .env(cheap_hashing.0, cheap_hashing.1)
        .quiet()
        .serve();
    let script = walkthrough()
        .replace("cargo run --release --", binary::PATH)
        .replace("http://localhost:8080", &format!("http://127.0.0.1:{port}"));
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env(cheap_hashing.0, cheap_hashing.1)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        r#"{"result":"activated"}"#,
        r#""email":"ada@example.com""#,
        r#""country":"GB""#,
        r#"{"result":"logged_out"}"#,
        r#"{"result":"deleted"}"#,
        r#""error":"unauthenticated""#,
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected} in:\n{stdout}"
        );
    }
}
