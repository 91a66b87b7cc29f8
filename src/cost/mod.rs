//! What an event costs: before it runs (an estimate from its definition and a dated price
//! table) and after (its channel's recorded runs, billed as MediaLive bills them).
//!
//! Layout, in the order the data flows:
//! - [`class`]: each input and output encode of the channel classified as MediaLive bills it.
//! - [`prices`]: the dated price table (TOML), per region and channel class.
//! - [`rates`]: a classified channel priced line by line; unpriced lines named, never zero.
//! - [`billing`]: minutes rounded up with the 10-minute minimum; how amounts are written.
//! - [`estimate`]: the planned window (lead and tail included), MediaPackage ingest, and
//!   origination and CloudFront as a range over an audience.
//! - [`actual`]: runs derived from the audit trail and the recorded phase, each billed.
//! - [`report`]: the replies' text.
//!
//! Everything here is pure: the operations layer reads the configuration, the price table
//! file and the state, and passes them in. Nothing here calls AWS or writes anything.

pub mod actual;
pub mod billing;
pub mod class;
pub mod estimate;
pub mod prices;
pub mod rates;
pub mod report;

#[cfg(test)]
mod tests;

pub use actual::{Facts, Run, RunCost};
pub use estimate::{Estimate, DEFAULT_AUDIENCE};
pub use prices::PriceTable;
pub use rates::Rates;

/// The region prices are looked up in: `[aws] region`, else the standard `AWS_REGION` /
/// `AWS_DEFAULT_REGION` (as the SDK would pick it), else `us-east-1` (said in the reply as
/// an assumption by the caller).
pub fn region(configured: Option<&str>) -> (String, bool) {
    if let Some(r) = configured {
        return (r.to_string(), true);
    }
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(r) = std::env::var(var).ok().filter(|r| !r.is_empty()) {
            return (r, true);
        }
    }
    ("us-east-1".to_string(), false)
}
