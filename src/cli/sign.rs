//! `hookfence sign`: a correctly signed test delivery, so an installation can
//! be tested end to end — its headers, a ready curl command, or the answer
//! to sending it. The scheme comes from a provider preset (`--provider`) or
//! from a route of a config (`--config --route`, which also brings the
//! route's key, public URL and delivery-id header).

use std::io::Read as _;
use std::path::PathBuf;
use std::time::SystemTime;

use hookfence::config::{resolve_secret, Config, DeliveryFields, Keys, Verification};
use hookfence::dedup::Token;
use hookfence::verify::display_header_name;
use hookfence::verify::field::Field;
use hookfence::verify::presets;
use hookfence::verify::secret::Secret;
use hookfence::verify::sign::Request;
use hookfence::verify::Scheme;

#[derive(clap::Args)]
pub struct SignArgs {
    /// Provider preset to sign for (see `hookfence providers`).
    #[arg(long, required_unless_present = "config", conflicts_with = "config")]
    provider: Option<String>,
    /// The key, for --provider: `env:NAME`, `file:PATH`, or the value itself
    /// (a value on the command line shows in `ps` and shell history).
    #[arg(long, required_unless_present = "config")]
    secret: Option<String>,
    /// Sign as this config's route does (scheme, first key, public URL).
    #[arg(long, requires = "route")]
    config: Option<PathBuf>,
    /// The route of --config.
    #[arg(long, requires = "config")]
    route: Option<String>,
    /// For a route with per-tenant secrets: the tenant whose key to use.
    #[arg(long)]
    tenant: Option<String>,
    /// File with the body to sign, `-` for stdin. Signed and sent byte for byte.
    #[arg(long)]
    body: PathBuf,
    /// Delivery id (default: a fresh one).
    #[arg(long)]
    id: Option<String>,
    /// Event type, for providers that send it in a header (e.g. `push`).
    #[arg(long)]
    event: Option<String>,
    /// Content-Type of the body.
    #[arg(long, default_value = "application/json")]
    content_type: String,
    /// The URL the sender calls, for providers that sign it (default: the
    /// route's public_url + the target's path, or the target URL).
    #[arg(long)]
    url: Option<String>,
    /// Print a curl command posting the delivery to this URL.
    #[arg(long, conflicts_with = "send")]
    curl: Option<String>,
    /// Post the delivery to this URL and print the answer.
    #[arg(long)]
    send: Option<String>,
}

/// What signing needs, from a preset or a route.
struct Signer {
    scheme: Scheme,
    key: Secret,
    fields: DeliveryFields,
    public_url: Option<String>,
}

pub fn run(args: &SignArgs) -> Result<String, String> {
    let signer = signer(args)?;
    let body = read_body(&args.body)?;
    let target = args.send.as_deref().or(args.curl.as_deref());
    let signed_url = args.url.clone().or_else(|| match (&signer.public_url, target) {
        (Some(base), Some(target)) => target
            .parse::<http::Uri>()
            .ok()
            .map(|uri| format!("{base}{}", uri.path_and_query().map_or("/", |pq| pq.as_str()))),
        (None, target) => target.map(str::to_owned),
        (Some(_), None) => None,
    });
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("hookfence-test-{}", Token::new()));
    let request = Request {
        body: &body,
        url: signed_url.as_deref(),
        id: &id,
        now: SystemTime::now(),
    };
    let credentials = signer.scheme.sign(&signer.key, &request).ok_or(
        "this scheme cannot be signed here: a public-key signature (Ed25519, ECDSA) needs the sender's private key, which hookfence never holds",
    )?;
    if signer.scheme_signs_url() && signed_url.is_none() {
        return Err("this provider signs the URL it calls: give --url (or --send / --curl)".into());
    }

    let mut headers: Vec<(String, String)> = vec![("Content-Type".into(), args.content_type.clone())];
    headers.extend(
        credentials
            .headers
            .iter()
            .map(|(n, v)| (display_header_name(n.as_str()), v.clone())),
    );
    let mut add_field = |field: &Option<Field>, value: &str| {
        if let Some(Field::Header(name)) = field {
            if !credentials.headers.iter().any(|(n, _)| n == name) {
                headers.push((display_header_name(name.as_str()), value.to_owned()));
            }
        }
    };
    add_field(&signer.fields.delivery_id, &id);
    if let Some(event) = &args.event {
        add_field(&signer.fields.event, event);
    }
    let with_query = |url: &str| match &credentials.query {
        Some((name, value)) => {
            let pair: String = form_urlencoded::Serializer::new(String::new())
                .append_pair(name, value)
                .finish();
            let separator = if url.contains('?') { '&' } else { '?' };
            format!("{url}{separator}{pair}")
        }
        None => url.to_owned(),
    };

    if let Some(url) = &args.send {
        return super::send::post(&with_query(url), &headers, &body);
    }
    if let Some(url) = &args.curl {
        return Ok(curl(&with_query(url), &headers, &args.body));
    }
    let mut out = String::new();
    for (name, value) in &headers {
        out.push_str(&format!("{name}: {value}\n"));
    }
    if let Some((name, value)) = &credentials.query {
        out.push_str(&format!("# and in the URL's query: {name}={value}\n"));
    }
    Ok(out)
}

