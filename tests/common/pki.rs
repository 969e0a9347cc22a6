//! Certificates made at run time (feature `openssl`): a CA, a server certificate it signed
//! for `localhost`, and one from another CA.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::extension::{BasicConstraints, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

pub fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `cn` (and `names` as DNS SANs), signed by `issuer` (self-signed
/// when `None`, as a CA).
pub fn cert(
    cn: &str,
    names: &[&str],
    key: &PKey<Private>,
    issuer: Option<(&X509, &PKey<Private>)>,
) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(64, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&serial.to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map_or(&name, |(c, _)| c.subject_name()))
        .unwrap();
    b.set_pubkey(key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    if issuer.is_none() {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(KeyUsage::new().key_cert_sign().crl_sign().build().unwrap())
            .unwrap();
    } else {
        let mut san = SubjectAlternativeName::new();
        for n in names {
            san.dns(n);
        }
        let ctx = b.x509v3_context(issuer.map(|(c, _)| &**c), None);
        let san = san.build(&ctx).unwrap();
        b.append_extension(san).unwrap();
    }
    b.sign(issuer.map_or(key, |(_, k)| k), MessageDigest::sha256())
        .unwrap();
    b.build()
}

/// A CA, a server certificate for `localhost` it signed, and one from another CA.
pub struct Pki {
    pub ca: X509,
    pub server: (X509, PKey<Private>),
    pub stranger: (X509, PKey<Private>),
}

pub fn pki() -> Pki {
    let ca_key = key();
    let ca = cert("test CA", &[], &ca_key, None);
    let skey = key();
    let server = cert("localhost", &["localhost"], &skey, Some((&ca, &ca_key)));
    let other_key = key();
    let other_ca = cert("other CA", &[], &other_key, None);
    let k2 = key();
    let stranger = cert(
        "localhost",
        &["localhost"],
        &k2,
        Some((&other_ca, &other_key)),
    );
    Pki {
        ca,
        server: (server, skey),
        stranger: (stranger, k2),
    }
}

pub fn acceptor(cert: &X509, key: &PKey<Private>) -> SslAcceptor {
    let mut a = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    a.set_certificate(cert).unwrap();
    a.set_private_key(key).unwrap();
    a.build()
}

pub fn connector(ca: &X509) -> SslConnector {
    let mut c = SslConnector::builder(SslMethod::tls()).unwrap();
    c.cert_store_mut().add_cert(ca.clone()).unwrap();
    c.set_verify(SslVerifyMode::PEER);
    c.build()
}
