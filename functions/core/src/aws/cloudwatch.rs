//! CloudWatch adapter: publish the run's metrics.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

use crate::error::{AwsError, StepError};
#[cfg(test)]
use crate::ports::Metric;
use crate::ports::{MetricSeries, MetricUnit, MetricsPort, Operation};

#[derive(Clone, Debug)]
pub struct CloudWatch {
    client: Client,
}

impl CloudWatch {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The adapter a function's `main` builds once.
    pub fn from_config(config: &aws_types::SdkConfig) -> Self {
        Self::new(Client::new(config))
    }
}

impl MetricsPort for CloudWatch {
    async fn put_metrics(&self, namespace: &str, series: &[MetricSeries]) -> Result<(), StepError> {
        let data: Vec<MetricDatum> = series
            .iter()
            .flat_map(|one| {
                let dimensions: Vec<Dimension> = one
                    .dimensions
                    .iter()
                    .map(|(name, value)| Dimension::builder().name(name).value(value).build())
                    .collect();
                one.metrics.iter().map(move |metric| {
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
            })
            .collect();
        self.client
            .put_metric_data()
            .namespace(namespace)
            .set_metric_data(Some(data))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(Operation::PutMetricData.action(), &e).into_step_error()
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::wire::{assert_mapped, query_error};
    use crate::error::ErrorName;
    use crate::mock_sdk_client;
    use aws_sdk_cloudwatch::operation::put_metric_data::PutMetricDataOutput;
    use aws_smithy_mocks::{Rule, mock};

    fn cloudwatch(rules: &[&Rule]) -> CloudWatch {
        CloudWatch::new(mock_sdk_client!(aws_sdk_cloudwatch, rules))
    }

    const METRICS: [Metric; 3] = [
        Metric {
            name: "RunSucceeded",
            unit: MetricUnit::Count,
            value: 1.0,
        },
        Metric {
            name: "JobDurationSeconds",
            unit: MetricUnit::Seconds,
            value: 12.5,
        },
        Metric {
            name: "RunCostUsd",
            unit: MetricUnit::None,
            value: 0.25,
        },
    ];

    fn series(dimensions: &[(&str, &str)], metrics: &[Metric]) -> MetricSeries {
        MetricSeries {
            dimensions: dimensions
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            metrics: metrics.to_vec(),
        }
    }

    #[tokio::test]
    async fn every_metric_goes_in_one_call_with_its_unit_and_the_dimensions() {
        let put = mock!(Client::put_metric_data)
            .match_requests(|r| {
                let data = r.metric_data();
                let shape: Vec<(&str, Option<&StandardUnit>, Option<f64>)> = data
                    .iter()
                    .map(|d| (d.metric_name().unwrap_or(""), d.unit(), d.value()))
                    .collect();
                r.namespace() == Some("Makenaide/Orchestrator")
                    && shape
                        == [
                            ("RunSucceeded", Some(&StandardUnit::Count), Some(1.0)),
                            (
                                "JobDurationSeconds",
                                Some(&StandardUnit::Seconds),
                                Some(12.5),
                            ),
                            ("RunCostUsd", Some(&StandardUnit::None), Some(0.25)),
                        ]
                    && data.iter().all(|d| {
                        d.dimensions().len() == 1
                            && d.dimensions()[0].name() == Some("Workflow")
                            && d.dimensions()[0].value() == Some("makenaide")
                    })
            })
            .then_output(|| PutMetricDataOutput::builder().build());
        cloudwatch(&[&put])
            .put_metrics(
                "Makenaide/Orchestrator",
                &[series(&[("Workflow", "makenaide")], &METRICS)],
            )
            .await
            .unwrap();
        assert_eq!(put.num_calls(), 1);
    }

    #[tokio::test]
    async fn each_series_keeps_its_own_dimensions_in_the_same_call() {
        let put = mock!(Client::put_metric_data)
            .match_requests(|r| {
                let shape: Vec<(&str, Vec<(&str, &str)>)> = r
                    .metric_data()
                    .iter()
                    .map(|d| {
                        let dims = d
                            .dimensions()
                            .iter()
                            .map(|x| (x.name().unwrap_or(""), x.value().unwrap_or("")))
                            .collect();
                        (d.metric_name().unwrap_or(""), dims)
                    })
                    .collect();
                shape
                    == [
                        ("RunSucceeded", vec![("Workflow", "w")]),
                        ("RunSucceeded", vec![("Workflow", "w"), ("Revision", "r1")]),
                    ]
            })
            .then_output(|| PutMetricDataOutput::builder().build());
        let total = series(&[("Workflow", "w")], &METRICS[..1]);
        let by_revision = series(&[("Workflow", "w"), ("Revision", "r1")], &METRICS[..1]);
        cloudwatch(&[&put])
            .put_metrics("ns", &[total, by_revision])
            .await
            .unwrap();
        assert_eq!(put.num_calls(), 1);
    }

    /// The generic classes, once for this service's wire format (awsQuery).
    #[tokio::test]
    async fn service_errors_map_to_stable_names() {
        let cases = [
            (400, "Throttling", ErrorName::AwsThrottled),
            (
                500,
                "InternalServiceError",
                ErrorName::AwsServiceUnavailable,
            ),
            (403, "AccessDenied", ErrorName::AccessDenied),
            (400, "InvalidParameterValue", ErrorName::AwsRequestFailed),
        ];
        for (status, code, expected) in cases {
            let put = mock!(Client::put_metric_data)
                .then_http_response(move || query_error(status, code, "message"));
            let error = cloudwatch(&[&put])
                .put_metrics("ns", &[series(&[], &METRICS)])
                .await
                .unwrap_err();
            assert_mapped(&error, expected, "cloudwatch:PutMetricData", code);
        }
    }
}
