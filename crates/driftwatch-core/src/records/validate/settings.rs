//! The settings validation takes from the `[records]` config section: the bot-account
//! patterns no approver may match and how long after its window a `revert_by` may lie.

use globset::{Glob, GlobSet, GlobSetBuilder};
use jiff::SignedDuration;

/// Settings of validation (the `[records]` config section).
#[derive(Clone, Debug)]
pub struct ValidationSettings {
    /// Glob patterns of bot accounts that can never approve a change.
    pub bot_patterns: Vec<String>,
    bot_set: GlobSet,
    /// How long after the window's end a `revert_by` may lie.
    pub max_revert_after_window: SignedDuration,
}

impl ValidationSettings {
    pub fn new(
        bot_patterns: Vec<String>,
        max_revert_after_window: SignedDuration,
    ) -> Result<Self, globset::Error> {
        let mut b = GlobSetBuilder::new();
        for p in &bot_patterns {
            b.add(Glob::new(p)?);
        }
        Ok(ValidationSettings {
            bot_set: b.build()?,
            bot_patterns,
            max_revert_after_window,
        })
    }

    pub(super) fn bot_pattern(&self, name: &str) -> Option<&str> {
        self.bot_set
            .matches(name)
            .first()
            .and_then(|i| self.bot_patterns.get(*i))
            .map(String::as_str)
    }
}

impl Default for ValidationSettings {
    fn default() -> Self {
        let patterns = default_bot_patterns();
        // The default patterns are fixed literals that are valid globs (tested below).
        Self::new(patterns, SignedDuration::from_hours(24 * 30)).unwrap_or(ValidationSettings {
            bot_patterns: Vec::new(),
            bot_set: GlobSet::empty(),
            max_revert_after_window: SignedDuration::from_hours(24 * 30),
        })
    }
}

pub fn default_bot_patterns() -> Vec<String> {
    [
        r"*\[bot\]",
        "*-bot",
        "*-bot@*",
        "bot-*",
        "github-actions*",
        "dependabot*",
        "renovate*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
