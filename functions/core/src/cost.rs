//! The cost model: what a run cost and what it saved against keeping the
//! same resources running 24/7 for one schedule interval.
//!
//! Prices are on-demand Linux (EC2) and Single-AZ PostgreSQL (RDS) hourly
//! list prices in USD, for the regions and types below. They change: check
//! them against the AWS price list for your region and set
//! `PRICE_OVERRIDES` (type -> USD per hour, any region) for anything missing
//! or different. Storage is not counted: it is billed whether the DB runs or
//! not. A type with no known price is reported as unpriced, and no cost
//! figure is published for that run rather than a wrong one.

use std::collections::BTreeMap;

use serde::Serialize;

/// `(region, instance type or DB class, USD per hour)`.
const PRICES: &[(&str, &str, f64)] = &[
    ("us-east-1", "t3.micro", 0.0104),
    ("us-east-1", "t3.small", 0.0208),
    ("us-east-1", "t3.medium", 0.0416),
    ("us-east-1", "t3.large", 0.0832),
    ("us-east-1", "t4g.small", 0.0168),
    ("us-east-1", "t4g.medium", 0.0336),
    ("us-east-1", "m5.large", 0.096),
    ("us-east-1", "db.t3.micro", 0.018),
    ("us-east-1", "db.t3.small", 0.036),
    ("us-east-1", "db.t3.medium", 0.072),
    ("us-east-1", "db.t4g.micro", 0.016),
    ("us-east-1", "db.t4g.small", 0.032),
    ("us-east-1", "db.t4g.medium", 0.065),
    ("ap-northeast-2", "t3.micro", 0.013),
    ("ap-northeast-2", "t3.small", 0.026),
    ("ap-northeast-2", "t3.medium", 0.052),
    ("ap-northeast-2", "t3.large", 0.104),
];

/// USD per hour for `kind` in `region`; an override wins.
pub fn hourly_price(region: &str, kind: &str, overrides: &BTreeMap<String, f64>) -> Option<f64> {
    overrides.get(kind).copied().or_else(|| {
        PRICES
            .iter()
            .find(|(r, k, _)| *r == region && *k == kind)
            .map(|(_, _, price)| *price)
    })
}

