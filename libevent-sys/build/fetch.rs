//! Getting the upstream tree, in this order:
//!
//! 1. `LIBEVENT_SRC_DIR`: an unpacked tree, used as it is;
//! 2. `LIBEVENT_TARBALL`: a path to upstream's release tarball;
//! 3. the cache this build keeps outside `target/` (so `cargo clean` does not fetch again);
//! 4. fetching the tarball: through apt (Debian's archive carries upstream's tarball, byte
//!    for byte, as its `libevent` source package's orig tarball), else from upstream's
//!    release page.
//!
//! A tarball, however it came, is used only when its sha256 is [`TARBALL_SHA256`].

use crate::{fail, LIBEVENT_VERSION};
use sha2::{Digest, Sha256};
use std::env;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// sha256 of upstream's `libevent-2.1.13-stable.tar.gz`: the only tarball this build uses.
const TARBALL_SHA256: &str = "f7e9383b8c0baa81b687e5b5eecc01beefaf1b19b64151d95ed61647fe7a315c";
/// Debian's source package whose orig tarball is upstream's tarball (suite trixie-security).
const DEBIAN_SOURCE: &str = "libevent=2.1.13-stable-1~deb13u1";
/// The Debian suites that carry it: the orig tarball lies in the main archive's pool, the
/// revision is listed by the security archive, so apt needs both.
const DEBIAN_SUITES: [(&str, Archive); 2] = [
    ("trixie", Archive::Main),
    ("trixie-security", Archive::Security),
];
/// Upstream's release page.
const UPSTREAM_URL: &str = "https://github.com/libevent/libevent/releases/download/\
     release-2.1.13-stable/libevent-2.1.13-stable.tar.gz";

fn tarball_name() -> String {
    format!("libevent-{LIBEVENT_VERSION}.tar.gz")
}

/// The tree to compile, from the first source that has it.
pub(crate) fn source_tree(out: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=LIBEVENT_SRC_DIR");
    println!("cargo:rerun-if-env-changed=LIBEVENT_TARBALL");
    println!("cargo:rerun-if-env-changed=LIBEVENT_CACHE_DIR");
    if let Some(dir) = env::var_os("LIBEVENT_SRC_DIR") {
        let dir = PathBuf::from(dir);
        if !dir.join("event.c").is_file() {
            fail(&format!(
                "LIBEVENT_SRC_DIR={} is not a libevent source tree (no event.c in it)",
                dir.display()
            ));
        }
        return dir;
    }
    let unpacked = out.join("src").join(format!("libevent-{LIBEVENT_VERSION}"));
    if unpacked.join(".libevent-sys-verified").is_file() {
        return unpacked;
    }
    let tarball = if let Some(path) = env::var_os("LIBEVENT_TARBALL") {
        let path = PathBuf::from(path);
        println!("cargo:rerun-if-changed={}", path.display());
        if let Err(e) = verify(&path) {
            fail(&format!("LIBEVENT_TARBALL={}: {e}", path.display()));
        }
        path
    } else {
        cached_or_fetched()
    };
    unpack(&tarball, &out.join("src"));
    fs::write(unpacked.join(".libevent-sys-verified"), TARBALL_SHA256)
        .expect("write the unpacked tree's marker");
    unpacked
}

/// `Ok` when the file's sha256 is the release's.
fn verify(path: &Path) -> Result<(), String> {
    let mut f = fs::File::open(path).map_err(|e| format!("cannot read it ({e})"))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("cannot read it ({e})"))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    let got: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if got == TARBALL_SHA256 {
        Ok(())
    } else {
        Err(format!(
            "sha256 is {got}, not {TARBALL_SHA256} (libevent-{LIBEVENT_VERSION}.tar.gz); \
             refusing to build from it"
        ))
    }
}

/// `LIBEVENT_CACHE_DIR`, else `$XDG_CACHE_HOME/libevent-sys`, else `~/.cache/libevent-sys`,
/// else the target directory's parent of `OUT_DIR` (still a cache across rebuilds).
fn cache_dir() -> PathBuf {
    if let Some(d) = env::var_os("LIBEVENT_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("libevent-sys");
    }
    if let Some(h) = env::var_os("HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h).join(".cache").join("libevent-sys");
    }
    crate::out_dir().join("cache")
}

