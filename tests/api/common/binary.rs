//! The built `customer-area` binary, run the way an operator runs it: one builder for every
//! test that drives the command line.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// Where cargo built the binary.
pub const PATH: &str = env!("CARGO_BIN_EXE_customer-area");

/// A command line for the built binary; `RUST_LOG` and the suite's `CUSTOMER_AREA_TEST_*` are
/// cleared unless the test sets them.
pub struct Binary {
    command: Command,
    quiet: bool,
}

/// A `serve` started by [`Binary::serve`]: the process, its port and its start-up banner.
pub struct Serving {
    pub child: Child,
    pub port: String,
    pub banner: String,
    /// The rest of the standard output, after the banner.
    pub stdout: BufReader<ChildStdout>,
}

impl Binary {
    pub fn new() -> Binary {
        Binary::running(Command::new(PATH))
    }

    /// Started by a shell that first sets the file creation mask to `umask` (octal, as the
    /// `umask` command takes it): what a careless service manager or login shell hands over.
    pub fn under_umask(umask: &str) -> Binary {
        let mut shell = Command::new("sh");
        shell.args(["-c", &format!("umask {umask} && exec \"$0\" \"$@\""), PATH]);
        Binary::running(shell)
    }

    fn running(mut command: Command) -> Binary {
        command.env_remove("RUST_LOG");
        // The suite's own settings are no config keys: the binary would warn about them.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CUSTOMER_AREA_TEST_") {
                command.env_remove(key);
            }
        }
        Binary {
            command,
            quiet: false,
        }
    }

    /// Runs in `dir` (where the default config puts the database and the outbox).
    pub fn in_dir(mut self, dir: &Path) -> Binary {
        self.command.current_dir(dir);
        self
    }

    /// `--config path`.
    pub fn config(self, path: impl AsRef<OsStr>) -> Binary {
        self.arg("--config").arg(path)
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Binary {
        self.command.arg(arg);
        self
    }

    pub fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Binary {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<OsStr>) -> Binary {
        self.command.env(key, value);
        self
    }

    /// Leaves `key` out of the environment the process inherits.
    pub fn env_remove(mut self, key: &str) -> Binary {
        self.command.env_remove(key);
        self
    }

    pub fn envs<'a>(mut self, vars: impl IntoIterator<Item = &'a (&'a str, &'a str)>) -> Binary {
        self.command.envs(vars.into_iter().copied());
        self
    }

    /// Discards the standard error of a spawned process instead of piping it.
    pub fn quiet(mut self) -> Binary {
        self.quiet = true;
        self
    }

    /// Runs to completion and collects the output.
    pub fn output(mut self) -> std::io::Result<Output> {
        self.command.output()
    }

    /// Runs to completion with `input` on standard input, without blocking the async runtime
    /// (the way a mail server's pipe runs a command).
    pub async fn output_with_input(self, input: Vec<u8>) -> std::io::Result<Output> {
        use tokio::io::AsyncWriteExt;
        let mut command = tokio::process::Command::from(self.command);
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        // A command that stops reading early (a message over its bound) closes the pipe: that
        // is its answer, not the test's failure.
        let writing = tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
        let output = child.wait_with_output().await;
        let _ = writing.await;
        output
    }

    /// Runs to completion without blocking the async runtime.
    pub async fn output_async(self) -> std::io::Result<Output> {
        tokio::process::Command::from(self.command).output().await
    }

    /// Starts the process with standard output and error piped.
    pub fn spawn(mut self) -> Child {
        let stderr = if self.quiet {
            Stdio::null()
        } else {
            Stdio::piped()
        };
        self.command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("the binary starts")
    }

    /// Starts `serve` on a free loopback port and waits for its banner.
    pub fn serve(self) -> Serving {
        let mut child = self
            .arg("serve")
            .env("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")
            .spawn();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        while !banner.contains("mail goes to") {
            let read = stdout.read_line(&mut banner).unwrap();
            assert!(read > 0, "serve ended before its banner:\n{banner}");
        }
        let port = banner
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in the banner:\n{banner}"))
            .to_owned();
        Serving {
            child,
            port,
            banner,
            stdout,
        }
    }
}

/// Sends SIGTERM, as a service manager stopping the server does.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
