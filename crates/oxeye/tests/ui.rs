//! The web UI end to end: the Playwright specs under `ui-tests/specs` drive headless
//! Debian Chromium against a real server started here with `ui-tests/fixtures`. Each
//! spec seeds its own tenant through the ingest APIs. Screenshots are kept under
//! `<target>/tmp/ui-screenshots` as the test's artifacts.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::Server;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `npm ci` when the pinned Playwright is not installed yet.
fn ensure_node_modules(dir: &Path) {
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return;
    }
    let ok = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "npm ci in {} failed: node and npm are needed",
        dir.display()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ui_end_to_end_in_chromium() {
    let ui = repo_root().join("ui-tests");
    ensure_node_modules(&ui);
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&ui.join("fixtures"), dir.path());
    let cfg = std::fs::read_to_string(dir.path().join("oxeye.yml")).unwrap();
    let server = Server::start(dir.path(), Some(&cfg)).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let out = tokio::task::spawn_blocking({
        let ui = ui.clone();
        let url = server.http.clone();
        let shots = shots.clone();
        move || {
            Command::new("node")
                .args([
                    "--test",
                    "--test-concurrency=1",
                    "--test-reporter=spec",
                    "specs/",
                ])
                .current_dir(ui)
                .env("OXEYE_URL", url)
                .env("OXEYE_SCREENSHOTS", shots)
                .output()
        }
    })
    .await
    .unwrap()
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "ui specs failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    assert!(
        shots.join("shell.png").exists(),
        "screenshots are kept in {}",
        shots.display()
    );
}
