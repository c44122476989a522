//! Orchestration: what makes many backends act as one store. The placement policy over backend
//! labels ([`policy`]), monthly usage limits ([`limits`]), per-backend circuit breakers
//! ([`health`]) and the sections of the config that set them ([`config`]).

pub mod config;
pub mod health;
pub mod limits;
pub mod policy;
pub mod probe;
