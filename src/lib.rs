//! Safe bindings to libevent (in progress).
