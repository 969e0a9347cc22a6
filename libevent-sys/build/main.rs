//! Builds libevent 2.1.13-stable from its pristine upstream release, or links the system's.
//!
//! Two paths, chosen by the `system` feature:
//! - `compile::build_bundled`: get the tree (`fetch`: `LIBEVENT_SRC_DIR`, or upstream's
//!   release tarball from `LIBEVENT_TARBALL`, the cache or the network, checked against
//!   its sha256), probe the C compiler (`probe`) to write
//!   `event2/event-config.h` and `evconfig-private.h` (`config`), and compile the static
//!   libraries with `cc`. Nothing is written outside `OUT_DIR`.
//! - `system::build_linked`: find libevent with pkg-config.
//!
//! Either way `bindings` provides the Rust bindings.

mod bindings;
#[cfg(not(feature = "system"))]
mod compile;
#[cfg(not(feature = "system"))]
mod config;
#[cfg(not(feature = "system"))]
mod fetch;
#[cfg(not(feature = "system"))]
mod probe;
#[cfg(feature = "system")]
mod system;

/// The upstream release this crate binds: the one place its version is written. The
/// bindings, the configuration header and the tests follow it.
const LIBEVENT_VERSION: &str = "2.1.13-stable";

fn main() {
    println!("cargo:rerun-if-changed=build");
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-env-changed=DOCS_RS");
    println!("cargo:rustc-env=LIBEVENT_SYS_BUNDLED_VERSION={LIBEVENT_VERSION}");
    if std::env::var_os("DOCS_RS").is_some() {
        // docs.rs builds documentation from the committed bindings: nothing to fetch,
        // compile or link. The TLS part is still documented when asked for.
        println!("cargo:openssl={}", u8::from(cfg!(feature = "openssl")));
        return;
    }

    #[cfg(feature = "system")]
    system::build_linked();
    #[cfg(not(feature = "system"))]
    compile::build_bundled();
}

/// A version `MAJOR.MINOR.PATCH-suffix`, split for the configuration header.
#[cfg(not(feature = "system"))]
struct Version {
    major: u32,
    minor: u32,
    patch: u32,
}

#[cfg(not(feature = "system"))]
impl Version {
    fn parse(v: &str) -> Version {
        let numbers = v.split('-').next().unwrap_or(v);
        let mut parts = numbers
            .split('.')
            .map(|p| p.parse::<u32>().expect("a numeric version"));
        let mut next = || parts.next().expect("MAJOR.MINOR.PATCH");
        Version {
            major: next(),
            minor: next(),
            patch: next(),
        }
    }

    /// `EVENT__NUMERIC_VERSION`: 0xMMmmpp00.
    fn numeric(&self) -> u32 {
        (self.major << 24) | (self.minor << 16) | (self.patch << 8)
    }
}

/// The host and target facts the build depends on.
#[cfg(not(feature = "system"))]
struct Target {
    os: String,
}

#[cfg(not(feature = "system"))]
impl Target {
    fn from_env() -> Self {
        Target {
            os: std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default(),
        }
    }

    fn is_linux(&self) -> bool {
        self.os == "linux" || self.os == "android"
    }
}

#[cfg(any(not(feature = "system"), feature = "bindgen"))]
fn out_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
}

fn fail(msg: &str) -> ! {
    eprintln!("\nerror: libevent-sys: {msg}\n");
    std::process::exit(1);
}
