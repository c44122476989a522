//! The client half of the load generator: request bodies ([`payload`]), signed request heads
//! ([`request`]) and keep-alive connections that time the responses ([`conn`]).

pub mod conn;
pub mod payload;
pub mod request;
