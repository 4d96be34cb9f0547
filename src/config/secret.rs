//! Secrets in the config. `Secret` is a value that is never printed; `SecretRef` is a secret
//! setting as written, which names the value in one of three ways: inline (`KEY`), an
//! environment variable (`KEY_env`) or a file (`KEY_file`, e.g. a systemd credential or a
//! mounted Kubernetes Secret). The "exactly one of" check and the reading live here once, and
//! every error names the setting's field path and the variable or file, never the value.
//!
//! `deny_unknown_fields` cannot be combined with `#[serde(flatten)]`, so a section cannot embed
//! the three keys as a struct. `section_with_secrets!` declares a section once and generates
//! a private raw struct (the keys as written, unknown keys still errors) that deserializes
//! into the public struct, whose secret settings are `SecretRef` fields.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::FieldError;

/// A secret value (webhook URL, token). Never printed: `Debug` and `Display` redact it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Where a secret is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Inline(Secret),
    /// The name of an environment variable.
    Env(String),
    /// A file whose content (trimmed) is the secret.
    File(PathBuf),
}

/// What a section wrote for one secret setting.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Given {
    Nothing,
    One(SecretSource),
    /// More than one of `KEY`, `KEY_env`, `KEY_file`: invalid, reported by `check`.
    Several,
}

/// One secret setting: its key, its field path and what was written for it. Reading it is
/// `resolve`, done by the commands that deliver or poll (`run`, `scan`, `config check`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The TOML key (`url`); its variants are `url_env` and `url_file`.
    key: &'static str,
    /// The field path in messages (`sinks[1].url`); the key until the config names it.
    field: String,
    given: Given,
}

