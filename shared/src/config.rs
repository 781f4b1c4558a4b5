//! Settings from the environment, read once at cold start. Endpoints and credentials come
//! from the AWS SDK's own chain (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL_SQS` point
//! it at the local stack).

use crate::domain::Consumer;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// Signs list cursors so clients cannot forge or alter them.
    pub cursor_secret: String,
    /// Each consumer's queue, from `<CONSUMER>_QUEUE_URL` (`NOTIFY_QUEUE_URL`): only the
    /// sweeper sends to them, re-sending what a consumer has not applied.
    pub queue_urls: BTreeMap<Consumer, String>,
    /// How long an undispatched outbox event waits before the sweeper re-sends it: long
    /// enough that the request that wrote it has finished sending it.
    pub redrive_delay: Duration,
    /// How long a funded contract waits for release before its funds return to the owner.
    pub release_window: chrono::Duration,
    /// The WebSocket API's Management API (`CONNECTIONS_ENDPOINT`, its stage's https URL):
    /// only the functions that push, answer on a socket or close one are told it.
    pub connections_endpoint: Option<String>,
}

/// The variable that names a consumer's queue.
pub fn queue_url_variable(consumer: Consumer) -> String {
    format!("{}_QUEUE_URL", consumer.as_str().to_uppercase())
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} must be set")]
    Missing(&'static str),
    #[error("environment variable {name} must be {expected}")]
    Invalid {
        name: &'static str,
        expected: &'static str,
    },
}

impl Config {
    pub const DEFAULT_REDRIVE_DELAY: Duration = Duration::from_secs(60);
    pub const DEFAULT_RELEASE_WINDOW_DAYS: i64 = 14;

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The same settings read through `lookup`, for a runtime that fills in its own defaults
    /// (the local stack) but must read exactly what a Lambda reads.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &'static str| lookup(name).filter(|v| !v.is_empty());
        Ok(Self {
            table_name: var("TABLE_NAME").ok_or(ConfigError::Missing("TABLE_NAME"))?,
            cursor_secret: var("CURSOR_SECRET").ok_or(ConfigError::Missing("CURSOR_SECRET"))?,
            queue_urls: Consumer::ALL
                .into_iter()
                .filter_map(|c| {
                    Some((c, lookup(&queue_url_variable(c)).filter(|v| !v.is_empty())?))
                })
                .collect(),
            redrive_delay: var("REDRIVE_DELAY_SECS")
                .and_then(|s| s.parse().ok())
                .map_or(Self::DEFAULT_REDRIVE_DELAY, Duration::from_secs),
            release_window: chrono::Duration::days(
                var("RELEASE_WINDOW_DAYS")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(Self::DEFAULT_RELEASE_WINDOW_DAYS),
            ),
            connections_endpoint: var("CONNECTIONS_ENDPOINT"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&str, &str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn reads_every_setting_and_defaults_the_optional_ones() {
        let required = [("TABLE_NAME", "t"), ("CURSOR_SECRET", "s")];
        let config = Config::from_lookup(lookup(&required)).unwrap();
        assert_eq!(config.redrive_delay, Config::DEFAULT_REDRIVE_DELAY);
        assert_eq!(
            config.release_window,
            chrono::Duration::days(Config::DEFAULT_RELEASE_WINDOW_DAYS)
        );
        assert!(config.queue_urls.is_empty());

        let all = [
            ("TABLE_NAME", "t"),
            ("CURSOR_SECRET", "s"),
            ("NOTIFY_QUEUE_URL", "q"),
            ("REDRIVE_DELAY_SECS", "7"),
            ("RELEASE_WINDOW_DAYS", "3"),
        ];
        let config = Config::from_lookup(lookup(&all)).unwrap();
        assert_eq!(
            (
                config.table_name.as_str(),
                config.queue_urls.get(&Consumer::Notify).map(String::as_str)
            ),
            ("t", Some("q"))
        );
        assert_eq!(config.redrive_delay, Duration::from_secs(7));
        assert_eq!(config.release_window, chrono::Duration::days(3));
    }

    #[test]
    fn an_empty_required_setting_is_missing() {
        let vars = [("TABLE_NAME", ""), ("CURSOR_SECRET", "s")];
        let err = Config::from_lookup(lookup(&vars)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TABLE_NAME must be set"
        );
    }
}
