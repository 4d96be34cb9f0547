//! `[store]`: where driftwatch keeps its state. Absent, the embedded SQLite database in
//! `state_dir`; with `url`, a PostgreSQL server (same schema and guarantees), its password
//! given apart like every other secret.

use std::path::Path;

use super::secret::section_with_secrets;
use super::{FieldError, Secret, SecretError, SecretRef};

section_with_secrets! {
    /// A PostgreSQL store.
    pub struct StoreConfig via RawStoreConfig {
        /// `postgres://USER@HOST:PORT/DATABASE` (no password: `password_env` or
        /// `password_file`).
        pub url: String,
        /// PEM CA certificates to verify the server with (TLS per the URL's `sslmode`);
        /// default: the system's roots.
        #[serde(default)]
        pub ca_file: Option<std::path::PathBuf>,
    }
    secrets {
        /// The PostgreSQL user's password.
        password: optional(password_env, password_file),
    }
}

impl StoreConfig {
    pub(super) fn validate(&self, errs: &mut Vec<FieldError>) {
        if let Err(message) = check_url(&self.url) {
            errs.push(FieldError {
                field: "store.url".into(),
                message,
            });
        }
        if let Some(Err(e)) = self.password.as_ref().map(SecretRef::check) {
            errs.push(e.into());
        }
    }

    pub(super) fn locate(&mut self, base: &Path) {
        if let Some(f) = &mut self.ca_file
            && f.is_relative()
        {
            *f = base.join(&*f);
        }
        if let Some(p) = &mut self.password {
            p.locate("store", base);
        }
    }

    /// The password, read now (none when the server needs none). The store is opened by
    /// `daemon::open_store`: config knows no component.
    pub fn password(&self) -> Result<Option<Secret>, SecretError> {
        self.password.as_ref().map(SecretRef::resolve).transpose()
    }
}

/// A PostgreSQL connection URL without a password (the password is a secret given apart,
/// and URLs are shown in messages and logs).
pub fn check_url(url: &str) -> Result<(), String> {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return Err("must be a postgres:// URL (without [store], the state is the SQLite database in state_dir)".into());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if let Some((user, _)) = authority.rsplit_once('@')
        && user.contains(':')
    {
        return Err(
            "holds a password: give it as store.password_env or store.password_file".into(),
        );
    }
    if url.parse::<postgres::Config>().is_err() {
        return Err(
            "is not a PostgreSQL connection URL (postgres://USER@HOST:PORT/DATABASE)".into(),
        );
    }
    Ok(())
}
