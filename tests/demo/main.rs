//! Black-box tests of demo-app over real HTTP on port 0: its page, its operational surface, and the
//! `/api` proxy against a fake upstream that records what reaches it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod helpers;
mod page;
mod process;
mod protocol;
mod proxy;
mod settings;
mod upstream;
