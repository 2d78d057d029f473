//! Which credential a path needs when the service judges requests for a gateway: a list of
//! path-prefix rules, from a TOML file or the defaults that match the documented API.

use std::{collections::HashMap, fmt, path::Path};

use http::Method;
use serde::Deserialize;

use crate::{proto::cloudsigma::v1::Access, rest::Routes};

/// Where the CloudSigma API lives; other services' paths under it take a JWT or an API key by
/// default.
const API_ROOT: &str = "/v1";

/// What a rule requires, from the least to the most strict (a JWT-only path is stricter than
/// one that also takes keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Anyone; a credential, if sent, is not checked.
    Public,
    JwtOrApiKey,
    Jwt,
    /// Refused whatever the credential.
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    /// Lower-cased, without a trailing slash (`""` matches every path).
    prefix: String,
    /// `None`: any method.
    methods: Option<Vec<Method>>,
    requirement: Requirement,
}

/// The rules, most specific first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules(Vec<Rule>);

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read the gateway rules {0}: {1}")]
    Read(String, std::io::Error),
    #[error("the gateway rules {0} are not valid: {1}")]
    Parse(String, String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    rule: Vec<RuleEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    prefix: String,
    access: Requirement,
    methods: Option<Vec<String>>,
}

fn rule(prefix: &str, requirement: Requirement) -> Rule {
    Rule {
        prefix: normalize_prefix(prefix),
        methods: None,
        requirement,
    }
}

/// The literal part of an HTTP rule's path template, up to its first variable.
fn literal_prefix(template: &str) -> &str {
    template.split('{').next().unwrap_or_default()
}

fn normalize_prefix(prefix: &str) -> String {
    prefix.trim_end_matches('/').to_ascii_lowercase()
}

impl Rules {
    /// The rules of the documented API, from the protos' HTTP rules and access options (so no
    /// path is written twice): each documented path needs what its RPC needs, with internal
    /// RPCs refused; a path shared by RPCs with different needs takes its method's, and the
    /// strictest for any other method. The rest of the API root (other CloudSigma services)
    /// takes a JWT or an API key; anything else is refused.
    pub fn documented(routes: &Routes, access: &HashMap<String, Access>) -> Self {
        let mut by_prefix: Vec<(String, Vec<(Method, Requirement)>)> = Vec::new();
        for route in routes.iter() {
            let (method, template) = (&route.method, route.template.as_str());
            let needs = access.get(&route.grpc_path).copied();
            let requirement = match needs.unwrap_or(Access::Unspecified) {
                Access::Public => Requirement::Public,
                Access::Jwt => Requirement::Jwt,
                Access::JwtOrApiKey => Requirement::JwtOrApiKey,
                Access::Internal | Access::Unspecified => Requirement::Deny,
            };
            let prefix = normalize_prefix(literal_prefix(template));
            match by_prefix.iter_mut().find(|(p, _)| *p == prefix) {
                Some((_, needs)) => needs.push((method.clone(), requirement)),
                None => by_prefix.push((prefix, vec![(method.clone(), requirement)])),
            }
        }
        let mut rules = vec![
            rule(API_ROOT, Requirement::JwtOrApiKey),
            rule("/", Requirement::Deny),
        ];
        for (prefix, needs) in by_prefix {
            let strictest = needs
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(Requirement::Deny);
            if needs.iter().any(|(_, r)| *r != strictest) {
                for (method, requirement) in &needs {
                    rules.push(Rule {
                        prefix: prefix.clone(),
                        methods: Some(vec![method.clone()]),
                        requirement: *requirement,
                    });
                }
            }
            rules.push(Rule {
                prefix,
                methods: None,
                requirement: strictest,
            });
        }
        Self::new(rules)
    }

    fn new(mut rules: Vec<Rule>) -> Self {
        // Longest prefix first; among equal prefixes, a rule naming methods first.
        rules.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then_with(|| b.methods.is_some().cmp(&a.methods.is_some()))
        });
        Self(rules)
    }

    /// Reads a rules file: `[[rule]]` tables with `prefix`, `access` (`public`, `jwt`,
    /// `jwt_or_api_key` or `deny`) and optional `methods`. A path no rule matches is refused.
    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| RulesError::Read(shown.clone(), e))?;
        Self::parse(&text).map_err(|e| RulesError::Parse(shown, e))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.message().to_owned())?;
        let mut rules = Vec::with_capacity(file.rule.len());
        for entry in file.rule {
            if !entry.prefix.starts_with('/') {
                return Err(format!("prefix {:?} must start with /", entry.prefix));
            }
            let methods = entry
                .methods
                .map(|methods| {
                    methods
                        .iter()
                        .map(|m| {
                            Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                                .map_err(|_| format!("{m:?} is not an HTTP method"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?;
            rules.push(Rule {
                prefix: normalize_prefix(&entry.prefix),
                methods,
                requirement: entry.access,
            });
        }
        Ok(Self::new(rules))
    }

    /// The requirement for `method` on a normalized `path`; `Deny` when no rule matches.
    /// Prefixes match whole segments, without regard to case (an upstream that matches
    /// routes without case must not find a way around a rule).
    pub fn requirement(&self, method: &Method, path: &str) -> Requirement {
        let path = path.to_ascii_lowercase();
        self.0
            .iter()
            .find(|rule| {
                let under = path
                    .strip_prefix(&rule.prefix)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
                under
                    && rule
                        .methods
                        .as_ref()
                        .is_none_or(|methods| methods.contains(method))
            })
            .map_or(Requirement::Deny, |rule| rule.requirement)
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Requirement::Public => "public",
            Requirement::Jwt => "jwt",
            Requirement::JwtOrApiKey => "jwt_or_api_key",
            Requirement::Deny => "deny",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_can_name_methods_and_unmatched_paths_are_refused() {
        let rules = Rules::parse(
            r#"
            [[rule]]
            prefix = "/api/findings"
            access = "jwt_or_api_key"

            [[rule]]
            prefix = "/api/findings"
            methods = ["delete"]
            access = "jwt"

            [[rule]]
            prefix = "/status/"
            access = "public"
            "#,
        )
        .unwrap();
        assert_eq!(
            rules.requirement(&Method::GET, "/api/findings/3"),
            Requirement::JwtOrApiKey
        );
        assert_eq!(
            rules.requirement(&Method::DELETE, "/api/findings/3"),
            Requirement::Jwt
        );
        assert_eq!(
            rules.requirement(&Method::GET, "/status"),
            Requirement::Public
        );
        assert_eq!(
            rules.requirement(&Method::GET, "/api/usage"),
            Requirement::Deny
        );
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        for bad in [
            "[[rule]]\nprefix = \"v1\"\naccess = \"jwt\"",
            "[[rule]]\nprefix = \"/api\"\naccess = \"admin\"",
            "[[rule]]\nprefix = \"/api\"\naccess = \"jwt\"\nmethods = [\"GE T\"]",
            "[[rule]]\nprefix = \"/api\"\naccess = \"jwt\"\ncolour = 1",
            "not toml",
        ] {
            assert!(Rules::parse(bad).is_err(), "{bad}");
        }
    }
}
