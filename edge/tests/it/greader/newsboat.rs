//! A real app against the Google Reader API: Debian's newsboat (2.21, installed by
//! `deploy/install-test-deps.sh`), whose `feedhq` source speaks it: ClientLogin with the
//! doubled slash of a server URL ending in `/`, `subscription/list`, each feed's Atom stream
//! (`/reader/atom/feed%2F…`), `token` and `edit-tag`.
//!
//! Headless first (`-x reload print-unread`), then its terminal UI inside tmux, where a key
//! marks an item read and another stars one, as a person would. The reader's web pages must
//! then show exactly that. The test fails, never skips, when newsboat or tmux is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::StatusCode;

use super::support::{App, Feeds, app_password};
use crate::support::{Browser, System, eventually};

const NEWSBOAT: &str = "/usr/bin/newsboat";
const TMUX: &str = "/usr/bin/tmux";

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Terminal {
    socket: PathBuf,
}

impl Terminal {
    fn start(dir: &Path, command: &str) -> Terminal {
        let socket = dir.join("tmux.sock");
        let status = Command::new(TMUX)
            .arg("-S")
            .arg(&socket)
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "app",
                "-x",
                "160",
                "-y",
                "40",
            ])
            .arg(command)
            .status()
            .expect("tmux runs (deploy/install-test-deps.sh installs it)");
        assert!(status.success());
        Terminal { socket }
    }

    fn keys(&self, keys: &[&str]) {
        let status = Command::new(TMUX)
            .arg("-S")
            .arg(&self.socket)
            .args(["send-keys", "-t", "app"])
            .args(keys)
            .status()
            .expect("tmux send-keys");
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let output = Command::new(TMUX)
            .arg("-S")
            .arg(&self.socket)
            .args(["capture-pane", "-p", "-t", "app"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Polls the screen until it shows `text`; fails with the screen after 20 s.
    async fn shows(&self, text: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if screen.contains(text) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "newsboat never showed {text:?}; the screen:\n{screen}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = Command::new(TMUX)
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newsboat_signs_in_syncs_and_its_marks_show_in_the_reader() {
    assert!(
        Path::new(NEWSBOAT).exists(),
        "newsboat is missing: run deploy/install-test-deps.sh"
    );
    let feeds = Feeds::start().await;
    let system = System::start_with_accounts(1).await;
    let browser = Browser::signed_up(&system.edge, "ann").await;
    let (news, blog) = (feeds.url(1, 3), feeds.url(2, 2));
    for url in [&news, &blog] {
        assert_eq!(browser.subscribe(url).await.status, StatusCode::OK);
    }
    let (password, _) = app_password(&system, "ann", "newsboat").await;
    let app = App::sign_in(&system.edge, "ann", &password).await;
    let (status, _) = app
        .write(
            "subscription/edit",
            &[
                ("ac", "edit"),
                ("s", &format!("feed/{news}")),
                ("a", "user/-/label/News"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let dir = std::env::temp_dir().join(format!("newsboat-{}", platform::testing::mint_secret()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("password"), &password).unwrap();
    std::fs::write(dir.join("urls"), "").unwrap();
    // A server URL ending in `/`: newsboat then asks for `//accounts/ClientLogin`.
    std::fs::write(
        dir.join("config"),
        format!(
            "urls-source \"feedhq\"\nfeedhq-url \"{}/\"\nfeedhq-login \"ann\"\n\
             feedhq-passwordfile \"{}\"\nfeedhq-min-items 100\nfeedhq-flag-star \"s\"\n\
             confirm-exit no\n",
            system.edge.url(),
            dir.join("password").display()
        ),
    )
    .unwrap();
    let args = format!("-C {0}/config -u {0}/urls -c {0}/cache.db", dir.display());

    // Headless: signs in, lists the feeds and downloads the unread items.
    let output = tokio::task::spawn_blocking({
        let (dir, args) = (dir.clone(), args.clone());
        move || {
            Command::new(NEWSBOAT)
                .args(args.split(' '))
                .args(["-x", "reload", "print-unread"])
                .env("HOME", &dir)
                .output()
                .expect("newsboat runs")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("5 unread articles"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cached = Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             print('\\n'.join(f'{r[0]}|{r[1]}' for r in c.execute('select title, unread from rss_item order by title')))",
        ])
        .arg(dir.join("cache.db"))
        .output()
        .expect("python3 reads newsboat's cache");
    let cached = String::from_utf8_lossy(&cached.stdout);
    for n in 0..3 {
        assert!(cached.contains(&format!("Feed 1 story {n}|1")), "{cached}");
    }
    for n in 0..2 {
        assert!(cached.contains(&format!("Feed 2 story {n}|1")), "{cached}");
    }

    // Its terminal UI: open "Feed 1", mark its newest item read (N), star the next (^E s),
    // the keys a person would press.
    let terminal = Terminal::start(
        &dir,
        &format!("env HOME={} {NEWSBOAT} {args}", dir.display()),
    );
    terminal.shows("Feed 2").await;
    // The cursor starts on the first row (newsboat lists its own starred and shared streams
    // first): down to "Feed 1".
    let screen = terminal.screen();
    let row = screen
        .lines()
        .skip(1)
        .position(|line| line.ends_with(" Feed 1") || line.contains(" Feed 1 "))
        .expect("Feed 1 is listed");
    for _ in 0..row {
        terminal.keys(&["Down"]);
    }
    terminal.keys(&["Enter"]);
    terminal.shows("Feed 1 story 2").await;
    terminal.keys(&["N"]);
    // Marked read, newsboat moves the cursor to the next item.
    terminal.shows("(2 unread, 3 total)").await;
    terminal.keys(&["C-e"]);
    terminal.shows("Flags:").await;
    terminal.keys(&["s", "Enter"]);

    // The reader shows exactly that.
    eventually("the reader shows newsboat's marks", || async {
        let unread = browser.get("/").send().await.unwrap().text().await.unwrap();
        let starred = browser
            .get("/?filter=starred")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        !unread.contains(">Feed 1 story 0</a>")
            && [
                "Feed 1 story 1",
                "Feed 1 story 2",
                "Feed 2 story 0",
                "Feed 2 story 1",
            ]
            .iter()
            .all(|title| unread.contains(&format!(">{title}</a>")))
            && starred.contains(">Feed 1 story 1</a>")
            && !starred.contains(">Feed 1 story 0</a>")
            && !starred.contains(">Feed 1 story 2</a>")
    })
    .await;
    assert_eq!(app.json("unread-count").await["max"], 4);
    terminal.keys(&["q", "q"]);
    drop(terminal);
    let _ = std::fs::remove_dir_all(&dir);
}
