//! chromedriver's process and the few endpoints of its own that the harness uses.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::Value;

/// A POST to one of chromedriver's own endpoints under the session.
#[derive(Debug)]
pub(super) struct SessionCommand {
    pub(super) path: &'static str,
    pub(super) body: Value,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// chromedriver in its own process group, which Chromium's processes join.
pub(super) struct Driver {
    pub(super) child: Child,
    pub(super) port: u16,
    log: PathBuf,
    pub(super) session: Mutex<Option<String>>,
}

impl Driver {
    pub(super) fn start(chromedriver: &Path, dir: &Path) -> Driver {
        let log = dir.join("chromedriver.log");
        let mut child = Command::new(chromedriver)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("the chromedriver log"))
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", chromedriver.display()));
        let mut stdout = BufReader::new(child.stdout.take().expect("chromedriver's stdout"));
        let mut driver = Driver {
            child,
            port: 0,
            log,
            session: Mutex::new(None),
        };
        // It says which port it chose, e.g. "ChromeDriver was started successfully on port 41235."
        let mut line = String::new();
        while driver.port == 0 {
            line.clear();
            if stdout.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("chromedriver exited before listening\n{}", driver.log());
            }
            if let Some((_, port)) = line.trim().trim_end_matches('.').rsplit_once("on port ") {
                driver.port = port.parse().expect("a port number");
            }
        }
        // Keep reading, so that chromedriver never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        driver
    }

    pub(super) fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        format!("chromedriver log:\n{log}")
    }

    /// Asks chromedriver to close the session (Chromium quits and its processes are reaped),
    /// without an async runtime: this also runs while a panicking test unwinds.
    fn close_session(&self, session: &str) -> std::io::Result<()> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "DELETE /session/{session} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        )?;
        // The answer comes once Chromium has quit; chromedriver may keep the connection open.
        let mut status = String::new();
        BufReader::new(stream).read_line(&mut status)?;
        Ok(())
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(session) = self.session.lock().unwrap().take() {
            let _ = self.close_session(&session);
        }
        // Whatever is left of chromedriver and Chromium goes with the process group.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill() only sends a signal; the group is the one chromedriver leads.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

pub(super) fn chromedriver_path() -> Option<PathBuf> {
    binary("CUSTOMER_AREA_CHROMEDRIVER", &["chromedriver"])
}

pub(super) fn chromium_path() -> Option<PathBuf> {
    binary(
        "CUSTOMER_AREA_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    )
}

/// The file named by `variable` if set, else the first of `names` on PATH.
fn binary(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}
