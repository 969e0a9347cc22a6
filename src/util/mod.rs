//! Helpers that several modules share: flag types, timevals, socket addresses.

#[macro_use]
mod flags;
pub(crate) mod sockaddr;
pub(crate) mod time;

pub(crate) use flags::flag_type;
