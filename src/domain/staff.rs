//! The retailer's staff: their roles, and the second factor the console asks of them.

use serde::{Deserialize, Serialize};

/// What a staff member may do in the console and the admin API. `Support` < `Owner`: an owner
/// may do everything support may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Finds and helps customers; reads the audit of the customers they touched.
    Support,
    /// Everything support may, and deletions, lists, exports, imports, retries, staff and the
    /// whole audit log.
    Owner,
}

impl Role {
    /// The role named `raw` (`support`, `owner`).
    pub fn parse(raw: &str) -> Result<Role, String> {
        match raw.trim() {
            "support" => Ok(Role::Support),
            "owner" => Ok(Role::Owner),
            _ => Err("must be `support` or `owner`".to_owned()),
        }
    }

    /// The role's name, as the database and the API write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Support => "support",
            Role::Owner => "owner",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_by_name_and_owner_outranks_support() {
        assert_eq!(Role::parse("owner"), Ok(Role::Owner));
        assert_eq!(Role::parse("support"), Ok(Role::Support));
        assert!(Role::parse("admin").is_err());
        assert!(Role::Owner > Role::Support);
    }
}
