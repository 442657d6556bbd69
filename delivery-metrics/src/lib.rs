//! Measures delivery from GitHub's own records: deployment frequency, lead time for changes,
//! change failure rate and time to restore, per environment, over a window.
//!
//! It reads what `gh api --paginate` saved (deployments, their statuses, commits), so it needs no
//! network or credentials; the `delivery-metrics` workflow does the fetching.

pub mod applications;
pub mod history;
pub mod metrics;
pub mod records;
pub mod report;

pub use metrics::{EnvironmentMetrics, Window, compute};
pub use records::{Records, RecordsError};
