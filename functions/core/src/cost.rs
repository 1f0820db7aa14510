//! The cost model: what a run cost (its resources with AWS's billing
//! minimums, plus the orchestrator's own Lambda, Step Functions and
//! CloudWatch usage), what the same resources cost per hour always on, and
//! the savings of a period computed from what the runs published.
//!
//! Prices come from one place, the table `functions/core/prices/prices.tsv`
//! (compiled in; `make prices REGION=...` regenerates a region's EC2 and RDS
//! rows from the AWS Price List offer files). `PRICE_OVERRIDES` wins over it.
//! Storage is not counted: it is billed whether the DB runs or not. A
//! resource or component without a price makes the run unpriced: no cost is
//! published rather than a wrong one.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Serialize;

use crate::timestamp::Timestamp;

const TABLE: &str = include_str!("../prices/prices.tsv");
/// The orchestrator's own services cost the same in most regions; a region
/// without its own row for them uses this one's (recorded in the result).
const FALLBACK_REGION: &str = "us-east-1";
const SECONDS_PER_HOUR: f64 = 3600.0;

/// The price table, by (region, service, type, deployment).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    usd: BTreeMap<Key, f64>,
}

impl PriceTable {
    /// Reads the tab-separated table (see the header of `prices.tsv`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut usd = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() || line.starts_with("region\t") {
                continue;
            }
            let fields: Vec<&str> = line.split('\t').collect();
            let [
                region,
                service,
                kind,
                deployment,
                _unit,
                price,
                _source,
                _date,
            ] = fields[..]
            else {
                return Err(format!(
                    "line {}: expected 8 tab-separated fields",
                    number + 1
                ));
            };
            let price: f64 = price
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| format!("line {}: bad price {price:?}", number + 1))?;
            if usd
                .insert(key(region, service, kind, deployment), price)
                .is_some()
            {
                return Err(format!(
                    "line {}: a second price for the same row",
                    number + 1
                ));
            }
        }
        Ok(Self { usd })
    }

    /// The compiled-in table. A table that does not parse (a test keeps this
    /// from shipping) prices nothing rather than failing the step.
    pub fn builtin() -> &'static PriceTable {
        static TABLE_CELL: OnceLock<PriceTable> = OnceLock::new();
        TABLE_CELL.get_or_init(|| {
            PriceTable::parse(TABLE).unwrap_or_else(|error| {
                tracing::error!(%error, "the built-in price table does not parse; nothing is priced");
                PriceTable::default()
            })
        })
    }

    pub fn get(&self, region: &str, service: &str, kind: &str, deployment: &str) -> Option<f64> {
        self.usd
            .get(&key(region, service, kind, deployment))
            .copied()
    }

    /// An orchestrator service's price: the region's own, else the fallback
    /// region's; with the region the price came from.
    fn service_price(&self, region: &str, service: &str, kind: &str) -> Option<(f64, String)> {
        [region, FALLBACK_REGION]
            .into_iter()
            .find_map(|r| self.get(r, service, kind, "-").map(|p| (p, r.to_string())))
    }
}

type Key = (String, String, String, String);

fn key(region: &str, service: &str, kind: &str, deployment: &str) -> Key {
    (
        region.to_string(),
        service.to_string(),
        kind.to_string(),
        deployment.to_string(),
    )
}

/// What kind of resource, as AWS bills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Service {
    /// An EC2 Linux instance: per second, at least 60 s per start.
    Ec2,
    /// An RDS DB instance: per second, at least 10 minutes after each start.
    Rds,
}

impl Service {
    /// The billing minimum of one start, as the AWS user guides state it:
    /// EC2 per-second billing, "a minimum of 60 seconds each time a new
    /// instance is started"; RDS ("On-Demand DB instances for Amazon RDS"),
    /// per second "with a minimum of 10 minutes" after a billable change such
    /// as a start.
    pub const fn minimum_seconds_per_start(self) -> f64 {
        match self {
            Self::Ec2 => 60.0,
            Self::Rds => 600.0,
        }
    }

    const fn table_name(self) -> &'static str {
        match self {
            Self::Ec2 => "ec2",
            Self::Rds => "rds",
        }
    }
}

/// How an RDS DB instance is deployed; a Multi-AZ one bills its standby too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deployment {
    SingleAz,
    MultiAz,
}

impl Deployment {
    pub const fn from_multi_az(multi_az: bool) -> Self {
        if multi_az {
            Self::MultiAz
        } else {
            Self::SingleAz
        }
    }