/// One resource's running time in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub resource_id: String,
    /// Instance type or DB class; `None` when the run never learnt it.
    pub kind: Option<String>,
    pub running_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceCost {
    pub resource_id: String,
    pub kind: Option<String>,
    pub running_seconds: f64,
    pub usd_per_hour: Option<f64>,
    pub cost_usd: Option<f64>,
    pub always_on_usd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCost {
    pub resources: Vec<ResourceCost>,
    /// `None` when any resource has no known price.
    pub cost_usd: Option<f64>,
    /// What running the same resources 24/7 for one schedule interval
    /// would cost, minus what this run cost.
    pub saved_usd: Option<f64>,
    pub unpriced: Vec<String>,
}

pub fn run_cost(
    usages: &[Usage],
    region: &str,
    overrides: &BTreeMap<String, f64>,
    schedule_interval_hours: f64,
) -> RunCost {
    let resources: Vec<ResourceCost> = usages
        .iter()
        .map(|usage| {
            let price = usage
                .kind
                .as_deref()
                .and_then(|kind| hourly_price(region, kind, overrides));
            ResourceCost {
                resource_id: usage.resource_id.clone(),
                kind: usage.kind.clone(),
                running_seconds: usage.running_seconds,
                usd_per_hour: price,
                cost_usd: price.map(|p| p * usage.running_seconds / 3600.0),
                always_on_usd: price.map(|p| p * schedule_interval_hours),
            }
        })
        .collect();
    let unpriced: Vec<String> = resources
        .iter()
        .filter(|r| r.usd_per_hour.is_none())
        .map(|r| match &r.kind {
            Some(kind) => format!("{} ({kind})", r.resource_id),
            None => format!("{} (type unknown)", r.resource_id),
        })
        .collect();
    let (cost_usd, saved_usd) = if unpriced.is_empty() {
        let cost: f64 = resources.iter().filter_map(|r| r.cost_usd).sum();
        let always_on: f64 = resources.iter().filter_map(|r| r.always_on_usd).sum();
        (Some(cost), Some(always_on - cost))
    } else {
        (None, None)
    };
    RunCost {
        resources,
        cost_usd,
        saved_usd,
        unpriced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    fn usage(id: &str, kind: &str, seconds: f64) -> Usage {
        Usage {
            resource_id: id.into(),
            kind: Some(kind.into()),
            running_seconds: seconds,
        }
    }

    #[test]
    fn prices_come_from_the_table_and_overrides_win() {
        let none = BTreeMap::new();
        assert_eq!(hourly_price("us-east-1", "t3.medium", &none), Some(0.0416));
        assert_eq!(
            hourly_price("ap-northeast-2", "t3.medium", &none),
            Some(0.052)
        );
        assert_eq!(hourly_price("eu-west-1", "t3.medium", &none), None);
        let overrides = BTreeMap::from([("t3.medium".to_string(), 0.05)]);
        assert_eq!(
            hourly_price("eu-west-1", "t3.medium", &overrides),
            Some(0.05)
        );
    }

    #[test]
    fn a_run_against_a_four_hour_interval() {
        // Worker t3.medium in us-east-1 ($0.0416/h) ran 30 minutes:
        //   cost 0.0416 * 0.5 = 0.0208; 24/7 for 4 h = 0.1664.
        // DB db.t3.micro ($0.018/h) ran 45 minutes:
        //   cost 0.018 * 0.75 = 0.0135; 24/7 for 4 h = 0.072.
        // Run cost 0.0343; saved (0.1664 + 0.072) - 0.0343 = 0.2041.
        let usages = [
            usage("i-0123456789abcdef0", "t3.medium", 1800.0),
            usage("makenaide-db", "db.t3.micro", 2700.0),
        ];
        let cost = run_cost(&usages, "us-east-1", &BTreeMap::new(), 4.0);
        assert!(close(cost.resources[0].cost_usd.unwrap(), 0.0208));
        assert!(close(cost.resources[1].always_on_usd.unwrap(), 0.072));
        assert!(close(cost.cost_usd.unwrap(), 0.0343));
        assert!(close(cost.saved_usd.unwrap(), 0.2041));
        assert!(cost.unpriced.is_empty());
    }

    #[test]
    fn two_workers_with_an_override_in_seoul() {
        // Two t3.large at $0.104/h for 1 h each = 0.208; DB overridden to
        // $0.025/h for 1.5 h = 0.0375. Interval 6 h: always-on
        // 2 * 0.624 + 0.15 = 1.398; saved 1.398 - 0.2455 = 1.1525.
        let usages = [
            usage("i-11111111", "t3.large", 3600.0),
            usage("i-22222222", "t3.large", 3600.0),
            usage("db", "db.t3.micro", 5400.0),
        ];
        let overrides = BTreeMap::from([("db.t3.micro".to_string(), 0.025)]);
        let cost = run_cost(&usages, "ap-northeast-2", &overrides, 6.0);
        assert!(close(cost.cost_usd.unwrap(), 0.2455));
        assert!(close(cost.saved_usd.unwrap(), 1.1525));
    }

    #[test]
    fn an_unknown_price_publishes_no_total() {
        let usages = [
            usage("i-11111111", "t3.medium", 600.0),
            usage("db", "db.r6g.large", 600.0),
            Usage {
                resource_id: "i-22222222".into(),
                kind: None,
                running_seconds: 5.0,
            },
        ];
        let cost = run_cost(&usages, "us-east-1", &BTreeMap::new(), 4.0);
        assert_eq!(cost.cost_usd, None);
        assert_eq!(cost.saved_usd, None);
        assert_eq!(
            cost.unpriced,
            ["db (db.r6g.large)", "i-22222222 (type unknown)"]
        );
        assert!(close(cost.resources[0].cost_usd.unwrap(), 0.0416 / 6.0));
    }
}
