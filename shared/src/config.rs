//! Settings from the environment, read once at cold start. Endpoints and credentials come
//! from the AWS SDK's own chain (`AWS_ENDPOINT_URL_DYNAMODB` points it at DynamoDB Local).

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// Signs list cursors so clients cannot forge or alter them.
    pub cursor_secret: String,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} must be set")]
pub struct ConfigError(&'static str);

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let var = |name: &'static str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or(ConfigError(name))
        };
        Ok(Self {
            table_name: var("TABLE_NAME")?,
            cursor_secret: var("CURSOR_SECRET")?,
        })
    }
}
