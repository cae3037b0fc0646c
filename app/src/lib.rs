//! The Metrics App: engineers record the activities they perform for customer projects
//! (HTML form, list, summary with charts; JSON API with OpenAPI), on DynamoDB or an
//! embedded file store. It also answers the original `/picus/*` endpoints.
//!
//! Layout: the domain ([`activity`], [`item`], [`summary`], [`cursor`]) knows nothing of
//! HTTP or storage; [`store`] holds the two backends behind one trait; [`web`] is the
//! router; [`config`] and [`server`] are what `main` wires together.

pub mod activity;
pub mod auth;
pub mod config;
pub mod cursor;
pub mod error;
pub mod item;
pub mod metrics;
pub mod server;
pub mod store;
pub mod summary;
pub mod web;

pub use error::{Error, Result};
pub use web::{AppState, Settings, app};
