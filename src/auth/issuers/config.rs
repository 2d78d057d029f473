//! The trusted-issuers file (`--trusted-issuers`): one `[[issuer]]` table per external issuer
//! whose tokens are accepted beside our own. The table's shape is part of the contract; a file
//! that does not match it stops start-up with one line naming the problem.

use std::{collections::HashSet, net::IpAddr, path::Path};

use reqwest::Url;
use serde::Deserialize;

/// Which tokens of an issuer are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenUse {
    Access,
    Id,
}

impl TokenUse {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUse::Access => "access",
            TokenUse::Id => "id",
        }
    }
}

/// One external issuer, validated.
#[derive(Debug, Clone)]
pub struct IssuerConfig {
    /// Compared byte for byte with the token's `iss`.
    pub iss: String,
    pub jwks_uri: Url,
    /// Accepted app clients: `client_id` of access tokens, `aud` of ID tokens.
    pub client_ids: Vec<String>,
    pub token_use: Vec<TokenUse>,
    pub email_claim: String,
    pub tier_claim: String,
    pub team_claim: String,
    /// Tier and team come from the token (true) or from the local record (false).
    pub authoritative: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    issuer: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    iss: String,
    jwks_uri: Option<String>,
    client_ids: Vec<String>,
    token_use: Option<Vec<TokenUse>>,
    email_claim: Option<String>,
    tier_claim: Option<String>,
    team_claim: Option<String>,
    #[serde(default)]
    authoritative: bool,
}

/// Reads and validates the file; the error is one line that names the file.
pub fn load(path: &Path) -> Result<Vec<IssuerConfig>, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    parse(&text).map_err(|e| format!("{shown}: {e}"))
}

pub fn parse(text: &str) -> Result<Vec<IssuerConfig>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.message().trim().to_owned())?;
    let mut seen = HashSet::new();
    let mut issuers = Vec::with_capacity(file.issuer.len());
    for entry in file.issuer {
        let issuer = validate(entry)?;
        if !seen.insert(issuer.iss.clone()) {
            return Err(format!("issuer {:?} is listed twice", issuer.iss));
        }
        issuers.push(issuer);
    }
    Ok(issuers)
}

fn validate(entry: Entry) -> Result<IssuerConfig, String> {
    let iss = entry.iss;
    let issuer_url = Url::parse(&iss).map_err(|e| format!("iss {iss:?} is not a URL: {e}"))?;
    if issuer_url.query().is_some() || issuer_url.fragment().is_some() {
        return Err(format!("iss {iss:?} must not have a query or fragment"));
    }
    fetchable(&issuer_url).map_err(|e| format!("iss {iss:?}: {e}"))?;
    let jwks_uri = match entry.jwks_uri {
        Some(uri) => Url::parse(&uri).map_err(|e| format!("jwks_uri {uri:?} is not a URL: {e}"))?,
        // Cognito's (and OpenID discovery's) place, under the issuer exactly as written.
        None => Url::parse(&format!("{iss}/.well-known/jwks.json"))
            .map_err(|e| format!("iss {iss:?} gives no JWKS address: {e}"))?,
    };
    fetchable(&jwks_uri).map_err(|e| format!("jwks_uri {:?}: {e}", jwks_uri.as_str()))?;
    if entry.client_ids.is_empty() {
        return Err(format!(
            "issuer {iss:?} needs at least one entry in client_ids"
        ));
    }
    if let Some(bad) = entry
        .client_ids
        .iter()
        .find(|id| id.is_empty() || id.len() > 128 || id.chars().any(char::is_control))
    {
        return Err(format!("issuer {iss:?} has an invalid client id {bad:?}"));
    }
    let token_use = entry.token_use.unwrap_or_else(|| vec![TokenUse::Access]);
    if token_use.is_empty() {
        return Err(format!(
            "issuer {iss:?}: token_use must name \"access\" and/or \"id\""
        ));
    }
    let claim = |value: Option<String>, default: &str, field: &str| match value {
        Some(name) if name.trim().is_empty() => Err(format!("issuer {iss:?}: {field} is empty")),
        Some(name) => Ok(name),
        None => Ok(default.to_owned()),
    };
    Ok(IssuerConfig {
        email_claim: claim(entry.email_claim, "email", "email_claim")?,
        tier_claim: claim(entry.tier_claim, "custom:tier", "tier_claim")?,
        team_claim: claim(entry.team_claim, "custom:teamId", "team_claim")?,
        iss,
        jwks_uri,
        client_ids: entry.client_ids,
        token_use,
        authoritative: entry.authoritative,
    })
}

/// HTTPS anywhere; plain HTTP only to a loopback address (tests, a local sidecar).
fn fetchable(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("plain http is allowed for loopback addresses only; use https".to_owned()),
        other => Err(format!("scheme {other:?} is not https")),
    }
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const COGNITO: &str = r#"
        [[issuer]]
        iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
        client_ids = ["4k9d0example"]
    "#;

    #[test]
    fn a_minimal_cognito_entry_takes_the_documented_defaults() {
        let issuers = parse(COGNITO).unwrap();
        let cognito = &issuers[0];
        assert_eq!(
            cognito.jwks_uri.as_str(),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz/.well-known/jwks.json"
        );
        assert_eq!(cognito.token_use, vec![TokenUse::Access]);
        assert_eq!(cognito.email_claim, "email");
        assert_eq!(cognito.tier_claim, "custom:tier");
        assert_eq!(cognito.team_claim, "custom:teamId");
        assert!(!cognito.authoritative);
    }

    #[test]
    fn plain_http_is_refused_unless_the_host_is_loopback() {
        let remote = COGNITO.replace("https://cognito-idp", "http://cognito-idp");
        assert!(parse(&remote).unwrap_err().contains("loopback"));
        let local = r#"
            [[issuer]]
            iss = "http://127.0.0.1:9000/eu-west-1_Local"
            client_ids = ["a"]
        "#;
        assert!(parse(local).is_ok());
    }

    #[test]
    fn mistakes_are_named_in_one_line() {
        let cases = [
            (
                "[[issuer]]\niss = \"https://x.example\"\nclient_ids = []",
                "client_ids",
            ),
            (
                "[[issuer]]\niss = \"not a url\"\nclient_ids = [\"a\"]",
                "not a URL",
            ),
            (
                "[[issuer]]\niss = \"https://x.example\"\nclient_ids = [\"a\"]\nfoo = 1",
                "foo",
            ),
            (
                "[[issuer]]\niss = \"https://x.example\"\nclient_ids = [\"a\"]\ntoken_use = [\"refresh\"]",
                "refresh",
            ),
            (
                "[[issuer]]\niss = \"https://x.example\"\nclient_ids = [\"a\"]\n[[issuer]]\niss = \"https://x.example\"\nclient_ids = [\"b\"]",
                "twice",
            ),
        ];
        for (text, named) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(named), "{err:?} should name {named:?}");
            assert!(!err.contains('\n'), "{err:?} is more than one line");
        }
    }
}
