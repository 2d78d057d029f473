//! Subscription tiers and what each allows.

use std::{fmt, str::FromStr};

/// A user's subscription tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    Free,
    Pro,
    Team,
    Enterprise,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Free, Tier::Pro, Tier::Team, Tier::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Pro => "pro",
            Tier::Team => "team",
            Tier::Enterprise => "enterprise",
        }
    }

    /// API keys are a paid feature: they are created and accepted only on these tiers.
    pub fn allows_api_keys(self) -> bool {
        !matches!(self, Tier::Free)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("tier must be one of free, pro, team, enterprise")]
pub struct UnknownTier;

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "free" => Ok(Tier::Free),
            "pro" => Ok(Tier::Pro),
            "team" => Ok(Tier::Team),
            "enterprise" => Ok(Tier::Enterprise),
            _ => Err(UnknownTier),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_round_trip_through_their_names() {
        for tier in [Tier::Free, Tier::Pro, Tier::Team, Tier::Enterprise] {
            assert_eq!(tier.as_str().parse::<Tier>().unwrap(), tier);
        }
        assert!("Pro".parse::<Tier>().is_err());
    }

    #[test]
    fn only_paid_tiers_allow_api_keys() {
        assert!(!Tier::Free.allows_api_keys());
        assert!(Tier::Pro.allows_api_keys());
        assert!(Tier::Team.allows_api_keys());
        assert!(Tier::Enterprise.allows_api_keys());
    }
}