fn cached_or_fetched() -> PathBuf {
    let cache = cache_dir();
    let cached = cache.join(tarball_name());
    if cached.is_file() {
        match verify(&cached) {
            Ok(()) => return cached,
            Err(e) => {
                println!(
                    "cargo:warning=libevent-sys: the cached {}: {e}; fetching it again",
                    cached.display()
                );
                let _ = fs::remove_file(&cached);
            }
        }
    }
    if env::var_os("CARGO_NET_OFFLINE").is_some_and(|v| v == "true") {
        fail(&no_source(
            "cargo is offline (CARGO_NET_OFFLINE), so nothing was fetched",
        ));
    }
    let staging = crate::out_dir().join("fetch");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).expect("create OUT_DIR/fetch");
    let mut tried = Vec::new();
    for (how, got) in [
        ("apt (Debian's archive)", fetch_with_apt(&staging)),
        ("upstream's release page", fetch_from_upstream(&staging)),
    ] {
        match got.and_then(|p| verify(&p).map(|()| p)) {
            Ok(p) => {
                if fs::create_dir_all(&cache).is_ok() && fs::copy(&p, &cached).is_ok() {
                    return cached;
                }
                return p;
            }
            Err(e) => tried.push(format!("  {how}: {e}")),
        }
    }
    fail(&no_source(&format!(
        "nothing could be fetched:\n{}",
        tried.join("\n")
    )))
}

fn no_source(why: &str) -> String {
    format!(
        "no libevent {LIBEVENT_VERSION} source: {why}.\n\
         Set LIBEVENT_TARBALL to a copy of upstream's {name} (sha256 {TARBALL_SHA256}; \
         {UPSTREAM_URL}, or Debian's libevent_2.1.13-stable.orig.tar.gz, the same file),\n\
         or LIBEVENT_SRC_DIR to an unpacked tree, or put the tarball in {cache}.",
        name = tarball_name(),
        cache = cache_dir().display()
    )
}

/// Which of the machine's Debian archives a suite comes from.
#[derive(Clone, Copy, PartialEq)]
enum Archive {
    Main,
    Security,
}

/// One `deb` entry of the machine's apt sources.
struct AptSource {
    uri: String,
    suites: Vec<String>,
    signed_by: Option<String>,
}

/// The machine's own apt sources, in both formats (`.list` lines and deb822 `.sources`).
fn apt_sources() -> Vec<AptSource> {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = fs::read_to_string(&f) else {
            continue;
        };
        match f.extension().and_then(|e| e.to_str()) {
            Some("sources") => out.extend(deb822_sources(&text)),
            Some("list") | None => out.extend(one_line_sources(&text)),
            _ => {}
        }
    }
    out
}

fn deb822_sources(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
        };
        let is_deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
        let enabled = !matches!(field("Enabled").as_deref(), Some("no"));
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else {
            continue;
        };
        if !is_deb || !enabled {
            continue;
        }
        for uri in uris.split_whitespace() {
            out.push(AptSource {
                uri: uri.to_string(),
                suites: suites.split_whitespace().map(String::from).collect(),
                signed_by: field("Signed-By").filter(|s| s.starts_with('/')),
            });
        }
    }
    out
}

fn one_line_sources(text: &str) -> Vec<AptSource> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let mut rest = rest.trim();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((opts, after)) = opts.split_once(']') else {
                continue;
            };
            signed_by = opts
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .map(String::from);
            rest = after.trim();
        }
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push(AptSource {
                uri: uri.to_string(),
                suites: vec![suite.to_string()],
                signed_by,
            });
        }
    }
    out
}

/// The machine's Debian archive of each kind: the URI it uses for a suite like
/// `bookworm` (main) or `bookworm-security` (security), and the keyring that signs it.
fn debian_archive(sources: &[AptSource], kind: Archive) -> Option<(String, String)> {
    sources.iter().find_map(|s| {
        let fits = s.suites.iter().any(|suite| match kind {
            Archive::Security => suite.ends_with("-security") || suite.ends_with("/updates"),
            Archive::Main => !suite.contains('-') && !suite.contains('/'),
        });
        let debian_like = s.uri.contains("debian");
        (fits && debian_like).then(|| {
            let key = s
                .signed_by
                .clone()
                .unwrap_or_else(|| "/usr/share/keyrings/debian-archive-keyring.gpg".into());
            (s.uri.clone(), key)
        })
    })
}

