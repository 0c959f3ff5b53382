//! A real browser for UI tests: Debian's headless `chromium`, driven through `chromedriver`
//! over the W3C WebDriver HTTP protocol (<https://www.w3.org/TR/webdriver2/>).
//!
//! Only the handful of commands the tests use, on `reqwest` + `serde_json`: a full WebDriver
//! crate would cost more build time than the whole protocol surface we need. One [`Session`]
//! owns its `chromedriver` process: dropping the session quits the browser, then kills the
//! driver, so a failing test leaves no processes behind.

use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::time::Instant;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Root runs no sandbox; containers have a tiny /dev/shm; a fixed size keeps screenshots
/// comparable from run to run.
const CHROMIUM_ARGS: [&str; 5] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// How long chromedriver may take to report its port, and then to answer `/status` with `ready`.
const STARTUP_DEADLINE: Duration = Duration::from_secs(20);

/// Generous: a navigation command answers only once the page has loaded.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The W3C name of the key holding an element's id in responses.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(thiserror::Error)]
pub enum Error {
    #[error(
        "{0} is missing: run the project's test command, which installs chromium and \
         chromium-driver (deploy/install-test-deps.sh)"
    )]
    NotInstalled(&'static str),
    #[error("chromedriver did not start: {0}")]
    DriverStart(String),
    #[error("{command}: {source}")]
    Http {
        command: String,
        source: reqwest::Error,
    },
    /// An error the driver reported, such as `no such element` or `no such alert`.
    #[error("{command}: {code}: {message}")]
    WebDriver {
        command: String,
        code: String,
        message: String,
    },
    #[error("{command}: unexpected response {response}")]
    Protocol { command: String, response: String },
}

