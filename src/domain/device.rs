//! The name a customer recognises a device by ("Firefox on Windows", "Safari on iPhone"),
//! read from its User-Agent by the `ua-parser` crate with the rules of the uap-core project
//! (`device/uap-core.json`, its `regexes.yaml` as JSON: refresh it from there). The rules are
//! compiled once, on first use (about a tenth of a second in a release build), and only those
//! for browsers, systems and Apple's devices: the rest would cost memory to name nothing more.

use std::sync::LazyLock;

use ua_parser::{Regexes, device, os, user_agent};

/// The name when there is no User-Agent, or nothing in it is recognised.
const UNKNOWN: &str = "Unknown device";

/// The rules, compiled.
struct Parsers {
    browser: user_agent::Extractor<'static>,
    system: os::Extractor<'static>,
    /// Apple's rules only: they tell an iPhone from an iPad, which the system (iOS) does not.
    apple: device::Extractor<'static>,
}

static PARSERS: LazyLock<Parsers> = LazyLock::new(|| {
    let rules: Regexes<'static> = serde_json::from_str(include_str!("device/uap-core.json"))
        .expect("the uap-core rules parse (a test proves it)");
    let apple = rules
        .device_parsers
        .into_iter()
        .filter(|rule| rule.brand_replacement.as_deref() == Some("Apple"));
    Parsers {
        browser: user_agent::Builder::new()
            .push_all(rules.user_agent_parsers)
            .expect("the uap-core browser rules parse")
            .build()
            .expect("the uap-core browser rules compile"),
        system: os::Builder::new()
            .push_all(rules.os_parsers)
            .expect("the uap-core system rules parse")
            .build()
            .expect("the uap-core system rules compile"),
        apple: device::Builder::new()
            .push_all(apple)
            .expect("the uap-core Apple device rules parse")
            .build()
            .expect("the uap-core Apple device rules compile"),
    }
});

/// The device that sent `user_agent`, in English: "Firefox on Windows", "Safari on iPhone",
/// "curl" for a client that names no system, "Unknown device" when nothing is recognised.
pub fn device_name(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else {
        return UNKNOWN.to_owned();
    };
    let parsers = &*PARSERS;
    let browser = parsers
        .browser
        .extract(agent)
        .map(|found| browser_name(&found.family).to_owned())
        .filter(|name| name != "Other");
    let system = parsers
        .system
        .extract(agent)
        .map(|found| found.os.into_owned())
        .filter(|name| name != "Other")
        .map(|name| match name.as_str() {
            "iOS" => parsers
                .apple
                .extract(agent)
                .map(|found| found.device.into_owned())
                .filter(|device| ["iPhone", "iPad", "iPod"].contains(&device.as_str()))
                .unwrap_or(name),
            _ => system_name(&name).to_owned(),
        });
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser,
        (None, Some(system)) => format!("Unknown browser on {system}"),
        (None, None) => UNKNOWN.to_owned(),
    }
}

/// A browser's everyday name: uap-core tells mobile and desktop builds apart ("Chrome
/// Mobile iOS", "Mobile Safari"), which the system named beside it already says.
fn browser_name(family: &str) -> &str {
    match family {
        "Mobile Safari" => "Safari",
        "Mobile Safari UI/WKWebView" | "Chrome Mobile WebView" => "In-app browser",
        "HeadlessChrome" => "Headless Chrome",
        "IE" | "IE Mobile" => "Internet Explorer",
        _ => family
            .strip_suffix(" Mobile iOS")
            .or_else(|| family.strip_suffix(" Mobile"))
            .or_else(|| family.strip_suffix(" iOS"))
            .unwrap_or(family),
    }
}

/// A system's everyday name (uap-core keeps Apple's and Google's older spellings).
fn system_name(system: &str) -> &str {
    match system {
        "Mac OS X" | "Mac OS" => "macOS",
        "Chrome OS" => "ChromeOS",
        _ => system,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// User-Agents current browsers send (their release channels in 2025 and 2026), and what
    /// a customer should read for each.
    const BROWSERS: [(&str, &str); 16] = [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
            "Chrome on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36 Edg/138.0.0.0",
            "Edge on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36 OPR/121.0.0.0",
            "Opera on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15",
            "Safari on macOS",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox on macOS",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
            "Safari on iPhone",
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
            "Safari on iPad",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/138.0.7204.119 Mobile/15E148 Safari/604.1",
            "Chrome on iPhone",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/140.0 Mobile/15E148 Safari/605.1.15",
            "Firefox on iPhone",
        ),
        (
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Mobile Safari/537.36",
            "Chrome on Android",
        ),
        (
            "Mozilla/5.0 (Android 15; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0",
            "Firefox on Android",
        ),
        (
            "Mozilla/5.0 (Linux; Android 15; SAMSUNG SM-S931B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36",
            "Samsung Internet on Android",
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox on Linux",
        ),
        (
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
            "Firefox on Ubuntu",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
            "Chrome on ChromeOS",
        ),
    ];

    #[test]
    fn current_browsers_are_named_by_browser_and_system() {
        for (agent, expected) in BROWSERS {
            assert_eq!(device_name(Some(agent)), expected, "{agent}");
        }
    }

    #[test]
    fn a_client_that_names_no_system_is_named_by_itself() {
        assert_eq!(device_name(Some("curl/8.14.1")), "curl");
        assert_eq!(device_name(Some("Wget/1.25.0")), "Wget");
        assert_eq!(
            device_name(Some("python-requests/2.32.4")),
            "Python Requests"
        );
    }

    #[test]
    fn a_missing_or_unrecognised_agent_is_an_unknown_device() {
        assert_eq!(device_name(None), "Unknown device");
        assert_eq!(device_name(Some("")), "Unknown device");
        assert_eq!(device_name(Some("   ")), "Unknown device");
        assert_eq!(device_name(Some("no browser at all")), "Unknown device");
    }

    #[test]
    fn a_known_system_with_an_unknown_browser_says_so() {
        assert_eq!(
            device_name(Some("Something (Windows NT 10.0; Win64; x64)")),
            "Unknown browser on Windows"
        );
    }
}