/// A secret setting that cannot be used. Names the field and the variable or file, never
/// the value.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct SecretError {
    pub field: String,
    pub problem: SecretProblem,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretProblem {
    #[error("set exactly one of {key}, {key}_env, {key}_file")]
    NotExactlyOne { key: &'static str },
    #[error("environment variable {var} ({key}_env) is not set")]
    EnvUnset { key: &'static str, var: String },
    #[error("cannot read {key}_file {}: {source}", .path.display())]
    Unreadable {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{key} is empty")]
    Empty { key: &'static str },
    /// The value was read but is not what the setting needs (its text is not shown).
    #[error("{0}")]
    Malformed(&'static str),
}

impl From<SecretError> for FieldError {
    fn from(e: SecretError) -> Self {
        FieldError {
            field: e.field,
            message: e.problem.to_string(),
        }
    }
}

impl SecretRef {
    fn new(key: &'static str, given: Given) -> SecretRef {
        SecretRef {
            key,
            field: key.to_string(),
            given,
        }
    }

    fn given(inline: Option<Secret>, env: Option<String>, file: Option<PathBuf>) -> Given {
        let mut sources = inline
            .map(SecretSource::Inline)
            .into_iter()
            .chain(env.map(SecretSource::Env))
            .chain(file.map(SecretSource::File));
        match (sources.next(), sources.next()) {
            (None, _) => Given::Nothing,
            (Some(one), None) => Given::One(one),
            (Some(_), Some(_)) => Given::Several,
        }
    }

    /// A setting that must be given: nothing written is reported by `check`.
    pub fn required(
        key: &'static str,
        inline: Option<Secret>,
        env: Option<String>,
        file: Option<PathBuf>,
    ) -> SecretRef {
        SecretRef::new(key, Self::given(inline, env, file))
    }

    /// A setting that may be left out: `None` when none of the three keys is written.
    pub fn optional(
        key: &'static str,
        inline: Option<Secret>,
        env: Option<String>,
        file: Option<PathBuf>,
    ) -> Option<SecretRef> {
        match Self::given(inline, env, file) {
            Given::Nothing => None,
            given => Some(SecretRef::new(key, given)),
        }
    }

    /// The TOML key (`url`, `token`).
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The field path errors name.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// Where the secret is read from, when exactly one way is given.
    pub fn source(&self) -> Option<&SecretSource> {
        match &self.given {
            Given::One(s) => Some(s),
            Given::Nothing | Given::Several => None,
        }
    }

    fn error(&self, problem: SecretProblem) -> SecretError {
        SecretError {
            field: self.field.clone(),
            problem,
        }
    }

    /// Exactly one of `KEY`, `KEY_env`, `KEY_file` is given (the shape; nothing is read).
    pub fn check(&self) -> Result<&SecretSource, SecretError> {
        self.source()
            .ok_or_else(|| self.error(SecretProblem::NotExactlyOne { key: self.key }))
    }

    /// Read the secret: the inline value, the variable, or the file's trimmed content. Empty
    /// is an error.
    pub fn resolve(&self) -> Result<Secret, SecretError> {
        let key = self.key;
        let raw = match self.check()? {
            SecretSource::Inline(s) => s.expose().to_string(),
            SecretSource::Env(var) => std::env::var(var).map_err(|_| {
                self.error(SecretProblem::EnvUnset {
                    key,
                    var: var.clone(),
                })
            })?,
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map_err(|source| {
                    self.error(SecretProblem::Unreadable {
                        key,
                        path: path.clone(),
                        source,
                    })
                })?
                .trim()
                .to_string(),
        };
        if raw.is_empty() {
            return Err(self.error(SecretProblem::Empty { key }));
        }
        Ok(Secret::new(raw))
    }

    /// Name the setting `SECTION.KEY` and make a relative file path relative to `base` (the
    /// config file's directory). Done once by `Config::parse`.
    pub(super) fn locate(&mut self, section: &str, base: &Path) {
        self.field = format!("{section}.{}", self.key);
        if let Given::One(SecretSource::File(p)) = &mut self.given
            && p.is_relative()
        {
            *p = base.join(&*p);
        }
    }
}

/// The field type of a secret setting: `required` is a `SecretRef`, `optional` an
/// `Option<SecretRef>`.
macro_rules! secret_field_type {
    (required) => {
        $crate::config::SecretRef
    };
    (optional) => {
        Option<$crate::config::SecretRef>
    };
}

/// Declares a config section whose secret settings are `SecretRef`s, read from the keys
/// `KEY`, `KEY_env` and `KEY_file`. Plain fields are written as usual (doc comments before
/// `#[serde]` attributes); each secret as `/// doc` `KEY: required(KEY_env, KEY_file),` or
/// `optional(..)`. The generated raw struct denies unknown keys.
macro_rules! section_with_secrets {
    (
        $(#[doc = $doc:literal])*
        pub struct $name:ident via $raw:ident {
            $(
                $(#[doc = $fdoc:literal])*
                $(#[serde($($fserde:tt)*)])*
                pub $field:ident: $ty:ty,
            )*
        }
        secrets {
            $(
                $(#[doc = $sdoc:literal])*
                $key:ident: $kind:ident($env:ident, $file:ident),
            )*
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone)]
        pub struct $name {
            $( $(#[doc = $fdoc])* pub $field: $ty, )*
            $( $(#[doc = $sdoc])* pub $key: $crate::config::secret::secret_field_type!($kind), )*
        }

        /// The section as written (the secret keys one by one).
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct $raw {
            $( $(#[serde($($fserde)*)])* $field: $ty, )*
            $(
                #[serde(default)]
                $key: Option<$crate::config::Secret>,
                #[serde(default)]
                $env: Option<String>,
                #[serde(default)]
                $file: Option<std::path::PathBuf>,
            )*
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <$raw as serde::Deserialize>::deserialize(d)?;
                Ok($name {
                    $( $field: raw.$field, )*
                    $(
                        $key: $crate::config::SecretRef::$kind(
                            stringify!($key),
                            raw.$key,
                            raw.$env,
                            raw.$file,
                        ),
                    )*
                })
            }
        }
    };
}

pub(crate) use secret_field_type;
pub(super) use section_with_secrets;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_way_exactly_and_errors_name_the_field_never_the_value() {
        let inline = || Some(Secret::new("s3cr3t".into()));
        assert!(SecretRef::optional("token", None, None, None).is_none());
        let both = SecretRef::required("url", inline(), Some("X".into()), None);
        assert_eq!(
            both.check().map(|_| ()).map_err(|e| e.to_string()),
            Err("url: set exactly one of url, url_env, url_file".into())
        );
        let mut unset = SecretRef::required(
            "token",
            None,
            Some("DRIFTWATCH_TEST_UNSET_SECRETREF".into()),
            None,
        );
        unset.locate("records.jira[0]", Path::new("/etc"));
        assert_eq!(
            unset.resolve().map_err(|e| e.to_string()).err().as_deref(),
            Some(
                "records.jira[0].token: environment variable DRIFTWATCH_TEST_UNSET_SECRETREF (token_env) is not set"
            )
        );
        let mut file = SecretRef::required("hmac_key", None, None, Some("k".into()));
        file.locate("sinks[0]", Path::new("/nonexistent"));
        let e = file.resolve().map(|_| ()).expect_err("no file");
        assert!(
            e.to_string()
                .starts_with("sinks[0].hmac_key: cannot read hmac_key_file /nonexistent/k: "),
            "{e}"
        );
        let value = SecretRef::required("url", inline(), None, None);
        assert_eq!(value.resolve().expect("inline").expose(), "s3cr3t");
        assert!(!format!("{value:?}").contains("s3cr3t"));
        let empty = SecretRef::required("url", Some(Secret::new(String::new())), None, None);
        assert_eq!(
            empty.resolve().map(|_| ()).map_err(|e| e.to_string()),
            Err("url: url is empty".into())
        );
    }
}
