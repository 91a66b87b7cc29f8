//! The dated price table: a TOML snapshot (`config/prices.toml`, or the file `[cost] prices`
//! names) of the per-hour MediaLive prices per region and channel class, the MediaPackage
//! per-GB prices per region and CloudFront's. Read with the configuration's collecting
//! reader, so every problem is reported at once as `file:line:col: key: message`.
//!
//! A figure the table does not have is `None`, never zero: the estimate reports the line as
//! unpriced. Without `[cost] prices` and without a `prices.toml` beside ottd.toml, the table
//! shipped with ottd (compiled in) is used.

use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use super::class::Class;
use crate::config::doc::{Diags, Source, Value};
use crate::config::reader::{Ctx, Table};
use crate::config::settings::CostSettings;
use crate::config::workflow::ChannelClass;

/// The table shipped with ottd, used when the configuration names none.
pub const BUILT_IN: &str = include_str!("../../config/prices.toml");
/// What the built-in table is called in messages.
pub const BUILT_IN_NAME: &str = "config/prices.toml (built in)";

/// One MediaLive figure: dollars per hour of one resource of `class`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MediaLivePrice {
    pub region: String,
    #[serde(serialize_with = "super::class::channel_class_name")]
    pub channel_class: ChannelClass,
    pub class: Class,
    pub per_hour: f64,
}

/// MediaPackage (v1) live prices of one region, dollars per GB.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PackagePrices {
    pub ingest_per_gb: Option<f64>,
    pub origination_per_gb: Option<f64>,
}

/// CloudFront's prices (global; data transfer depends on where the viewers are).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CloudFrontPrices {
    pub transfer_out_per_gb: Option<f64>,
    pub https_requests_per_10k: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PriceTable {
    /// Where it was read from: a path, or [`BUILT_IN_NAME`].
    pub origin: String,
    /// The day the figures were read: every estimate says how old its prices are.
    pub as_of: NaiveDate,
    pub source: String,
    pub currency: String,
    pub medialive: Vec<MediaLivePrice>,
    /// By region.
    pub mediapackage: Vec<(String, PackagePrices)>,
    pub cloudfront: CloudFrontPrices,
}

impl PriceTable {
    /// The per-hour price of one resource of `class` on a `channel_class` channel in `region`.
    pub fn medialive(&self, region: &str, channel_class: ChannelClass, class: &Class) -> Option<f64> {
        self.medialive
            .iter()
            .find(|p| p.region == region && p.channel_class == channel_class && p.class == *class)
            .map(|p| p.per_hour)
    }

    /// MediaPackage's prices in `region` (all `None` when the table has none for it).
    pub fn mediapackage(&self, region: &str) -> PackagePrices {
        self.mediapackage.iter().find(|(r, _)| r == region).map(|(_, p)| p.clone()).unwrap_or_default()
    }

    /// The built-in table.
    pub fn built_in() -> Result<PriceTable, Diags> {
        parse(&Source::inline(BUILT_IN_NAME, BUILT_IN))
    }
}

/// The table the configuration names: `[cost] prices`, else `prices.toml` beside ottd.toml if
/// there is one, else the built-in one.
pub fn load(settings: &CostSettings) -> Result<PriceTable, Diags> {
    if settings.explicit || settings.prices.exists() {
        return load_file(&settings.prices);
    }
    PriceTable::built_in()
}

pub fn load_file(path: &Path) -> Result<PriceTable, Diags> {
    parse(&Source::read(path)?)
}

/// Parse a price table, reporting every problem with its file, line, column and key.
pub fn parse(src: &Source) -> Result<PriceTable, Diags> {
    let root = src.parse_toml()?;
    let ctx = Ctx::new(src);
    let table = {
        let t = ctx.root(&root);
        compile(&t, &src.file.display().to_string())
    };
    match (ctx.into_diags(), table) {
        (d, Some(t)) if d.is_empty() => Ok(t),
        (d, _) => Err(d),
    }
}

/// A price: a number, not negative.
fn price(t: &Table<'_, '_, '_>, key: &str) -> Option<f64> {
    let v = t.float(key)?;
    if v.is_finite() && v >= 0.0 {
        Some(v)
    } else {
        t.error(key, format!("{v} is not a price: dollars, zero or more"));
        None
    }
}

fn as_of(t: &Table<'_, '_, '_>) -> Option<NaiveDate> {
    let Some(node) = t.raw("as_of") else {
        t.error("as_of", "required key is missing: the day the figures were read, such as 2026-09-18");
        return None;
    };
    let text = match &node.value {
        Value::Datetime(s) | Value::Str(s) => s.as_str(),
        _ => {
            t.error("as_of", format!("expected a date such as 2026-09-18, found {}", node.type_name()));
            return None;
        }
    };
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| t.error("as_of", format!("`{text}` is not a date such as 2026-09-18")))
        .ok()
}

