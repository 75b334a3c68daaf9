//! A real headless Chromium driven through Debian's `chromedriver` on a loopback port, for
//! tests that follow the built-in pages as a person would. Every action waits for its element
//! up to a deadline (polling, never a fixed sleep) and panics with what it saw when the page
//! never gets there. The browser also keeps what a page must never do: console errors,
//! requests to another origin, and axe-core violations.
//!
//! Without chromedriver or Chromium, [`Browser::start`] prints a loud `SKIPPED` line and
//! answers `None`; with `CI=true` it panics instead, so CI cannot pass without a browser.
//! `CUSTOMER_AREA_CHROMEDRIVER` and `CUSTOMER_AREA_CHROMIUM` name other binaries.

mod driver;

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use driver::{Driver, SessionCommand, chromedriver_path, chromium_path};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// How long an action waits for its element or text before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);
/// The viewport a browser starts with: a desktop.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A small phone's viewport: the pages must fit it without sideways scrolling.
pub const PHONE: (u32, u32) = (360, 740);

/// A headless Chromium session; chromedriver and every browser process end when it drops,
/// also when the test panics.
pub struct Browser {
    client: Client,
    wait: Duration,
    width: AtomicU32,
    seen: Mutex<Seen>,
    // Dropped after the client: the processes end, then their profile directory goes.
    driver: Driver,
    profile: tempfile::TempDir,
}

/// What the browser's logs reported since the last [`Browser::forget_logs`].
#[derive(Default)]
struct Seen {
    console_errors: Vec<String>,
    requests: BTreeSet<String>,
}

/// How grave an axe-core violation is, in axe's own words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    Minor,
    Moderate,
    Serious,
    Critical,
}

impl Impact {
    fn parse(name: &str) -> Option<Impact> {
        match name {
            "minor" => Some(Impact::Minor),
            "moderate" => Some(Impact::Moderate),
            "serious" => Some(Impact::Serious),
            "critical" => Some(Impact::Critical),
            _ => None,
        }
    }
}

/// One axe-core rule a page breaks, with the elements that break it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub rule: String,
    pub impact: Impact,
    pub help: String,
    /// CSS selectors of the offending elements.
    pub targets: Vec<String>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:?}): {} at {}",
            self.rule,
            self.impact,
            self.help,
            self.targets.join(", ")
        )
    }
}

