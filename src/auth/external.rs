//! A verified token of a trusted external issuer, taken as one of ours: `(iss, sub)` maps to a
//! local user (created on first sight), and the token's sign-in (`origin_jti`) to a session, so
//! everything after this point (sessions, sign-out, keys, limits) treats both alike.

use uuid::Uuid;

use super::{AuthError, LiveState, issuers::ExternalToken, tokens::AccessClaims};
use crate::{
    domain::tier::Tier,
    store::{
        changes::ChangeKind,
        external_users::{self, Profile},
    },
};

/// How long a sign-in at an external issuer is remembered after the expiry of the last token
/// of it seen here (as long as one of our own sign-ins lasts). A revoked one is refused for as
/// long: its issuer may keep minting tokens for it from a refresh token.
const REMEMBER_SECS: i64 = 30 * 24 * 3600;

/// The claims of an external token as the rest of the service reads ours: `sub` is the local
/// user id, `origin_jti` the local session id.
pub(super) async fn adopt(
    live: &LiveState,
    token: ExternalToken,
    now: i64,
) -> Result<AccessClaims, AuthError> {
    let db = live.db();
    // From an authoritative issuer, tier and team are the token's when it states a tier (an
    // unknown one is free). A token without the claim (a plain Cognito access token beside ID
    // tokens that carry it) changes neither.
    let tier_and_team = token
        .tier
        .as_deref()
        .filter(|_| token.authoritative)
        .map(|tier| {
            let tier = tier.parse::<Tier>().unwrap_or(Tier::Free);
            (tier.as_str(), token.team_id.as_deref())
        });
    let profile = Profile {
        iss: &token.key.iss,
        sub: &token.sub,
        email: token.email.as_deref(),
        tier_and_team,
    };
    let (user, changed) = external_users::adopt(
        db,
        &profile,
        Uuid::new_v4().to_string(),
        Tier::Free.as_str(),
        now,
    )
    .await?;
    if changed {
        live.apply(&ChangeKind::User, &user.id);
    }
    let session_id = external_users::session_id(&token.key.iss, &token.origin);
    external_users::ensure_session(
        db,
        &session_id,
        &user.id,
        token.auth_time,
        token.exp.saturating_add(REMEMBER_SECS),
    )
    .await?;
    Ok(AccessClaims {
        iss: token.key.iss.clone(),
        sub: user.id,
        iat: token.iat,
        exp: token.exp,
        jti: String::new(),
        auth_time: token.auth_time,
        token_use: "access".to_owned(),
        // Checked against the issuer's own client ids when the token was verified.
        client_id: String::new(),
        event_id: String::new(),
        scope: String::new(),
        origin_jti: session_id,
        username: token.sub,
        tier: user.tier,
        team_id: user.team_id.unwrap_or_default(),
        signed_by: Some(token.key),
    })
}
