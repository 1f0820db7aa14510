//! CloudWatch: publish the run's metrics.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::error::{AwsError, StepError};

/// One data point, in the project's own terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: MetricUnit,
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricUnit {
    Count,
    Seconds,
    /// Dollars have no CloudWatch unit.
    None,
}

#[derive(Clone, Debug)]
pub struct CloudWatch {
    client: Client,
}

impl CloudWatch {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// Publishes every metric with the same dimensions, in one call.
    pub async fn put(
        &self,
        namespace: &str,
        dimensions: &[(&str, &str)],
        metrics: &[Metric],
    ) -> Result<(), StepError> {
        let dimensions: Vec<Dimension> = dimensions
            .iter()
            .map(|(name, value)| Dimension::builder().name(*name).value(*value).build())
            .collect();
        let data: Vec<MetricDatum> = metrics
            .iter()
            .map(|metric| {
                MetricDatum::builder()
                    .metric_name(metric.name)
                    .unit(match metric.unit {
                        MetricUnit::Count => StandardUnit::Count,
                        MetricUnit::Seconds => StandardUnit::Seconds,
                        MetricUnit::None => StandardUnit::None,
                    })
                    .value(metric.value)
                    .set_dimensions(Some(dimensions.clone()))
                    .build()
            })
            .collect();
        self.client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("cloudwatch:PutMetricData", &e).into_step_error())?;
        Ok(())
    }
}
