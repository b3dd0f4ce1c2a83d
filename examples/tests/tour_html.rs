//! The tour's HTML report renders its plots in a real browser: a page made
//! by the tour's own `html` module is opened in headless Chromium, and the
//! screenshot's pixels must show each plotted line's colour (and a page
//! without charts must not, so the check can tell the two apart).
//!
//! Needs Debian's `chromium` (`/usr/bin/chromium`, or `BALLAST_CHROMIUM`);
//! skips with a printed reason where it is absent, unless
//! `BALLAST_REQUIRE_SERVICES` is set (CI), where that is a failure.

#[path = "../src/bin/tour/html.rs"]
mod html;

use html::{Chart, PALETTE, Series};
use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("BALLAST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var_os("BALLAST_REQUIRE_SERVICES").is_some() {
        panic!(
            "chromium not found at {} and BALLAST_REQUIRE_SERVICES is set (apt-get install chromium)",
            path.display()
        );
    }
    println!(
        "skipped: chromium not found at {} (apt-get install chromium, or set BALLAST_CHROMIUM)",
        path.display()
    );
    None
}

/// Renders `page` in headless Chromium; returns the screenshot's RGB pixels.
fn screenshot(browser: &Path, page: &str, size: (u32, u32)) -> Vec<[u8; 3]> {
    let dir = tempfile::tempdir().expect("a temp dir");
    let html = dir.path().join("page.html");
    let png = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    std::fs::write(&html, page).expect("the page written");
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("chromium runs");
    assert!(
        png.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png).expect("the screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("one frame");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!((info.width, info.height), size, "the screenshot's size");
    buf[..info.buffer_size()]
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

/// Pixels of exactly `color`.
fn count(pixels: &[[u8; 3]], color: (u8, u8, u8)) -> usize {
    pixels
        .iter()
        .filter(|p| **p == [color.0, color.1, color.2])
        .count()
}

/// Two charts, each line in its own palette colour.
fn charts() -> Vec<Chart> {
    let wave = |k: f64, phase: f64| -> Vec<(f64, f64)> {
        (0..120)
            .map(|i| {
                let t = f64::from(i) * 0.25;
                (t, 50.0 + 40.0 * (t * k + phase).sin())
            })
            .collect()
    };
    vec![
        Chart {
            title: "latency".into(),
            y_label: "ms".into(),
            series: vec![
                Series {
                    name: "p50".into(),
                    color: PALETTE[0],
                    points: wave(0.3, 0.0),
                },
                Series {
                    name: "p99".into(),
                    color: PALETTE[1],
                    points: wave(0.5, 1.0),
                },
            ],
        },
        Chart {
            title: "limits".into(),
            y_label: "calls".into(),
            series: vec![
                Series {
                    name: "inventory".into(),
                    color: PALETTE[2],
                    points: wave(0.2, 2.0),
                },
                Series {
                    name: "payments".into(),
                    color: PALETTE[3],
                    points: wave(0.7, 3.0),
                },
            ],
        },
    ]
}

#[test]
fn the_html_report_shows_every_plotted_line_in_a_headless_browser() {
    let Some(browser) = chromium() else { return };
    let size = (900, 900);
    let marks = vec![(0.0, "calm".to_string()), (12.0, "crash".to_string())];
    let text = vec!["every check holds".to_string()];
    let with = screenshot(
        &browser,
        &html::page("tour", &text, &charts(), &marks),
        size,
    );
    let without = screenshot(&browser, &html::page("tour", &text, &[], &marks), size);
    for color in PALETTE {
        let (drawn, blank) = (count(&with, color), count(&without, color));
        // A line of 30 s across ~650 px, 3 px wide: well over 300 pixels
        // of its exact colour even where it crosses others.
        assert!(
            drawn > 300,
            "colour {color:?}: {drawn} pixels in the screenshot, expected a plotted line"
        );
        assert_eq!(blank, 0, "colour {color:?} on a page with no charts");
    }
}