impl Signer {
    fn scheme_signs_url(&self) -> bool {
        matches!(&self.scheme, Scheme::Signature(s) if s.signed.uses(&hookfence::verify::template::Part::Url))
    }
}

fn signer(args: &SignArgs) -> Result<Signer, String> {
    if let (Some(path), Some(name)) = (&args.config, &args.route) {
        let config = Config::load(path).map_err(|e| e.to_string())?;
        let route = config
            .routes
            .routes()
            .iter()
            .find(|r| &r.name == name)
            .ok_or_else(|| format!("{} has no route named `{name}`", path.display()))?;
        let Verification::Verified { verifier, keys } = &route.verification else {
            return Err(format!("route `{name}` is unsigned: there is nothing to sign"));
        };
        let key = match keys {
            Keys::Fixed(keys) => keys.first().ok_or("the route has no key")?,
            Keys::PerTenant { tenants, .. } => {
                let tenant = args
                    .tenant
                    .as_ref()
                    .ok_or("this route picks its key by tenant: give --tenant")?;
                tenants
                    .get(tenant)
                    .and_then(|k| k.first())
                    .ok_or_else(|| format!("route `{name}` has no tenant `{tenant}`"))?
            }
        };
        return Ok(Signer {
            scheme: verifier.schemes().first().cloned().ok_or("the route has no scheme")?,
            key: key.clone(),
            fields: DeliveryFields {
                delivery_id: route.fields.delivery_id.clone(),
                event: route.fields.event.clone(),
            },
            public_url: route.public_url.clone(),
        });
    }
    let name = args.provider.as_deref().unwrap_or_default();
    let preset = presets::find(name).ok_or_else(|| {
        let known: Vec<_> = presets::names().collect();
        format!("unknown provider `{name}`; known providers: {}", known.join(", "))
    })?;
    let reference = args.secret.as_deref().ok_or("give --secret")?;
    let text = if reference.starts_with("env:") || reference.starts_with("file:") {
        resolve_secret(reference, &|n| std::env::var(n).ok(), std::path::Path::new("."))?
    } else {
        Secret::new(reference.as_bytes().to_vec())
    };
    let key = preset.key(&String::from_utf8_lossy(text.expose()))?;
    let field = |text: Option<&str>| text.and_then(|t| Field::parse(t).ok());
    Ok(Signer {
        scheme: preset
            .verifier(false)?
            .schemes()
            .first()
            .cloned()
            .ok_or("the preset has no scheme")?,
        key,
        fields: DeliveryFields {
            delivery_id: field(preset.delivery_id),
            event: field(preset.event),
        },
        public_url: None,
    })
}

fn read_body(path: &PathBuf) -> Result<Vec<u8>, String> {
    if path.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
        return Ok(body);
    }
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// A curl command posting the body file as is.
fn curl(url: &str, headers: &[(String, String)], body: &std::path::Path) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut out = format!("curl -sS -i -X POST {}", quote(url));
    for (name, value) in headers {
        out.push_str(&format!(" \\\n  -H {}", quote(&format!("{name}: {value}"))));
    }
    let source = if body.as_os_str() == "-" {
        "-".to_owned()
    } else {
        body.display().to_string()
    };
    out.push_str(&format!(" \\\n  --data-binary {}\n", quote(&format!("@{source}"))));
    out
}
