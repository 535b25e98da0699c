//! The one place the deployed rotator is assembled from its parts: Secrets Manager and the RDS API through the AWS
//! SDK, the database drivers, and the protocol core, each built from its own settings. Lambda and every command
//! start here, so what runs locally is what runs deployed.

use crate::aws::{NoRegion, rds::AwsRds, sdk_config, secrets_manager::AwsSecretStore};
use crate::config::{Config, ConfigError};
use crate::engines::Drivers;
use crate::rotation::Rotator;
use crate::store::SecretStore;

/// The rotator a deployed function uses: Secrets Manager through the AWS SDK, and the real database drivers.
pub type AwsRotator = Rotator<AwsSecretStore, Drivers, AwsRds>;

/// The parts of the deployed rotator, built and not yet put together: `rotate` reads the store before it wraps it.
pub struct Parts {
    pub store: AwsSecretStore,
    pub engine: Drivers,
    pub rds: AwsRds,
    pub settings: crate::rotation::Settings,
}

impl Parts {
    /// The parts, from a validated configuration: one SDK configuration for Secrets Manager and RDS (the RDS client
    /// makes no call until a secret needs it).
    pub async fn new(config: &Config) -> Result<Parts, ConfigError> {
        let sdk = sdk_config(&config.aws)
            .await
            .map_err(|err: NoRegion| ConfigError { var: "AWS_REGION", problem: err.to_string() })?;
        Ok(Parts {
            store: AwsSecretStore::new(&sdk, &config.aws),
            engine: drivers(config),
            rds: AwsRds::new(&sdk, config.aws.rds_endpoint.as_deref()),
            settings: config.rotation.clone(),
        })
    }

    /// Secrets Manager as the operators' commands see it (`fleet/`), sharing the store's client.
    pub fn catalog(&self) -> AwsSecretStore {
        self.store.clone()
    }

    /// The rotator.
    pub fn rotator(self) -> AwsRotator {
        self.rotator_on(|store| store)
    }

    /// The rotator, on the store `wrap` makes of Secrets Manager's (`rotate` shows the core a staged version).
    pub fn rotator_on<S: SecretStore>(self, wrap: impl FnOnce(AwsSecretStore) -> S) -> Rotator<S, Drivers, AwsRds> {
        Rotator::new(wrap(self.store), self.engine, self.settings).with_rds(self.rds)
    }
}

/// The database drivers, from a validated configuration.
pub fn drivers(config: &Config) -> Drivers {
    let extra = config.extra_ca_bundle.as_ref().map(|bundle| bundle.pem.clone());
    Drivers::new(config.engines, config.tls, extra)
}

/// The deployed rotator, from a validated configuration.
pub async fn build(config: &Config) -> Result<AwsRotator, ConfigError> {
    Ok(Parts::new(config).await?.rotator())
}
