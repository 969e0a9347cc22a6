//! `SocketAddr` to and from the C socket address structures.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A `sockaddr_storage` holding `addr`, and its length.
pub(crate) fn sockaddr_from(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// The address in a sockaddr from libevent, if it is IPv4 or IPv6.
///
/// # Safety
/// `sa` must point at `len` readable bytes of a sockaddr, or be null.
pub(crate) unsafe fn sockaddr_to(sa: *const libc::sockaddr, len: i32) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller vouches for sa; each cast is checked against family and length.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                let sin = &*(sa as *const libc::sockaddr_in);
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let s = &*(sa as *const libc::sockaddr_in6);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(s.sin6_addr.s6_addr),
                    u16::from_be(s.sin6_port),
                    s.sin6_flowinfo,
                    s.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// The address a socket is bound to (getsockname).
pub(crate) fn local_addr(fd: std::os::fd::RawFd) -> std::io::Result<SocketAddr> {
    socket_addr(fd, false)
}

/// The address of a socket's peer (getpeername).
pub(crate) fn peer_addr(fd: std::os::fd::RawFd) -> std::io::Result<SocketAddr> {
    socket_addr(fd, true)
}

fn socket_addr(fd: std::os::fd::RawFd, peer: bool) -> std::io::Result<SocketAddr> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let sa = &mut storage as *mut _ as *mut libc::sockaddr;
    // SAFETY: sa/len are valid out pointers; a bad fd is reported, not UB.
    unsafe {
        if peer {
            crate::error::call!(libc::getpeername(fd, sa, &mut len))
        } else {
            crate::error::call!(libc::getsockname(fd, sa, &mut len))
        }
    }?;
    // SAFETY: the call wrote `len` bytes.
    unsafe { sockaddr_to(&storage as *const _ as *const libc::sockaddr, len as i32) }
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::Unsupported, "not an IP socket"))
}
