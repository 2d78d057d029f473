//! Where a request comes from, as the service saw it: the client address, the User-Agent and the
//! request id the service assigned. Kept with a sign-in's session and with every audit event, so
//! a user can tell their sessions apart and an operator can follow an event to its log lines.

/// Longest User-Agent kept.
const MAX_USER_AGENT_CHARS: usize = 256;

/// The context of one request, carried from the transport to the use case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOrigin {
    pub client_address: Option<String>,
    /// Already tidied (see [`tidy_user_agent`]).
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl RequestOrigin {
    /// An origin from what the transport read; the User-Agent is tidied here, once.
    pub fn new(
        client_address: Option<String>,
        user_agent: Option<&str>,
        request_id: Option<String>,
    ) -> Self {
        Self {
            client_address,
            user_agent: user_agent.and_then(tidy_user_agent),
            request_id,
        }
    }
}

/// A User-Agent as it is kept: control characters dropped, at most 256 characters, none when
/// nothing is left. It is client text shown back to users and operators, so it cannot carry a
/// terminal escape or fill a row.
pub fn tidy_user_agent(raw: &str) -> Option<String> {
    let tidy: String = raw
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let tidy = tidy.trim();
    (!tidy.is_empty()).then(|| tidy.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_agent_loses_control_characters_and_is_cut_at_256_characters() {
        assert_eq!(
            tidy_user_agent("Phone/1.0 (\ttab)\u{1b}[2J").as_deref(),
            Some("Phone/1.0 (tab)[2J")
        );
        assert_eq!(
            tidy_user_agent(&"é".repeat(300)).unwrap().chars().count(),
            256
        );
        assert_eq!(tidy_user_agent(" \r\n "), None);
    }
}