fn compile(t: &Table<'_, '_, '_>, origin: &str) -> Option<PriceTable> {
    let as_of = as_of(t);
    let source = t.req_str("source");
    let currency = t.str("currency").unwrap_or_else(|| "USD".to_string());
    if currency != "USD" {
        t.error("currency", format!("`{currency}` is not USD: ottd prices in dollars"));
    }
    let mut medialive = Vec::new();
    if let Some(ml) = t.table("medialive") {
        for region in ml.keys() {
            let Some(rt) = ml.table(region) else { continue };
            for class_key in rt.keys() {
                let Some(ct) = rt.table(class_key) else { continue };
                let channel_class = ChannelClass::parse(class_key);
                if channel_class.is_none() {
                    rt.error(
                        class_key,
                        format!("`{class_key}` is not a channel class: one of {}", ChannelClass::ALL.join(", ")),
                    );
                }
                for line in ct.keys() {
                    let class = Class::parse(line).map_err(|e| ct.error(line, e)).ok();
                    let per_hour = price(&ct, line);
                    if let (Some(channel_class), Some(class), Some(per_hour)) = (channel_class, class, per_hour) {
                        if medialive.iter().any(|p: &MediaLivePrice| {
                            p.region == region && p.channel_class == channel_class && p.class == class
                        }) {
                            ct.error(line, "this class is priced twice");
                        }
                        medialive.push(MediaLivePrice { region: region.to_string(), channel_class, class, per_hour });
                    }
                }
            }
        }
    }
    let mut mediapackage = Vec::new();
    if let Some(mp) = t.table("mediapackage") {
        for region in mp.keys() {
            let Some(rt) = mp.table(region) else { continue };
            let prices = PackagePrices {
                ingest_per_gb: price(&rt, "ingest_per_gb"),
                origination_per_gb: price(&rt, "origination_per_gb"),
            };
            mediapackage.push((region.to_string(), prices));
        }
    }
    let cloudfront = match t.table("cloudfront") {
        Some(cf) => CloudFrontPrices {
            transfer_out_per_gb: price(&cf, "transfer_out_per_gb"),
            https_requests_per_10k: price(&cf, "https_requests_per_10k"),
        },
        None => CloudFrontPrices::default(),
    };
    Some(PriceTable {
        origin: origin.to_string(),
        as_of: as_of?,
        source: source?,
        currency,
        medialive,
        mediapackage,
        cloudfront,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_loads_with_its_date_and_the_facts_figures() {
        let t = PriceTable::built_in().unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(t.as_of, NaiveDate::from_ymd_opt(2026, 9, 18).expect("date"));
        let class = |k: &str| Class::parse(k).expect("class");
        let single = ChannelClass::SinglePipeline;
        assert_eq!(t.medialive("us-east-1", single, &class("INPUT AVC HD MAX_10_MBPS")), Some(0.1404));
        let sd = class("OUTPUT AVC SD MAX_10_MBPS MAX_30_FPS STANDARD");
        assert_eq!(t.medialive("us-east-1", ChannelClass::Standard, &sd), Some(0.3540));
        assert_eq!(t.medialive("eu-west-1", single, &sd), None, "no figure for another region");
        assert_eq!(t.mediapackage("us-east-1").ingest_per_gb, Some(0.03));
        assert_eq!(t.cloudfront.transfer_out_per_gb, None, "not in the source: unpriced, not zero");
        assert_eq!(t.cloudfront.https_requests_per_10k, Some(0.01));
    }

    #[test]
    fn every_problem_is_named_with_file_line_and_key() {
        let text = "as_of = \"18 Sep\"\ncurrency = \"EUR\"\n[medialive.us-east-1.SINGLE]\n\"INPUT AVC HD MAX_10_MBPS\" = 0.1\n[medialive.us-east-1.STANDARD]\n\"INPUT AVC QHD MAX_10_MBPS\" = 0.2\n\"OUTPUT AVC HD MAX_10_MBPS MAX_30_FPS STANDARD\" = -1\n\"INPUT AVC SD MAX_10_MBPS\" = \"cheap\"\n[mediapackage.us-east-1]\ningest_per_gb = 0.03\negress = 1\n";
        let err = parse(&Source::inline("p.toml", text)).expect_err("invalid").to_string();
        let want = [
            "p.toml:1:9: as_of: `18 Sep` is not a date such as 2026-09-18",
            "p.toml:1:1: source: required key is missing",
            "p.toml:2:12: currency: `EUR` is not USD: ottd prices in dollars",
            "medialive.us-east-1.SINGLE: `SINGLE` is not a channel class: one of STANDARD, SINGLE_PIPELINE",
            "p.toml:6:31: medialive.us-east-1.STANDARD.INPUT AVC QHD MAX_10_MBPS: `QHD` is not a resolution",
            "p.toml:7:51: medialive.us-east-1.STANDARD.OUTPUT AVC HD MAX_10_MBPS MAX_30_FPS STANDARD: -1 is not a price",
            "p.toml:8:30: medialive.us-east-1.STANDARD.INPUT AVC SD MAX_10_MBPS: expected a number, found string",
            "p.toml:11:10: mediapackage.us-east-1.egress: unknown key",
        ];
        for w in want {
            assert!(err.contains(w), "missing {w:?} in:\n{err}");
        }
    }

    #[test]
    fn a_table_named_in_the_configuration_must_exist_one_beside_it_is_optional() {
        let dir = tempfile::tempdir().expect("tmp");
        let prices = dir.path().join("prices.toml");
        let implicit = CostSettings { prices: prices.clone(), explicit: false };
        assert_eq!(load(&implicit).map(|t| t.origin), Ok(BUILT_IN_NAME.to_string()));
        let explicit = CostSettings { prices: prices.clone(), explicit: true };
        let err = load(&explicit).expect_err("missing").to_string();
        assert!(err.contains("prices.toml:0:0: cannot read file"), "{err}");
        std::fs::write(&prices, "as_of = 2027-01-02\nsource = \"by hand\"\n").expect("write");
        let t = load(&implicit).unwrap_or_else(|d| panic!("{d}"));
        assert_eq!((t.origin, t.as_of.to_string()), (prices.display().to_string(), "2027-01-02".to_string()));
    }
}
