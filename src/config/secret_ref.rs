//! Secret references: `env:NAME` and `file:/path`. Secrets are never written
//! inline in the config, so config files can be committed and reviewed.

use std::path::Path;

use crate::verify::secret::Secret;

/// Resolves one reference. Errors describe the reference, never the secret.
pub fn resolve(reference: &str, env: &dyn Fn(&str) -> Option<String>, base: &Path) -> Result<Secret, String> {
    let bytes = if let Some(name) = reference.strip_prefix("env:") {
        let value = env(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
        if value.is_empty() {
            return Err(format!("environment variable {name} is empty"));
        }
        value.into_bytes()
    } else if let Some(path) = reference.strip_prefix("file:") {
        let full = base.join(path);
        let mut bytes = std::fs::read(&full).map_err(|e| format!("cannot read secret file {}: {e}", full.display()))?;
        // Files written by `echo` or editors end in a newline that is not part of the secret.
        if bytes.ends_with(b"\n") {
            bytes.pop();
            if bytes.ends_with(b"\r") {
                bytes.pop();
            }
        }
        if bytes.is_empty() {
            return Err(format!("secret file {} is empty", full.display()));
        }
        bytes
    } else {
        return Err("a secret must be a reference, `env:NAME` or `file:/path`; inline secrets are refused so configs can be committed safely".into());
    };
    Ok(Secret::new(bytes))
}