/// Tests return this error and the harness prints it with `Debug`: make that the message
/// (`NotInstalled` must say how to install, not just name a variant).
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Error {
    /// The W3C error code (`no such alert`, `stale element reference`...), if the driver sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::WebDriver { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A `chromedriver` child process on a loopback port, killed when dropped.
#[derive(Debug)]
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start(http: &reqwest::Client) -> Result<ChromeDriver, Error> {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            if !Path::new(binary).exists() {
                return Err(Error::NotInstalled(binary));
            }
        }
        // Port 0: chromedriver binds a port of the OS's choosing and prints it, so no other
        // test of this process can take the port between choosing and binding it.
        let mut child = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::DriverStart(format!("cannot run {CHROMEDRIVER}: {e}")))?;
        let port = reported_port(&mut child);
        // Killed on drop from here on, whatever happens next.
        let mut driver = ChromeDriver {
            child,
            url: String::new(),
        };
        let port = tokio::time::timeout(STARTUP_DEADLINE, port)
            .await
            .map_err(|_| {
                Error::DriverStart(format!("no port reported after {STARTUP_DEADLINE:?}"))
            })?
            .map_err(|_| Error::DriverStart("it exited before reporting its port".into()))?;
        driver.url = format!("http://127.0.0.1:{port}");
        driver.wait_until_ready(http).await?;
        Ok(driver)
    }

    async fn wait_until_ready(&mut self, http: &reqwest::Client) -> Result<(), Error> {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::DriverStart(format!("it exited with {status}")));
            }
            let ready = match http.get(format!("{}/status", self.url)).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .is_ok_and(|status| status["value"]["ready"] == json!(true)),
                Err(_) => false,
            };
            if ready {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::DriverStart(format!(
                    "not ready after {STARTUP_DEADLINE:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The port chromedriver reports once it listens ("... started successfully on port N.").
/// A thread of its own reads its output to the end, so the driver never blocks on a full pipe.
fn reported_port(child: &mut Child) -> oneshot::Receiver<u16> {
    let (sender, port) = oneshot::channel();
    let stdout = child.stdout.take().map(BufReader::new);
    std::thread::spawn(move || {
        let mut sender = Some(sender);
        for line in stdout.into_iter().flat_map(BufRead::lines) {
            let Ok(line) = line else { return };
            let reported = line
                .strip_prefix("ChromeDriver was started successfully on port ")
                .and_then(|rest| rest.trim_end_matches('.').parse::<u16>().ok());
            if let Some(port) = reported
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(port);
            }
        }
    });
    port
}

/// One browser window. Dropping it closes the browser and stops its driver.
#[derive(Debug)]
pub struct Session {
    http: reqwest::Client,
    /// `{driver}/session/{id}`: every command's prefix.
    url: String,
    // Declared last so it is dropped (stopping the driver) after `Drop::drop` has deleted
    // the session; nothing else reads it.
    #[allow(dead_code)]
    driver: ChromeDriver,
}

impl Session {
    /// Starts chromedriver and opens a headless chromium.
    pub async fn start() -> Result<Session, Error> {
        let http = platform::http::client_builder()
            .timeout(COMMAND_TIMEOUT)
            .build()
            .map_err(|source| Error::Http {
                command: "building the client".into(),
                source,
            })?;
        let driver = ChromeDriver::start(&http).await?;
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                // Leave any dialog open, so a test can see that a page opened one.
                "unhandledPromptBehavior": "ignore",
                "goog:loggingPrefs": { "browser": "ALL" },
                "goog:chromeOptions": { "binary": CHROMIUM, "args": CHROMIUM_ARGS },
            }}
        });
        let created = send(
            &http,
            Method::POST,
            &format!("{}/session", driver.url),
            Some(capabilities),
        )
        .await?;
        let Some(id) = created["sessionId"].as_str() else {
            return Err(Error::Protocol {
                command: "POST /session".into(),
                response: created.to_string(),
            });
        };
        let url = format!("{}/session/{id}", driver.url);
        Ok(Session { http, url, driver })
    }

    /// Opens `url` and returns once the page has loaded.
    pub async fn goto(&self, url: &str) -> Result<(), Error> {
        self.command(Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    /// The first element matching the CSS `selector`; `no such element` if there is none.
    pub async fn find(&self, selector: &str) -> Result<Element<'_>, Error> {
        let found = self
            .command(Method::POST, "/element", Some(by_css(selector)))
            .await?;
        self.element(&found)
    }

    /// Every element matching the CSS `selector`, possibly none.
    pub async fn find_all(&self, selector: &str) -> Result<Vec<Element<'_>>, Error> {
        let found = self
            .command(Method::POST, "/elements", Some(by_css(selector)))
            .await?;
        let Some(list) = found.as_array() else {
            return Err(Error::Protocol {
                command: format!("find all {selector:?}"),
                response: found.to_string(),
            });
        };
        list.iter().map(|element| self.element(element)).collect()
    }

    /// The page's text as a reader sees it (rendered, hidden parts left out).
    pub async fn text(&self) -> Result<String, Error> {
        self.find("body").await?.text().await
    }

    /// The text of the open `alert`/`confirm`/`prompt` dialog; `no such alert` if none is open.
    pub async fn alert_text(&self) -> Result<String, Error> {
        let text = self.command(Method::GET, "/alert/text", None).await?;
        string(text, "alert text")
    }

    /// Console messages and failed loads since the last call (a chromedriver extension).
    pub async fn console(&self) -> Result<Vec<LogEntry>, Error> {
        let entries = self
            .command(Method::POST, "/se/log", Some(json!({ "type": "browser" })))
            .await?;
        serde_json::from_value(entries.clone()).map_err(|_| Error::Protocol {
            command: "browser log".into(),
            response: entries.to_string(),
        })
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Result<Vec<u8>, Error> {
        let encoded = self.command(Method::GET, "/screenshot", None).await?;
        let encoded = string(encoded, "screenshot")?;
        decode_base64(&encoded).ok_or_else(|| Error::Protocol {
            command: "screenshot".into(),
            response: "invalid base64".into(),
        })
    }

    fn element(&self, found: &Value) -> Result<Element<'_>, Error> {
        match found[ELEMENT_KEY].as_str() {
            Some(id) => Ok(Element {
                session: self,
                id: id.to_owned(),
            }),
            None => Err(Error::Protocol {
                command: "find element".into(),
                response: found.to_string(),
            }),
        }
    }

    async fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        send(&self.http, method, &format!("{}{path}", self.url), body).await
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Drop can't await and may run on a runtime thread, so delete the session (which quits
        // chromium) from a thread and runtime of its own. Killing only the driver would orphan
        // the browser.
        let url = self.url.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                super::http()
                    .delete(url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// An element of the page, valid until the page it belongs to is replaced.
#[derive(Debug)]
pub struct Element<'s> {
    session: &'s Session,
    id: String,
}

