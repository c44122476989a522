//! The admin/UI JSON API: pure handlers from a request to a response over the store and a control
//! trait the proxy implements. Not built yet; this crate is an empty boundary for now.
