//! eventd-compare from outside: it reports nothing for eventd against itself, finds a
//! planted difference and shrinks it to a few bytes, replays sessions from a file,
//! refuses bad input clearly, and (with PHP) finds that the PHP port of the protocol,
//! under compat/php, differs from eventd only where eventd's fixes say.

mod common;

use common::have_php;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const EVENTD: &str = env!("CARGO_BIN_EXE_eventd");
const COMPARE: &str = env!("CARGO_BIN_EXE_eventd-compare");

fn eventd(extra: &str) -> String {
    format!("{EVENTD} --listen 127.0.0.1:{{port}} {extra}")
}

fn tmp(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("compare-{}-{name}", std::process::id()))
}

/// One comparison at a time: each starts two servers (one of them PHP) and times its
/// steps by quiet windows, which a machine busy with the others could stretch.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn compare(args: &[&str]) -> (Output, Value) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let report = tmp(&format!("report-{n}.json"));
    let _ = std::fs::remove_file(&report);
    let out = Command::new(COMPARE)
        .args(args)
        .arg("--json")
        .arg(&report)
        .env("LIBEVENT_PHP_LIB", env!("EVENTD_LIBEVENT_SHARED"))
        .stdin(Stdio::null())
        .output()
        .expect("eventd-compare");
    let json = std::fs::read_to_string(&report)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    (out, json)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn sends(session: &Value) -> Vec<String> {
    session["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["send"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn eventd_against_itself_differs_nowhere() {
    let (out, r) = compare(&[
        "--reference",
        &eventd(""),
        "--candidate",
        &eventd(""),
        "--sessions",
        "30",
        "--seed",
        "11",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(r["sessions"], 30);
    assert_eq!(r["different"], 0);
    // A session that differed once and not when run again is timing, counted apart; a
    // busy machine may make one or two.
    let (identical, unstable) = (
        r["identical"].as_u64().unwrap(),
        r["unstable"].as_u64().unwrap(),
    );
    assert_eq!(identical + unstable, 30);
    assert!(unstable <= 2, "{}", text(&out));
    assert_eq!(r["seed"], 11);
    assert!(text(&out).contains("identical on every session"));
}

#[test]
fn a_planted_difference_is_found_and_shrunk_to_a_few_bytes() {
    // Messages are released past 8 bytes instead of 1,000.
    let (out, r) = compare(&[
        "--reference",
        &eventd(""),
        "--candidate",
        &eventd("--max-message 8"),
        "--sessions",
        "200",
        "--seed",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(r["different"], 1);
    assert_eq!(r["ok"], false);
    let first = &r["first_difference"];
    let shrunk = &first["shrunk"];
    assert_eq!(shrunk["conns"], 1, "{shrunk}");
    let sent = sends(shrunk);
    assert_eq!(sent.len(), 1, "{shrunk}");
    // The smallest message eventd releases early: 9 bytes, none of them a line end.
    assert_eq!(sent[0].len(), 9, "{shrunk}");
    assert!(!sent[0].contains('\n'), "{shrunk}");
    assert!(first["differs"][0]
        .as_str()
        .unwrap()
        .contains("bytes received differ"));
    assert_eq!(first["reference"]["conns"][0]["received"], "");
    // PROTOCOL.md's trim: space, tab, line ends, NUL, vertical tab.
    let trimmed = sent[0].trim_matches([' ', '\t', '\n', '\r', '\0', '\x0b']);
    let upper = trimmed.to_ascii_uppercase() + "\r\n";
    assert_eq!(first["candidate"]["conns"][0]["received"], upper.as_str());
    // Side by side for people, the differing row marked.
    let t = text(&out);
    assert!(t.contains("reference") && t.contains("| candidate"), "{t}");
    assert!(t.lines().any(|l| l.starts_with("* conn 0 received")), "{t}");

    // The shrunk session, saved, differs again; eventd against itself, not.
    let file = tmp("shrunk.json");
    std::fs::write(&file, shrunk.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let (out, r) = compare(&[
        "--reference",
        &eventd(""),
        "--candidate",
        &eventd("--max-message 8"),
        "--session",
        file,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(r["seed"], Value::Null);
    let (out, _) = compare(&[
        "--reference",
        &eventd(""),
        "--candidate",
        &eventd(""),
        "--session",
        file,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn bad_input_is_refused_with_what_was_wrong() {
    let check = |args: &[&str], says: &str| {
        let (out, _) = compare(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(says), "{args:?}: {}", text(&out));
    };
    check(&["--sessions", "1"], "name the two servers");
    check(
        &["--reference", EVENTD, "--candidate", &eventd("")],
        "must say where to listen with {port}",
    );
    check(
        &["--reference", "exit 3 {port}", "--candidate", &eventd("")],
        "the reference (exit 3",
    );
    check(&["--original", "/nonexistent/daemon.php"], "no such file");
    let bad = tmp("bad-session.json");
    std::fs::write(
        &bad,
        json!({"conns": 1, "steps": [{"conn": 2, "send": "x"}]}).to_string(),
    )
    .unwrap();
    check(
        &[
            "--reference",
            &eventd(""),
            "--candidate",
            &eventd(""),
            "--session",
            bad.to_str().unwrap(),
        ],
        "step 1: connection 2 of 1",
    );
    std::fs::write(&bad, "{not json").unwrap();
    check(
        &[
            "--reference",
            &eventd(""),
            "--candidate",
            &eventd(""),
            "--session",
            bad.to_str().unwrap(),
        ],
        "not JSON",
    );
}

fn php_port() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../compat/php/tests/daemon.php")
        .display()
        .to_string()
}

#[test]
fn the_php_port_under_the_layer_differs_from_eventd_only_by_its_fixes() {
    if !have_php() {
        return;
    }
    let (out, r) = compare(&[
        "--original",
        &php_port(),
        "--candidate",
        &eventd(""),
        "--known-differences",
        "--sessions",
        "80",
        "--seed",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(r["different"], 0, "{}", text(&out));
    assert_eq!(r["sessions"], 80);
    let known: u64 = r["known_differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["sessions"].as_u64().unwrap())
        .sum();
    let unstable = r["unstable"].as_u64().unwrap();
    assert_eq!(r["identical"].as_u64().unwrap() + known + unstable, 80);
    assert!(unstable <= 2, "{}", text(&out));
}

#[test]
fn the_zero_slice_flaw_comes_from_the_php_program_and_is_told_apart_as_fix_5() {
    if !have_php() {
        return;
    }
    // 1,024 bytes and a "0" in one write: the PHP read loop stops at the slice "0",
    // which it has read and not kept, so its reply lacks the 0.
    let mut first = "x".repeat(1024);
    first.push('0');
    let session = json!({"conns": 1, "steps": [
        {"conn": 0, "send": first},
        {"conn": 0, "send": "yes\r\n"},
    ]});
    let file = tmp("zero-slice.json");
    std::fs::write(&file, session.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let (out, r) = compare(&[
        "--original",
        &php_port(),
        "--candidate",
        &eventd(""),
        "--session",
        file,
        "--shrink-budget",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let d = &r["first_difference"];
    let upper = "X".repeat(1024);
    assert_eq!(
        d["reference"]["conns"][0]["received"],
        format!("{upper}\r\nYES\r\n").as_str()
    );
    assert_eq!(
        d["candidate"]["conns"][0]["received"],
        format!("{upper}0\r\nYES\r\n").as_str()
    );
    let (out, r) = compare(&[
        "--original",
        &php_port(),
        "--candidate",
        &eventd(""),
        "--session",
        file,
        "--known-differences",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(r["known_differences"][0]["fix"], "fix5-zero-slice");
}

/// The article's own daemon, when the user brings it (EVENTD_ORIGINAL=path).
#[test]
fn the_original_differs_from_eventd_only_by_its_fixes() {
    let Some(original) = std::env::var_os("EVENTD_ORIGINAL") else {
        eprintln!("skipped: set EVENTD_ORIGINAL to the article's part-III daemon to run it");
        return;
    };
    if !have_php() {
        return;
    }
    let (out, r) = compare(&[
        "--original",
        original.to_str().unwrap(),
        "--candidate",
        &eventd(""),
        "--known-differences",
        "--sessions",
        "200",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(r["different"], 0, "{}", text(&out));
}
