//! A real browser for the page tests: Debian's Chromium, headless, driven through
//! chromedriver (fantoccini); axe-core injected for the accessibility check; screenshots in
//! `target/screenshots/`.
//!
//! Needs `chromium`, `chromium-driver` and `target/axe/node_modules/axe-core/axe.min.js`
//! (`.ci/run` installs them); without them [`tools_present`] skips loudly, and fails under
//! `CI=true`. Included with `#[path = "common/browser.rs"] mod browser;`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::{Client, ClientBuilder, Locator};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn axe_path() -> PathBuf {
    repo().join("target/axe/node_modules/axe-core/axe.min.js")
}

/// Skips (loudly) without the browser or axe-core; under CI=true that is a failure.
pub fn tools_present() -> bool {
    let missing: Vec<&str> = [
        ("chromedriver", which("chromedriver")),
        ("chromium", which("chromium")),
        ("axe-core (target/axe)", axe_path().exists()),
    ]
    .into_iter()
    .filter(|(_, ok)| !ok)
    .map(|(n, _)| n)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("missing {}; .ci/run installs them", missing.join(", "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}");
    }
    eprintln!("\n========== SKIPPED: {why} ==========\n");
    false
}

fn which(bin: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Driver {
    child: Child,
    pub client: Client,
    /// The window's width the pages are checked at.
    pub width: u32,
}

impl Driver {
    /// A phone 360 px wide, Dutch.
    pub async fn start() -> Driver {
        Driver::start_at(360).await
    }

    /// A phone 360 px wide (`width` 360), or a desktop window `width` px wide.
    pub async fn start_at(width: u32) -> Driver {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--lang=nl".into(),
        ];
        let mut options = serde_json::json!({"binary": "/usr/bin/chromium"});
        if width <= 480 {
            // A phone (a desktop window cannot be made that narrow).
            options["mobileEmulation"] = serde_json::json!(
                {"deviceMetrics": {"width": width, "height": 800, "pixelRatio": 2}});
        } else {
            args.push(format!("--window-size={width},1000"));
        }
        options["args"] = serde_json::json!(args);
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            let http = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(http)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Driver {
                        child,
                        client,
                        width,
                    }
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start: {last:?}");
    }

    pub async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn screenshot(&self, name: &str) {
        let dir = repo().join("target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// A screenshot of the whole page, not only the window (Chromium's DevTools command).
    pub async fn full_screenshot(&self, name: &str) {
        let height = self
            .client
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight);",
                vec![],
            )
            .await
            .unwrap()
            .as_u64()
            .unwrap_or(1000)
            .min(6000);
        let old = self.client.get_window_size().await.ok();
        if self.width > 480 {
            let _ = self
                .client
                .set_window_size(self.width, height as u32 + 140)
                .await;
        }
        self.screenshot(name).await;
        if let (Some((w, h)), true) = (old, self.width > 480) {
            let _ = self.client.set_window_size(w as u32, h as u32).await;
        }
    }

    /// axe-core on the current page: no serious or critical violation.
    pub async fn axe(&self, what: &str) {
        let axe = std::fs::read_to_string(axe_path()).unwrap();
        self.client.execute(&axe, vec![]).await.unwrap();
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                    .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))))
                    .catch(e => done('axe failed: ' + e));",
                vec![],
            )
            .await
            .unwrap();
        let list = result
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {result}"));
        let bad: Vec<_> = list
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(bad.is_empty(), "{what}: axe-core found {bad:#?}");
        if !list.is_empty() {
            eprintln!("{what}: minor axe findings: {list:?}");
        }
    }

    /// The page fits the window: nothing scrolls sideways.
    pub async fn fits(&self, what: &str) {
        let w = self
            .client
            .execute(
                "return [document.documentElement.scrollWidth, window.innerWidth];",
                vec![],
            )
            .await
            .unwrap();
        let (scroll, inner) = (w[0].as_u64().unwrap(), w[1].as_u64().unwrap());
        assert!(
            inner <= u64::from(self.width) && scroll <= inner,
            "{what}: {scroll} px wide in a {inner} px window"
        );
    }

    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Types `text` into the field `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    /// How many elements match `css`.
    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap()
    }
}
