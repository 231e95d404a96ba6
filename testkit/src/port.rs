//! A free loopback port, for what must be told a port number before it listens (the relay's
//! binary, a fake GAMA that appears later).
//!
//! One helper for every test that needs one, so that the small race it accepts is written once:
//! the port is free when this returns, and nothing else on the machine takes it in the moment
//! before its user binds it. Whatever can listen on port 0 itself should.

/// A port nobody listens on right now on 127.0.0.1.
///
/// # Panics
///
/// If the system gives no ephemeral port (a test cannot go on without one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port on 127.0.0.1")
        .port()
}