    const fn table_name(self) -> &'static str {
        match self {
            Self::SingleAz => "single-az",
            Self::MultiAz => "multi-az",
        }
    }
}

/// One resource's running time in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub resource_id: String,
    pub service: Service,
    /// Instance type or DB class; `None` when the run never learnt it.
    pub kind: Option<String>,
    /// RDS only; `None` when the run never learnt it.
    pub deployment: Option<Deployment>,
    pub running_seconds: f64,
    /// This run started it, so this run pays its billing minimum.
    pub started_by_run: bool,
}

impl Usage {
    /// Seconds AWS bills: the running time, and at least the minimum of one
    /// start when this run started it.
    pub fn billed_seconds(&self) -> f64 {
        if self.started_by_run && self.running_seconds > 0.0 {
            self.running_seconds
                .max(self.service.minimum_seconds_per_start())
        } else {
            self.running_seconds
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceCost {
    pub resource_id: String,
    pub service: Service,
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    pub running_seconds: f64,
    pub billed_seconds: f64,
    /// Also its always-on rate.
    pub usd_per_hour: Option<f64>,
    pub cost_usd: Option<f64>,
}

/// What the orchestrator itself used in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct OrchestratorUsage {
    pub state_transitions: u32,
    pub lambda_invocations: u32,
    /// `None` when the functions' memory size is unknown.
    pub lambda_gb_seconds: Option<f64>,
    /// `arm64` or `x86_64` (the table's `lambda` types `<arch>-gb-second`).
    pub lambda_architecture: &'static str,
    pub put_metric_data_requests: u32,
}

/// One line of the orchestrator's own cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentCost {
    pub component: &'static str,
    pub quantity: Option<f64>,
    pub unit: &'static str,
    pub usd_per_unit: Option<f64>,
    /// The region whose price was used (see `FALLBACK_REGION`).
    pub price_region: Option<String>,
    pub cost_usd: Option<f64>,
}

/// The cost block of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunCost {
    pub region: String,
    /// Resources plus orchestrator; `None` when anything is unpriced.
    pub total_usd: Option<f64>,
    pub resources_usd: Option<f64>,
    pub orchestrator_usd: Option<f64>,
    /// What the same resources cost per hour kept running; `None` when one
    /// is unpriced.
    pub always_on_usd_per_hour: Option<f64>,
    pub resources: Vec<ResourceCost>,
    pub orchestrator: Vec<ComponentCost>,
    pub unpriced: Vec<String>,
}

/// USD per hour of a resource: an override by type wins; then the table
/// for the region (RDS by deployment). An override is the price as deployed.
pub fn hourly_price(
    usage: &Usage,
    region: &str,
    overrides: &BTreeMap<String, f64>,
    table: &PriceTable,
) -> Result<f64, &'static str> {
    let kind = usage.kind.as_deref().ok_or("type unknown")?;
    if let Some(price) = overrides.get(kind) {
        return Ok(*price);
    }
    let deployment = match usage.service {
        Service::Ec2 => "-",
        Service::Rds => usage.deployment.ok_or("deployment unknown")?.table_name(),
    };
    table
        .get(region, usage.service.table_name(), kind, deployment)
        .ok_or("no price for this region")
}

fn component(
    component: &'static str,
    quantity: Option<f64>,
    unit: &'static str,
    price: Option<(f64, String)>,
) -> ComponentCost {
    ComponentCost {
        component,
        quantity,
        unit,
        usd_per_unit: price.as_ref().map(|(p, _)| *p),
        price_region: price.as_ref().map(|(_, r)| r.clone()),
        cost_usd: quantity.zip(price.as_ref()).map(|(q, (p, _))| q * p),
    }
}

/// The orchestrator's own cost, line by line.
pub fn orchestrator_cost(
    usage: &OrchestratorUsage,
    region: &str,
    table: &PriceTable,
) -> Vec<ComponentCost> {
    let gb_second = format!("{}-gb-second", usage.lambda_architecture);
    vec![
        component(
            "stepFunctionsTransitions",
            Some(f64::from(usage.state_transitions)),
            "transition",
            table.service_price(region, "stepfunctions", "standard-transition"),
        ),
        component(
            "lambdaDuration",
            usage.lambda_gb_seconds,
            "gb-second",
            table.service_price(region, "lambda", &gb_second),
        ),
        component(
            "lambdaRequests",
            Some(f64::from(usage.lambda_invocations)),
            "request",
            table.service_price(region, "lambda", "request"),
        ),
        component(
            "putMetricDataRequests",
            Some(f64::from(usage.put_metric_data_requests)),
            "request",
            table.service_price(region, "cloudwatch", "put-metric-data"),
        ),
    ]
}

