//! A classified channel priced: each line's per-hour rate from the price table, or none
//! (unpriced). What a running hour of the channel costs is the sum of the priced lines; the
//! unpriced ones are named, never counted as zero.

use chrono::NaiveDate;
use serde::Serialize;

use super::billing::at_rate;
use super::class::{Channel, Class};
use super::prices::PriceTable;
use crate::config::workflow::ChannelClass;

/// One line of the channel with its rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rated {
    pub class: Class,
    /// `input`, `backup input`, a rendition's name.
    pub what: String,
    /// Dollars per hour; `None` when the table has no figure for this class here.
    pub per_hour: Option<f64>,
}

/// Lines of the same class, counted (how a reply lists them).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub class: Class,
    pub count: usize,
    /// Of one; `None`: unpriced.
    pub per_hour: Option<f64>,
    /// The lines' names (`1280x720`), in order.
    pub what: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    pub region: String,
    #[serde(serialize_with = "super::class::channel_class_name")]
    pub channel_class: ChannelClass,
    /// The price table's date.
    pub as_of: NaiveDate,
    pub lines: Vec<Rated>,
}

impl Rates {
    pub fn of(channel: &Channel, table: &PriceTable, region: &str) -> Rates {
        let lines = channel
            .lines
            .iter()
            .map(|l| Rated {
                class: l.class,
                what: l.what.clone(),
                per_hour: table.medialive(region, channel.channel_class, &l.class),
            })
            .collect();
        Rates { region: region.to_string(), channel_class: channel.channel_class, as_of: table.as_of, lines }
    }

    /// Dollars per running hour, of the priced lines.
    pub fn per_hour(&self) -> f64 {
        // Folded from +0.0: an empty f64 sum is -0.0, which prints as "$-0.00".
        self.lines.iter().filter_map(|l| l.per_hour).fold(0.0, |a, b| a + b)
    }

    /// Dollars for a run billed `minutes` (every line runs as long as the channel).
    pub fn cost(&self, minutes: u64) -> f64 {
        at_rate(minutes, self.per_hour())
    }

    /// The lines grouped by class, in the order each class first appears.
    pub fn groups(&self) -> Vec<Group> {
        let mut out: Vec<Group> = Vec::new();
        for l in &self.lines {
            match out.iter_mut().find(|g| g.class == l.class) {
                Some(g) => {
                    g.count += 1;
                    g.what.push(l.what.clone());
                }
                None => out.push(Group { class: l.class, count: 1, per_hour: l.per_hour, what: vec![l.what.clone()] }),
            }
        }
        out
    }

    /// `unpriced: <class>` for each class the table does not price, with how many lines.
    pub fn unpriced(&self) -> Vec<String> {
        self.groups()
            .into_iter()
            .filter(|g| g.per_hour.is_none())
            .map(|g| {
                let n = if g.count > 1 { format!("{} × ", g.count) } else { String::new() };
                format!(
                    "unpriced: {n}{} ({}, {} {})",
                    g.class.key(),
                    g.what.join(", "),
                    self.channel_class.as_str(),
                    self.region
                )
            })
            .collect()
    }
}