impl Browser {
    /// Starts chromedriver and a fresh headless Chromium; `None` (said loudly) when they are
    /// not installed, a panic instead under `CI=true`.
    pub async fn start() -> Option<Browser> {
        let (chromedriver, chromium) = match (chromedriver_path(), chromium_path()) {
            (Some(driver), Some(chromium)) => (driver, chromium),
            (driver, _) => {
                let missing = if driver.is_none() {
                    "chromedriver (Debian package chromium-driver)"
                } else {
                    "Chromium (Debian package chromium)"
                };
                if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                    panic!("browser tests need {missing}, which is not installed (CI=true)");
                }
                // Straight to stderr: the test harness would hide eprintln! of a passing test.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n==================== SKIPPED: browser test ====================\n\
                     {missing} is not installed, so {} checked nothing.\n\
                     Install it: apt-get install chromium chromium-driver\n\
                     ===============================================================\n",
                    std::thread::current().name().unwrap_or("this test")
                );
                return None;
            }
        };
        let profile = tempfile::tempdir().expect("a profile directory");
        let driver = Driver::start(&chromedriver, profile.path());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Root in a container: no user namespaces for the sandbox, a small /dev/shm.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().join("chromium").display()),
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                    "--force-device-scale-factor=1",
                    "--lang=en-US",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-sync",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-domain-reliability",
                    "--disable-crash-reporter",
                    "--hide-scrollbars",
                ],
            },
            // Console messages and the network events (every request a page makes).
            "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| panic!("Chromium starts: {e}\n{}", driver.log()));
        *driver.session.lock().unwrap() = client.session_id().await.ok().flatten();
        let browser = Browser {
            client,
            wait: WAIT,
            width: AtomicU32::new(DESKTOP.0),
            seen: Mutex::default(),
            driver,
            profile,
        };
        browser.set_window(DESKTOP.0, DESKTOP.1).await;
        // What the start page did is no page's doing.
        browser.forget_logs().await;
        Some(browser)
    }

    /// Adds a virtual WebAuthn authenticator (WebDriver's extension): CTAP2, built in, holding
    /// discoverable credentials, its user verification always succeeding, as a platform
    /// authenticator with a screen lock would. Answers its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let id = self
            .client
            .issue_cmd(SessionCommand {
                path: "webauthn/authenticator",
                body: json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                }),
            })
            .await
            .unwrap_or_else(|e| panic!("add a virtual authenticator: {e}"));
        id.as_str()
            .unwrap_or_else(|| panic!("the authenticator's id: {id}"))
            .to_owned()
    }

    /// From now on asks pages in `languages` (an Accept-Language value such as `de-DE,de`), as
    /// a browser set to those languages would (`navigator.language` too); the User-Agent stays.
    pub async fn prefer_languages(&self, languages: &str) {
        let agent = self.execute("return navigator.userAgent;", vec![]).await;
        self.cdp(
            "Emulation.setUserAgentOverride",
            json!({ "userAgent": agent, "acceptLanguage": languages }),
        )
        .await;
    }

    /// The WebDriver client, for what this harness does not offer.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The process group of chromedriver and Chromium, which ends when the browser drops.
    pub fn process_group(&self) -> libc::pid_t {
        self.driver.child.id() as libc::pid_t
    }

    /// Changes how long actions wait for their element or text.
    pub fn set_wait(&mut self, wait: Duration) {
        self.wait = wait;
    }

    /// Loads `url` and waits for its load event.
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        self.read_logs().await;
    }

    /// The address of the page shown now.
    pub async fn url(&self) -> String {
        self.client.current_url().await.expect("the URL").into()
    }

    /// Waits until the address of the page shown contains `part` (after a click that
    /// navigates, say), and answers the address.
    pub async fn wait_for_url(&self, part: &str) -> String {
        let deadline = Instant::now() + self.wait;
        loop {
            let url = self.url().await;
            if url.contains(part) {
                return url;
            }
            if Instant::now() > deadline {
                panic!(
                    "the address never contained {part:?} within {:?}; it is {url}",
                    self.wait
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether an element matching `selector` is shown now (no waiting).
    pub async fn is_shown(&self, selector: &str) -> bool {
        match self.client.find(Locator::Css(selector)).await {
            Ok(element) => element.is_displayed().await.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// The attribute `name` of the element matching `selector` (e.g. a link's `href`).
    pub async fn attr(&self, selector: &str, name: &str) -> Option<String> {
        self.wait_for(selector)
            .await
            .attr(name)
            .await
            .unwrap_or_else(|e| panic!("{name} of {selector}: {e}"))
    }

    /// Waits until an element matching `selector` is shown, and answers it.
    pub async fn wait_for(&self, selector: &str) -> Element {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(selector)).await
                && element.is_displayed().await.unwrap_or(false)
            {
                return element;
            }
            if Instant::now() > deadline {
                panic!(
                    "no visible {selector} after {:?} on {}",
                    self.wait,
                    self.url().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until the element matching `selector` shows a text containing `text`.
    pub async fn wait_for_text(&self, selector: &str, text: &str) {
        let deadline = Instant::now() + self.wait;
        let mut last = None;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(selector)).await
                && let Ok(shown) = element.text().await
            {
                if shown.contains(text) {
                    return;
                }
                last = Some(shown);
            }
            if Instant::now() > deadline {
                panic!(
                    "{selector} never showed {text:?} within {:?} on {}; it showed {last:?}",
                    self.wait,
                    self.url().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Replaces the value of the input matching `selector` by typing `text`.
    pub async fn fill(&self, selector: &str, text: &str) {
        let input = self.wait_for(selector).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clear {selector}: {e}"));
        input
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
    }

    /// Clicks the element matching `selector`.
    pub async fn click(&self, selector: &str) {
        self.wait_for(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {selector}: {e}"));
    }

    /// Waits until an element the XPath `path` finds is shown, and answers it.
    async fn wait_for_xpath(&self, path: &str, what: &str) -> Element {
        let deadline = Instant::now() + self.wait;
        loop {
            if let Ok(found) = self.client.find_all(Locator::XPath(path)).await {
                for element in found {
                    if element.is_displayed().await.unwrap_or(false) {
                        return element;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "no visible {what} after {:?} on {}",
                    self.wait,
                    self.url().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the shown button (or link) whose accessible name is `name`: its words, or its
    /// `aria-label`, as a person or a screen reader finds it.
    pub async fn press_button(&self, name: &str) {
        assert!(!name.contains('"'), "{name}");
        let path = format!(
            r#"//*[self::button or self::a][normalize-space(.)="{name}" or @aria-label="{name}"]"#
        );
        self.wait_for_xpath(&path, &format!("button {name:?}"))
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("press {name:?}: {e}"));
    }

    /// Types `text` into the shown field whose label starts with `label` (a label may go on
    /// with a hint), replacing what it held.
    pub async fn fill_labelled(&self, label: &str, text: &str) {
        assert!(!label.contains('"'), "{label}");
        let path = format!(r#"//label[starts-with(normalize-space(.), "{label}")]"#);
        let what = format!("label {label:?}");
        let id = self
            .wait_for_xpath(&path, &what)
            .await
            .attr("for")
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .unwrap_or_else(|| panic!("{what} names no field"));
        self.fill(&format!("#{id}"), text).await;
    }

    /// Chooses the option with `value` in the `<select>` matching `selector`.
    pub async fn select(&self, selector: &str, value: &str) {
        self.wait_for(selector)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value:?} in {selector}: {e}"));
    }

    /// The visible text of the element matching `selector`.
    pub async fn text(&self, selector: &str) -> String {
        self.wait_for(selector)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {selector}: {e}"))
    }

    /// The current value of the input matching `selector`.
    pub async fn value(&self, selector: &str) -> String {
        self.wait_for(selector)
            .await
            .prop("value")
            .await
            .unwrap_or_else(|e| panic!("value of {selector}: {e}"))
            .unwrap_or_default()
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Resizes the viewport (not the window around it) to `width` × `height` CSS pixels.
    pub async fn set_window(&self, width: u32, height: u32) {
        let (mut outer_width, mut outer_height) = (width, height);
        for _ in 0..2 {
            self.client
                .set_window_size(outer_width, outer_height)
                .await
                .unwrap_or_else(|e| panic!("resize to {width}x{height}: {e}"));
            let (inner_width, inner_height) = self.viewport().await;
            if (inner_width, inner_height) == (width, height) {
                self.width.store(width, Ordering::Relaxed);
                return;
            }
            // The window's frame takes the difference: add it, once.
            outer_width += width.saturating_sub(inner_width);
            outer_height += height.saturating_sub(inner_height);
        }
        // A window the platform will not make that small: emulate the viewport instead.
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        assert_eq!(
            self.viewport().await,
            (width, height),
            "the viewport's size"
        );
        self.width.store(width, Ordering::Relaxed);
    }

    /// The viewport's width and height in CSS pixels.
    async fn viewport(&self) -> (u32, u32) {
        let size = self
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let side = |i: usize| size[i].as_u64().expect("a size") as u32;
        (side(0), side(1))
    }

    /// Saves the viewport as `<target>/screenshots/<name>-<width>.png` and answers the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let path = dir.join(format!("{name}-{}.png", self.width.load(Ordering::Relaxed)));
        std::fs::write(&path, png).expect("the screenshot is written");
        path
    }

    /// Whether the page is wider than the viewport (a phone would scroll sideways).
    pub async fn has_horizontal_scroll(&self) -> bool {
        let wider = self
            .execute(
                "const root = document.documentElement;\
                 return root.scrollWidth > root.clientWidth;",
                vec![],
            )
            .await;
        wider.as_bool().expect("a boolean")
    }

    /// Every console error and uncaught exception since the start (or the last
    /// [`Browser::forget_logs`]), as Chromium worded them.
    pub async fn console_errors(&self) -> Vec<String> {
        self.read_logs().await;
        self.seen.lock().unwrap().console_errors.clone()
    }

    /// Every URL requested so far (documents, scripts, styles, images, fetches, sockets)
    /// whose origin is not `base_origin` (e.g. `http://127.0.0.1:8080`).
    pub async fn foreign_requests(&self, base_origin: &str) -> Vec<String> {
        self.read_logs().await;
        let base = url::Url::parse(base_origin)
            .unwrap_or_else(|e| panic!("{base_origin} is not a URL: {e}"))
            .origin();
        let seen = self.seen.lock().unwrap();
        seen.requests
            .iter()
            .filter(|requested| match url::Url::parse(requested) {
                // data:, blob:, about: and chrome: URLs go to no server.
                Ok(url) => {
                    matches!(url.scheme(), "http" | "https" | "ws" | "wss") && url.origin() != base
                }
                Err(_) => true,
            })
            .cloned()
            .collect()
    }

    /// Forgets the console errors and requests seen so far.
    pub async fn forget_logs(&self) {
        self.read_logs().await;
        *self.seen.lock().unwrap() = Seen::default();
    }

    /// Runs axe-core on the page shown and answers the violations at least as grave as
    /// `min_impact`.
    pub async fn axe_violations(&self, min_impact: Impact) -> Vec<Violation> {
        let loaded = self
            .execute("return typeof window.axe === 'object';", vec![])
            .await;
        if loaded != Value::Bool(true) {
            let source = std::fs::read_to_string(axe_path())
                .unwrap_or_else(|e| panic!("{}: {e}", axe_path().display()));
            self.execute(&source, vec![]).await;
        }
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { resultTypes: ['violations'] })\
                   .then(r => done(r.violations.map(v => ({\
                     rule: v.id, impact: v.impact, help: v.help,\
                     targets: v.nodes.map(n => n.target.join(' '))\
                   }))))\
                   .catch(e => done({ error: String(e) }));",
                vec![],
            )
            .await
            .unwrap_or_else(|e| panic!("axe-core runs: {e}"));
        let Value::Array(found) = result else {
            panic!("axe-core failed: {result}");
        };
        found
            .iter()
            .map(|v| Violation {
                rule: v["rule"].as_str().unwrap_or_default().to_owned(),
                impact: Impact::parse(v["impact"].as_str().unwrap_or_default())
                    .unwrap_or(Impact::Critical),
                help: v["help"].as_str().unwrap_or_default().to_owned(),
                targets: v["targets"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|s| s.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .filter(|v| v.impact >= min_impact)
            .collect()
    }

    /// Moves chromedriver's console and network logs (which it empties on each read) into
    /// what this browser has seen.
    async fn read_logs(&self) {
        let console = self.log("browser").await;
        let network = self.log("performance").await;
        let mut seen = self.seen.lock().unwrap();
        for entry in console {
            if entry["level"] == "SEVERE" {
                let message = entry["message"].as_str().unwrap_or_default().to_owned();
                seen.console_errors.push(message);
            }
        }
        for entry in network {
            let Some(event) = entry["message"]
                .as_str()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
            else {
                continue;
            };
            let event = &event["message"];
            let url = match event["method"].as_str() {
                Some("Network.requestWillBeSent") => &event["params"]["request"]["url"],
                Some("Network.webSocketCreated") => &event["params"]["url"],
                _ => continue,
            };
            if let Some(url) = url.as_str() {
                seen.requests.insert(url.to_owned());
            }
        }
    }

    /// Entries of chromedriver's log `kind` since the last read.
    async fn log(&self, kind: &str) -> Vec<Value> {
        let entries = self
            .client
            .issue_cmd(SessionCommand {
                path: "se/log",
                body: json!({ "type": kind }),
            })
            .await
            .unwrap_or_else(|e| panic!("read the {kind} log: {e}"));
        match entries {
            Value::Array(entries) => entries,
            other => panic!("the {kind} log is not a list: {other}"),
        }
    }

    /// Sends a Chrome DevTools Protocol command through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.client
            .issue_cmd(SessionCommand {
                path: "goog/cdp/execute",
                body: json!({ "cmd": cmd, "params": params }),
            })
            .await
            .unwrap_or_else(|e| panic!("{cmd}: {e}"))
    }
}

/// Where screenshots go: `screenshots/` in the build's target folder.
pub fn screenshot_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("screenshots")
}

/// The axe-core build vendored for the tests.
fn axe_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/vendor/axe-core/axe.min.js")
}
