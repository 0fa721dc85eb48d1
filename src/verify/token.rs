//! Shared-token schemes: the sender puts the secret itself in a header
//! (GitLab's `X-Gitlab-Token`). Compared in constant time, length included.

use http::header::HeaderName;

use super::Rejection;
use crate::secret::Secret;

/// A token carried verbatim in one header.
#[derive(Debug, Clone)]
pub struct TokenScheme {
    pub header: HeaderName,
}

impl TokenScheme {
    pub(super) fn verify(&self, value: &[u8], secrets: &[Secret]) -> Result<(), Rejection> {
        if secrets.iter().any(|secret| secret.token_matches(value)) {
            Ok(())
        } else {
            Err(Rejection::BadToken)
        }
    }
}
