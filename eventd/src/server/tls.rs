//! `--tls-cert` / `--tls-key`: the same protocol over TLS (feature `tls`). The handshake
//! runs inside each connection's bufferevent (libevent's `bufferevent_openssl`); the rest
//! of the daemon sees plaintext through the same callbacks.

#[cfg(feature = "tls")]
use anyhow::Context;
use anyhow::Result;
use libevent::bufferevent::Options;
use libevent::{BufferEvent, EventBase};
use std::net::TcpStream;
use std::path::Path;

/// The server's TLS configuration, shared by the workers.
pub struct Tls {
    #[cfg(feature = "tls")]
    acceptor: openssl::ssl::SslAcceptor,
}

impl Tls {
    /// Reads the certificate chain and the key; an error names the file.
    #[cfg(feature = "tls")]
    pub fn load(cert: &Path, key: &Path) -> Result<Tls> {
        use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};
        let mut a =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).context("cannot set up TLS")?;
        a.set_certificate_chain_file(cert)
            .with_context(|| format!("cannot read the certificate {}", cert.display()))?;
        a.set_private_key_file(key, SslFiletype::PEM)
            .with_context(|| format!("cannot read the key {}", key.display()))?;
        a.check_private_key()
            .with_context(|| format!("{} is not the key of {}", key.display(), cert.display()))?;
        Ok(Tls {
            acceptor: a.build(),
        })
    }

    #[cfg(not(feature = "tls"))]
    pub fn load(_cert: &Path, _key: &Path) -> Result<Tls> {
        anyhow::bail!("this eventd was built without TLS (build it with `--features tls`)")
    }

    /// The bufferevent of an accepted connection: TLS, accepting.
    #[cfg(feature = "tls")]
    pub fn bufferevent(&self, base: &EventBase, stream: TcpStream) -> Result<BufferEvent> {
        let ssl = openssl::ssl::Ssl::new(self.acceptor.context())?;
        let state = libevent::bufferevent::SslState::Accepting;
        let mut bev =
            BufferEvent::openssl_socket(base, Some(stream.into()), ssl, state, Options::empty())?;
        // A client that closes without close_notify has ended its stream, as over TCP:
        // every message is framed by the protocol, so nothing can be truncated unseen.
        bev.set_allow_dirty_shutdown(true)?;
        Ok(bev)
    }

    #[cfg(not(feature = "tls"))]
    pub fn bufferevent(&self, base: &EventBase, stream: TcpStream) -> Result<BufferEvent> {
        Ok(BufferEvent::from_tcp(base, stream, Options::empty())?)
    }
}

/// Ends TLS cleanly (close_notify) before the socket is shut down; nothing for plain TCP.
pub fn close_notify(bev: &mut libevent::BufferEventRef) {
    #[cfg(feature = "tls")]
    if bev.ssl().is_some() {
        let _ = bev.close_notify();
    }
    #[cfg(not(feature = "tls"))]
    let _ = bev;
}
