//! A signed-in user changes their password (Cognito's `ChangePassword`): the old password is
//! checked like a sign-in (same lockout, same hashing queue), the new one is hashed, and the SRP
//! verifier follows it. Sessions stay signed in, as in Cognito.

use super::{Accounts, AuthError};
use crate::{
    domain::{
        audit::{AuditEvent, EventType},
        origin::RequestOrigin,
        password::Password,
    },
    store::users as store,
};

impl Accounts {
    pub async fn change_password(
        &self,
        user_id: &str,
        previous: String,
        proposed: String,
        origin: RequestOrigin,
    ) -> Result<(), AuthError> {
        let proposed = Password::parse(proposed).map_err(|_| AuthError::InvalidPassword)?;
        let previous = Password::parse(previous).ok();
        let admission = self.hasher.admit()?;
        let user = store::find_by_id(&self.db, user_id)
            .await?
            // A user of an external issuer has no password here.
            .filter(|u| u.issuer.is_none())
            .ok_or(AuthError::BadCredentials)?;
        let _turn = admission.within(self.turn(&user.email)).await?;
        self.refuse_if_locked(&user.email, &origin).await?;
        let matched = match previous {
            Some(previous) => {
                admission
                    .verify(previous, Some(user.password_hash.clone()))
                    .await?
            }
            None => false,
        };
        if !matched {
            self.record_failure(&user.email, origin).await?;
            return Err(AuthError::BadCredentials);
        }
        store::clear_sign_in_failures(&self.db, &user.email).await?;
        let for_srp = self.srp.as_ref().map(|_| super::sign_in::copy(&proposed));
        let password_hash = self.hasher.admit()?.hash(proposed).await?;
        let event = AuditEvent::new(EventType::PasswordChanged, origin).user(&user.id);
        store::set_password_hash(&self.db, &user.id, password_hash, &event, self.now()).await?;
        if let (Some(srp), Some(password)) = (&self.srp, for_srp) {
            srp.store(&self.db, &user.id, password, self.now()).await?;
        }
        Ok(())
    }
}