pub fn run_cost(
    usages: &[Usage],
    orchestrator: &OrchestratorUsage,
    region: &str,
    overrides: &BTreeMap<String, f64>,
    table: &PriceTable,
) -> RunCost {
    let mut unpriced = Vec::new();
    let resources: Vec<ResourceCost> = usages
        .iter()
        .map(|usage| {
            let price = hourly_price(usage, region, overrides, table)
                .inspect_err(|why| {
                    let kind = usage.kind.as_deref().unwrap_or("?");
                    unpriced.push(format!("{} ({kind}: {why})", usage.resource_id));
                })
                .ok();
            let billed_seconds = usage.billed_seconds();
            ResourceCost {
                resource_id: usage.resource_id.clone(),
                service: usage.service,
                kind: usage.kind.clone(),
                deployment: usage.deployment,
                running_seconds: usage.running_seconds,
                billed_seconds,
                usd_per_hour: price,
                cost_usd: price.map(|p| p * billed_seconds / SECONDS_PER_HOUR),
            }
        })
        .collect();
    let orchestrator = orchestrator_cost(orchestrator, region, table);
    unpriced.extend(orchestrator.iter().filter(|c| c.cost_usd.is_none()).map(
        |c| match c.quantity {
            None => format!("{} (quantity unknown)", c.component),
            Some(_) => format!(
                "{} (no price for {region} or {FALLBACK_REGION})",
                c.component
            ),
        },
    ));
    // A sum of options is `None` as soon as one is.
    let resources_usd: Option<f64> = resources.iter().map(|r| r.cost_usd).sum();
    let orchestrator_usd: Option<f64> = orchestrator.iter().map(|c| c.cost_usd).sum();
    RunCost {
        region: region.to_string(),
        total_usd: resources_usd.zip(orchestrator_usd).map(|(r, o)| r + o),
        resources_usd,
        orchestrator_usd,
        always_on_usd_per_hour: resources.iter().map(|r| r.usd_per_hour).sum(),
        resources,
        orchestrator,
        unpriced,
    }
}

/// What one run published: `RunCostUsd` and, when it saw every resource,
/// `AlwaysOnUsdPerHour`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublishedRun {
    pub at: Timestamp,
    pub run_cost_usd: f64,
    pub always_on_usd_per_hour: Option<f64>,
}

/// The savings of consecutive periods from the published data points,
/// exactly as the dashboard's metric math computes them (cdk/lib/stack.ts,
/// `SAVINGS_EXPRESSION`):
///
/// `FILL(rate, REPEAT) * PERIOD(rate) / 3600 - FILL(cost, 0)`
///
/// with `cost` the Sum of `RunCostUsd` and `rate` the Average of
/// `AlwaysOnUsdPerHour` in each period. A period without a rate repeats the
/// last one; before the first rate in the range the rate counts as 0
/// (CloudWatch treats a missing value in arithmetic as 0). However many runs
/// a period has, its always-on baseline counts once.
pub fn savings_per_period(
    runs: &[PublishedRun],
    start: Timestamp,
    period_seconds: u64,
    periods: usize,
) -> Vec<f64> {
    let period = period_seconds as f64;
    let mut last_rate: Option<f64> = None;
    (0..periods)
        .map(|index| {
            let from = index as f64 * period;
            let in_period: Vec<&PublishedRun> = runs
                .iter()
                .filter(|run| {
                    let offset = run.at.seconds_since(start);
                    offset >= from && offset < from + period
                })
                .collect();
            let rates: Vec<f64> = in_period
                .iter()
                .filter_map(|run| run.always_on_usd_per_hour)
                .collect();
            if !rates.is_empty() {
                last_rate = Some(rates.iter().sum::<f64>() / rates.len() as f64);
            }
            let cost: f64 = in_period.iter().map(|run| run.run_cost_usd).sum();
            last_rate.unwrap_or(0.0) * period / SECONDS_PER_HOUR - cost
        })
        .collect()
}

