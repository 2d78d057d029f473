//! Passwords: 8 to 256 characters of any Unicode, never truncated, never printed.

use secrecy::{ExposeSecret, SecretString};

pub const MIN_CHARS: usize = 8;
pub const MAX_CHARS: usize = 256;

/// A password of acceptable length. `Debug` is redacted by `SecretString`.
#[derive(Debug)]
pub struct Password(SecretString);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("password must be 8 to 256 characters")]
pub struct InvalidPassword;

impl Password {
    pub fn parse(raw: String) -> Result<Self, InvalidPassword> {
        let chars = raw.chars().count();
        if (MIN_CHARS..=MAX_CHARS).contains(&chars) {
            Ok(Self(SecretString::from(raw)))
        } else {
            Err(InvalidPassword)
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_is_counted_in_characters() {
        assert!(Password::parse("ключ-пароль".into()).is_ok());
        assert!(Password::parse("ü".repeat(256)).is_ok());
        assert_eq!(
            Password::parse("ü".repeat(257)).unwrap_err(),
            InvalidPassword
        );
        assert_eq!(
            Password::parse("short".into()).unwrap_err(),
            InvalidPassword
        );
    }

    #[test]
    fn debug_does_not_show_the_password() {
        let password = Password::parse("correct horse battery".into()).unwrap();
        assert!(!format!("{password:?}").contains("horse"));
    }
}