/// `apt-get source --download-only` in a private apt configuration inside `staging`,
/// whose `deb-src` entries point the machine's own Debian archives at trixie and
/// trixie-security: the system's apt state is neither read nor changed.
fn fetch_with_apt(staging: &Path) -> Result<PathBuf, String> {
    if Command::new("apt-get").arg("--version").output().is_err() {
        return Err("no apt-get on this machine".into());
    }
    let sources = apt_sources();
    let mut stanzas = String::new();
    for (suite, kind) in DEBIAN_SUITES {
        let (uri, key) = debian_archive(&sources, kind).ok_or_else(|| {
            "the machine's apt sources name no Debian archive to derive one from".to_string()
        })?;
        stanzas.push_str(&format!(
            "Types: deb-src\nURIs: {uri}\nSuites: {suite}\nComponents: main\nSigned-By: {key}\n\n"
        ));
    }
    let apt = staging.join("apt");
    for d in [
        "etc/sources.list.d",
        "state/lists/partial",
        "cache/archives/partial",
        "dl",
    ] {
        fs::create_dir_all(apt.join(d)).map_err(|e| e.to_string())?;
    }
    fs::write(apt.join("etc/sources.list.d/libevent.sources"), stanzas)
        .map_err(|e| e.to_string())?;
    fs::write(apt.join("etc/sources.list"), "").map_err(|e| e.to_string())?;
    fs::write(apt.join("status"), "").map_err(|e| e.to_string())?;
    let d = apt.display();
    let opts = [
        format!("-oDir::Etc={d}/etc"),
        format!("-oDir::Etc::sourcelist={d}/etc/sources.list"),
        format!("-oDir::Etc::sourceparts={d}/etc/sources.list.d"),
        format!("-oDir::Etc::preferences={d}/etc/preferences"),
        format!("-oDir::Etc::preferencesparts={d}/etc/preferences.d"),
        format!("-oDir::State={d}/state"),
        format!("-oDir::State::status={d}/status"),
        format!("-oDir::Cache={d}/cache"),
        "-oDebug::NoLocking=1".into(),
        "-oAcquire::Retries=0".into(),
        "-oAcquire::http::Timeout=20".into(),
        "-qq".into(),
    ];
    let run = |args: &[&str], dir: &Path| {
        Command::new("apt-get")
            .args(&opts)
            .args(args)
            .current_dir(dir)
            .env("LC_ALL", "C")
            .output()
            .map_err(|e| format!("running apt-get: {e}"))
    };
    let update = run(&["update"], &apt)?;
    if !update.status.success() {
        return Err(format!(
            "apt-get update failed: {}",
            String::from_utf8_lossy(&update.stderr).trim()
        ));
    }
    // The Debian revision's own files (.dsc, .debian.tar.xz) may fail to come: only the
    // orig tarball is used, so the exit status says nothing here; its checksum decides.
    let dl = apt.join("dl");
    let source = run(&["source", "--download-only", DEBIAN_SOURCE], &dl)?;
    let orig = dl.join(format!("libevent_{LIBEVENT_VERSION}.orig.tar.gz"));
    if orig.is_file() {
        Ok(orig)
    } else {
        Err(format!(
            "apt-get source {DEBIAN_SOURCE} brought no orig tarball: {}",
            String::from_utf8_lossy(&source.stderr).trim()
        ))
    }
}

/// curl from upstream's release page, with a short connect timeout so that a machine
/// without that network fails fast.
fn fetch_from_upstream(staging: &Path) -> Result<PathBuf, String> {
    let dest = staging.join(tarball_name());
    let out = Command::new("curl")
        .args(["--fail", "--silent", "--show-error", "--location"])
        .args(["--connect-timeout", "10", "--max-time", "120", "--output"])
        .arg(&dest)
        .arg(UPSTREAM_URL)
        .output()
        .map_err(|e| format!("running curl: {e}"))?;
    if out.status.success() {
        Ok(dest)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// Unpacks the verified tarball into `into` (a fresh directory).
fn unpack(tarball: &Path, into: &Path) {
    let _ = fs::remove_dir_all(into);
    fs::create_dir_all(into).expect("create OUT_DIR/src");
    let f =
        fs::File::open(tarball).unwrap_or_else(|e| fail(&format!("{}: {e}", tarball.display())));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(f));
    archive.set_preserve_permissions(false);
    if let Err(e) = archive.unpack(into) {
        fail(&format!("unpacking {}: {e}", tarball.display()));
    }
}

/// The tree must be the release this crate binds: the bindings and the configuration
/// assume it.
pub(crate) fn check_version(src: &Path) {
    let configure = src.join("configure.ac");
    let text = fs::read_to_string(&configure).unwrap_or_else(|e| {
        fail(&format!(
            "{} is unreadable ({e}); is this a libevent tree?",
            configure.display()
        ))
    });
    let found = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("AC_INIT(libevent,"))
        .map(|rest| rest.trim_end_matches(')').trim().to_string());
    match found {
        Some(v) if v == LIBEVENT_VERSION => {}
        Some(v) => fail(&format!(
            "{} is libevent {v}, but this crate builds exactly {LIBEVENT_VERSION}",
            src.display()
        )),
        None => fail(&format!(
            "{} names no libevent version",
            configure.display()
        )),
    }
    for needed in ["event.c", "include/event2/event.h", "event-config.h.cmake"] {
        if !src.join(needed).exists() {
            fail(&format!(
                "{} lacks {needed}; the tree is incomplete",
                src.display()
            ));
        }
    }
}
