//! trailscope's integration tests, one binary built once (like ripgrep's): each module drives the
//! real `trailscope` binary (or the generator) the way a user does, and [`common`] holds what they
//! share. Run one module with `cargo test --test integration MODULE::`.

mod common;

mod browser;
mod cli;
mod connections;
mod corruption;
mod deploy;
mod determinism;
mod duplicates;
mod failures;
mod findings;
mod generated;
mod golden;
mod history;
mod hostile;
mod real_buckets;
mod redact;
mod s3;
mod seed;
mod shapes;
mod shards;
mod state;
mod verify;