/// The savings of the whole range: the last point of
/// `RUNNING_SUM(saved)` on the dashboard's daily graph.
pub fn savings_over(
    runs: &[PublishedRun],
    start: Timestamp,
    period_seconds: u64,
    periods: usize,
) -> f64 {
    savings_per_period(runs, start, period_seconds, periods)
        .into_iter()
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// A table with only what a test names, so the tests do not move when the
    /// committed prices are regenerated.
    fn table() -> PriceTable {
        PriceTable::parse(
            "# test table\n\
             region\tservice\ttype\tdeployment\tunit\tusd\tsource\tdate\n\
             us-east-1\tec2\tt3.medium\t-\thour\t0.0416\tt\t2026-01-01\n\
             us-east-1\trds\tdb.t4g.micro\tsingle-az\thour\t0.016\tt\t2026-01-01\n\
             us-east-1\trds\tdb.t4g.micro\tmulti-az\thour\t0.032\tt\t2026-01-01\n\
             ap-northeast-2\tec2\tt3.medium\t-\thour\t0.052\tt\t2026-01-01\n\
             us-east-1\tstepfunctions\tstandard-transition\t-\ttransition\t0.000025\tt\t2026-01-01\n\
             ap-northeast-2\tstepfunctions\tstandard-transition\t-\ttransition\t0.0000271\tt\t2026-01-01\n\
             us-east-1\tlambda\tarm64-gb-second\t-\tgb-second\t0.0000133334\tt\t2026-01-01\n\
             us-east-1\tlambda\trequest\t-\trequest\t0.0000002\tt\t2026-01-01\n\
             us-east-1\tcloudwatch\tput-metric-data\t-\trequest\t0.00001\tt\t2026-01-01\n",
        )
        .unwrap()
    }

    fn worker(id: &str, kind: &str, seconds: f64, started: bool) -> Usage {
        Usage {
            resource_id: id.into(),
            service: Service::Ec2,
            kind: Some(kind.into()),
            deployment: None,
            running_seconds: seconds,
            started_by_run: started,
        }
    }

    fn db(kind: &str, deployment: Option<Deployment>, seconds: f64, started: bool) -> Usage {
        Usage {
            resource_id: "db".into(),
            service: Service::Rds,
            kind: Some(kind.into()),
            deployment,
            running_seconds: seconds,
            started_by_run: started,
        }
    }

    /// 23 transitions, 7 invocations of 1 s at 128 MB, one PutMetricData.
    fn orchestrator() -> OrchestratorUsage {
        OrchestratorUsage {
            state_transitions: 23,
            lambda_invocations: 7,
            lambda_gb_seconds: Some(7.0 * 0.125),
            lambda_architecture: "arm64",
            put_metric_data_requests: 1,
        }
    }

    // 23 * 0.000025 + 0.875 * 0.0000133334 + 7 * 0.0000002 + 0.00001
    const ORCHESTRATOR_US_EAST_1: f64 = 0.000575 + 0.00001166672 + 0.0000014 + 0.00001;

    #[test]
    fn the_committed_table_parses_and_prices_the_sandbox_types() {
        let table = PriceTable::parse(TABLE).unwrap();
        assert_eq!(PriceTable::builtin(), &table);
        // The sandbox's happy path runs a t3.medium and a db.t3.micro in us-east-1.
        assert!(table.get("us-east-1", "ec2", "t3.medium", "-").is_some());
        assert!(
            table
                .get("us-east-1", "rds", "db.t3.micro", "single-az")
                .is_some()
        );
        assert!(
            table
                .get("us-east-1", "stepfunctions", "standard-transition", "-")
                .is_some()
        );
    }

    #[test]
    fn a_malformed_table_is_refused() {
        assert!(PriceTable::parse("us-east-1\tec2\tt3.medium\n").is_err());
        let negative = "us-east-1\tec2\tt3.medium\t-\thour\t-1\ts\td\n";
        assert!(
            PriceTable::parse(negative)
                .unwrap_err()
                .contains("bad price")
        );
        let twice = "us-east-1\tec2\tt3.medium\t-\thour\t1\ts\td\n".repeat(2);
        assert!(
            PriceTable::parse(&twice)
                .unwrap_err()
                .contains("second price")
        );
    }

    #[test]
    fn prices_by_region_and_deployment_and_overrides_win() {
        let none = BTreeMap::new();
        let t = table();
        let price =
            |u: &Usage, region: &str, o: &BTreeMap<String, f64>| hourly_price(u, region, o, &t);
        let medium = worker("i-1", "t3.medium", 1.0, true);
        assert_eq!(price(&medium, "us-east-1", &none), Ok(0.0416));
        assert_eq!(price(&medium, "ap-northeast-2", &none), Ok(0.052));
        assert_eq!(
            price(&medium, "eu-west-1", &none),
            Err("no price for this region")
        );
        let single = db("db.t4g.micro", Some(Deployment::SingleAz), 1.0, true);
        let multi = db("db.t4g.micro", Some(Deployment::MultiAz), 1.0, true);
        assert_eq!(price(&single, "us-east-1", &none), Ok(0.016));
        assert_eq!(price(&multi, "us-east-1", &none), Ok(0.032));
        let unknown = db("db.t4g.micro", None, 1.0, true);
        assert_eq!(
            price(&unknown, "us-east-1", &none),
            Err("deployment unknown")
        );
        let overrides = BTreeMap::from([("t3.medium".to_string(), 0.05)]);
        assert_eq!(price(&medium, "eu-west-1", &overrides), Ok(0.05));
        assert_eq!(price(&medium, "us-east-1", &overrides), Ok(0.05));
    }

    #[test]
    fn billing_minimums_apply_to_what_the_run_started() {
        // EC2 Linux: at least 60 s per start; RDS: at least 10 minutes.
        assert_eq!(worker("i", "t3.medium", 12.0, true).billed_seconds(), 60.0);
        assert_eq!(worker("i", "t3.medium", 75.5, true).billed_seconds(), 75.5);
        assert_eq!(db("d", None, 120.0, true).billed_seconds(), 600.0);
        assert_eq!(db("d", None, 900.0, true).billed_seconds(), 900.0);
        // Already running when the run began: it was started (and billed its
        // minimum) before; a resource that never ran costs nothing.
        assert_eq!(db("d", None, 120.0, false).billed_seconds(), 120.0);
        assert_eq!(worker("i", "t3.medium", 0.0, true).billed_seconds(), 0.0);
    }

    #[test]
    fn a_short_run_pays_the_minimums_and_the_orchestrator() {
        // t3.medium ran 30 s (billed 60 s): 0.0416 / 60 = 0.00069333...
        // Multi-AZ db.t4g.micro ran 5 min (billed 10): 0.032 / 6 = 0.0053333...
        let usages = [
            worker("i-1", "t3.medium", 30.0, true),
            db("db.t4g.micro", Some(Deployment::MultiAz), 300.0, true),
        ];
        let cost = run_cost(
            &usages,
            &orchestrator(),
            "us-east-1",
            &BTreeMap::new(),
            &table(),
        );
        assert!(close(cost.resources[0].cost_usd.unwrap(), 0.0416 / 60.0));
        assert!(close(cost.resources[1].cost_usd.unwrap(), 0.032 / 6.0));
        assert_eq!(cost.resources[1].billed_seconds, 600.0);
        assert!(close(
            cost.orchestrator_usd.unwrap(),
            ORCHESTRATOR_US_EAST_1
        ));
        assert!(close(
            cost.total_usd.unwrap(),
            0.0416 / 60.0 + 0.032 / 6.0 + ORCHESTRATOR_US_EAST_1
        ));
        assert!(close(cost.always_on_usd_per_hour.unwrap(), 0.0416 + 0.032));
        assert!(cost.unpriced.is_empty(), "{:?}", cost.unpriced);
        let lines: Vec<(&str, Option<&str>)> = cost
            .orchestrator
            .iter()
            .map(|c| (c.component, c.price_region.as_deref()))
            .collect();
        assert_eq!(
            lines,
            [
                ("stepFunctionsTransitions", Some("us-east-1")),
                ("lambdaDuration", Some("us-east-1")),
                ("lambdaRequests", Some("us-east-1")),
                ("putMetricDataRequests", Some("us-east-1")),
            ]
        );
    }

    #[test]
    fn a_region_without_its_own_orchestrator_prices_uses_us_east_1() {
        let usages = [worker("i-1", "t3.medium", 3600.0, true)];
        let cost = run_cost(
            &usages,
            &orchestrator(),
            "ap-northeast-2",
            &BTreeMap::new(),
            &table(),
        );
        let transitions = &cost.orchestrator[0];
        assert_eq!(transitions.price_region.as_deref(), Some("ap-northeast-2"));
        assert!(close(transitions.cost_usd.unwrap(), 23.0 * 0.0000271));
        assert_eq!(
            cost.orchestrator[1].price_region.as_deref(),
            Some("us-east-1")
        );
        assert!(close(cost.resources_usd.unwrap(), 0.052));
    }

    #[test]
    fn anything_unpriced_publishes_no_total() {
        let usages = [
            worker("i-1", "t3.medium", 600.0, true),
            db("db.r6g.large", Some(Deployment::SingleAz), 600.0, true),
            Usage {
                kind: None,
                ..worker("i-2", "t3.medium", 5.0, true)
            },
        ];
        let cost = run_cost(
            &usages,
            &orchestrator(),
            "us-east-1",
            &BTreeMap::new(),
            &table(),
        );
        assert_eq!((cost.total_usd, cost.always_on_usd_per_hour), (None, None));
        assert_eq!(
            cost.unpriced,
            [
                "db (db.r6g.large: no price for this region)",
                "i-2 (?: type unknown)"
            ]
        );
        // What is known is still listed.
        assert!(close(cost.resources[0].cost_usd.unwrap(), 0.0416 / 6.0));

        let mut no_memory = orchestrator();
        no_memory.lambda_gb_seconds = None;
        let priced = [worker("i-1", "t3.medium", 600.0, true)];
        let cost = run_cost(&priced, &no_memory, "us-east-1", &BTreeMap::new(), &table());
        assert_eq!(cost.total_usd, None);
        assert_eq!(cost.unpriced, ["lambdaDuration (quantity unknown)"]);
        assert!(cost.always_on_usd_per_hour.is_some());
    }

    fn at(time: &str) -> Timestamp {
        Timestamp::parse(&format!("2026-11-{time}Z")).unwrap()
    }

    const DAY: u64 = 86_400;

    /// One published run costing `cost`, resources always on at $0.1/h.
    fn run(at_time: &str, cost: f64) -> PublishedRun {
        PublishedRun {
            at: at(at_time),
            run_cost_usd: cost,
            always_on_usd_per_hour: Some(0.1),
        }
    }

    #[test]
    fn two_runs_in_one_interval_do_not_double_the_savings() {
        // Always on for a day: 0.1 * 24 = 2.4. Six scheduled runs (every 4 h)
        // at 0.05 each: saved 2.4 - 0.3 = 2.1.
        let scheduled: Vec<PublishedRun> = (0..6)
            .map(|i| run(&format!("02T{:02}:00:00", i * 4), 0.05))
            .collect();
        let start = at("02T00:00:00");
        assert!(close(savings_over(&scheduled, start, DAY, 1), 2.1));
        // An ad-hoc run between two scheduled ones costs what it cost; the
        // always-on baseline does not count again (the old per-run "saved"
        // claimed another 4 h, 0.4 - 0.05).
        let mut with_ad_hoc = scheduled.clone();
        with_ad_hoc.push(run("02T02:00:00", 0.05));
        assert!(close(savings_over(&with_ad_hoc, start, DAY, 1), 2.05));
        // The same data points read per hour and summed give the same day.
        assert!(close(savings_over(&with_ad_hoc, start, 3600, 24), 2.05));
    }

    #[test]
    fn a_period_without_runs_saves_the_whole_always_on_cost() {
        // Day 1: one run at 0.2; day 2: none (the rate repeats); day 3: one run.
        let runs = [run("02T01:00:00", 0.2), run("04T01:00:00", 0.3)];
        let per_day = savings_per_period(&runs, at("02T00:00:00"), DAY, 3);
        let expected = [2.4 - 0.2, 2.4, 2.4 - 0.3];
        assert!(
            per_day.iter().zip(expected).all(|(a, b)| close(*a, b)),
            "{per_day:?}"
        );
        // Before the first rate in the range nothing is saved: the baseline is
        // unknown there, and a cost is still a cost.
        let late = [PublishedRun {
            always_on_usd_per_hour: None,
            ..run("02T01:00:00", 0.2)
        }];
        assert_eq!(savings_per_period(&late, at("02T00:00:00"), DAY, 1), [-0.2]);
    }

    #[test]
    fn the_rate_of_a_period_is_the_average_of_its_runs() {
        // The worker type changed mid-day: 0.1/h then 0.3/h; average 0.2/h.
        let runs = [
            run("02T01:00:00", 0.0),
            PublishedRun {
                always_on_usd_per_hour: Some(0.3),
                ..run("02T13:00:00", 0.0)
            },
        ];
        assert!(close(
            savings_over(&runs, at("02T00:00:00"), DAY, 1),
            0.2 * 24.0
        ));
    }
}