impl Element<'_> {
    pub async fn click(&self) -> Result<(), Error> {
        self.command(Method::POST, "/click", Some(json!({})))
            .await
            .map(drop)
    }

    /// Types `text` into the element, as a user would key by key.
    pub async fn send_keys(&self, text: &str) -> Result<(), Error> {
        self.command(Method::POST, "/value", Some(json!({ "text": text })))
            .await
            .map(drop)
    }

    /// The element's rendered text.
    pub async fn text(&self) -> Result<String, Error> {
        let text = self.command(Method::GET, "/text", None).await?;
        string(text, "element text")
    }

    /// The HTML attribute as written in the markup, if present.
    pub async fn attribute(&self, name: &str) -> Result<Option<String>, Error> {
        let value = self
            .command(Method::GET, &format!("/attribute/{name}"), None)
            .await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// The live DOM property (e.g. an input's current `value`, a link's resolved `href`).
    pub async fn property(&self, name: &str) -> Result<Value, Error> {
        self.command(Method::GET, &format!("/property/{name}"), None)
            .await
    }

    async fn command(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Error> {
        self.session
            .command(method, &format!("/element/{}{path}", self.id), body)
            .await
    }
}

/// One entry of the browser's console log.
#[derive(Debug, serde::Deserialize)]
pub struct LogEntry {
    pub level: String,
    #[allow(dead_code)] // Only Debug reads it, in the failure messages.
    pub message: String,
    #[serde(default)]
    pub source: Option<String>,
}

fn by_css(selector: &str) -> Value {
    json!({ "using": "css selector", "value": selector })
}

/// Sends one command and unwraps the W3C envelope: `{"value": ...}` on success,
/// `{"value": {"error", "message"}}` with a 4xx/5xx status on failure.
async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, Error> {
    let command = match &body {
        Some(body) => format!("{method} {url} {body}"),
        None => format!("{method} {url}"),
    };
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|source| Error::Http {
        command: command.clone(),
        source,
    })?;
    let status = response.status();
    let mut envelope: Value = response.json().await.map_err(|source| Error::Http {
        command: command.clone(),
        source,
    })?;
    let value = envelope["value"].take();
    if status.is_success() {
        return Ok(value);
    }
    match (value["error"].as_str(), value["message"].as_str()) {
        (Some(code), Some(message)) => Err(Error::WebDriver {
            command,
            code: code.to_owned(),
            message: message.to_owned(),
        }),
        _ => Err(Error::Protocol {
            command,
            response: format!("{status} {envelope}"),
        }),
    }
}

fn string(value: Value, what: &str) -> Result<String, Error> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(Error::Protocol {
            command: what.to_owned(),
            response: other.to_string(),
        }),
    }
}

/// Standard base64 with padding, as WebDriver encodes screenshots; a dozen lines instead of a
/// dependency.
fn decode_base64(encoded: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::with_capacity(encoded.len() / 4 * 3);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for symbol in encoded.trim_end_matches('=').bytes() {
        let sextet = match symbol {
            b'A'..=b'Z' => symbol - b'A',
            b'a'..=b'z' => symbol - b'a' + 26,
            b'0'..=b'9' => symbol - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6 | u32::from(sextet)) & 0xFFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
        }
    }
    Some(bytes)
}

/// Commands the reader's tests use: scripts, keys typed at the focused element, Chrome
/// DevTools commands.
impl Session {
    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn execute(&self, script: &str) -> Result<Value, Error> {
        self.command(
            Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Types `keys` at whatever has the focus, as a reader on the keyboard does (unlike
    /// [`Element::send_keys`], which focuses its element first).
    pub async fn keys(&self, keys: &str) -> Result<(), Error> {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|key| {
                [
                    json!({ "type": "keyDown", "value": key.to_string() }),
                    json!({ "type": "keyUp", "value": key.to_string() }),
                ]
            })
            .collect();
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        self.command(Method::POST, "/actions", Some(body))
            .await
            .map(drop)
    }

    /// A Chrome DevTools Protocol command through chromedriver (`goog/cdp/execute`), such as
    /// `Emulation.setEmulatedMedia`.
    pub async fn cdp(&self, command: &str, params: Value) -> Result<Value, Error> {
        self.command(
            Method::POST,
            "/goog/cdp/execute",
            Some(json!({ "cmd": command, "params": params })),
        )
        .await
    }

    /// The page's address now (after redirects).
    pub async fn current_url(&self) -> Result<String, Error> {
        let url = self.command(Method::GET, "/url", None).await?;
        string(url, "current url")
    }
}
