//! URL schemes → adapters. Each adapter crate registers an [`AdapterFactory`] with
//! [`inventory::submit!`]; [`Files::from_url`](crate::Files::from_url) finds it.
//!
//! A crate nothing names is not linked, and its registration vanishes with it: the umbrella
//! crate `files` names every enabled adapter crate for that reason, and [`register`] is the
//! explicit fallback for builds that link adapters some other way.

use std::sync::{Arc, Mutex};

use crate::adapter::Adapter;
use crate::client::Files;
use crate::error::{Error, Result};

/// Builds adapters for one URL scheme.
#[derive(Debug)]
pub struct AdapterFactory {
    /// The scheme, e.g. `file`, `s3`.
    pub scheme: &'static str,
    /// The provider name the adapters report.
    pub provider: &'static str,
    /// Builds the adapter for the store a URL names (`s3://bucket`, `file:///srv/store`).
    pub store: fn(&url::Url) -> Result<Arc<dyn Adapter>>,
    /// Splits an object URL (`s3://bucket/key`, `file:///srv/store/key`) into the store's
    /// adapter and the key.
    pub object: ObjectOpener,
}

/// Splits an object URL into its store's adapter and the key.
pub type ObjectOpener = fn(&url::Url) -> Result<(Arc<dyn Adapter>, String)>;

inventory::collect!(AdapterFactory);

static EXPLICIT: Mutex<Vec<&'static AdapterFactory>> = Mutex::new(Vec::new());

/// Registers a factory at run time (for builds where the linker dropped the `inventory` entry).
pub fn register(factory: &'static AdapterFactory) {
    let mut list = EXPLICIT.lock().expect("registry lock");
    if !list.iter().any(|f| std::ptr::eq(*f, factory)) {
        list.push(factory);
    }
}

/// Every registered factory: explicit registrations first, then `inventory`'s.
pub fn factories() -> Vec<&'static AdapterFactory> {
    let mut out: Vec<&'static AdapterFactory> = EXPLICIT.lock().expect("registry lock").clone();
    for f in inventory::iter::<AdapterFactory> {
        if !out.iter().any(|g| g.scheme == f.scheme) {
            out.push(f);
        }
    }
    out
}

/// The schemes that can be opened in this build.
pub fn schemes() -> Vec<&'static str> {
    let mut s: Vec<_> = factories().iter().map(|f| f.scheme).collect();
    s.sort_unstable();
    s.dedup();
    s
}

fn parse(url: &str) -> Result<(url::Url, &'static AdapterFactory)> {
    let parsed = url::Url::parse(url).map_err(|e| {
        Error::invalid_input(format!(
            "`{}` is not a valid URL: {e}",
            Error::redacted(url)
        ))
    })?;
    let factory = factories()
        .into_iter()
        .find(|f| f.scheme == parsed.scheme())
        .ok_or_else(|| {
            Error::not_supported(format!(
                "no adapter for URL scheme `{}` in this build (available: {})",
                parsed.scheme(),
                schemes().join(", ")
            ))
        })?;
    Ok((parsed, factory))
}

/// Opens the store a URL names.
pub fn open_store(url: &str) -> Result<Files> {
    let (parsed, factory) = parse(url)?;
    (factory.store)(&parsed).map(Files::from_arc)
}

/// Opens an object URL: the client for its store, and the key.
pub fn open_object(url: &str) -> Result<(Files, String)> {
    let (parsed, factory) = parse(url)?;
    let (adapter, key) = (factory.object)(&parsed)?;
    Ok((Files::from_arc(adapter), key))
}

/// The URL's path without its leading `/`, percent-decoded: the key of `scheme://store/key`.
pub fn url_key(url: &url::Url) -> Result<String> {
    let path = url.path().trim_start_matches('/');
    percent_decode(path)
}

/// Decodes `%XX` escapes (UTF-8), through the `percent-encoding` crate.
pub fn percent_decode(s: &str) -> Result<String> {
    crate::encode::decode(s).map_err(|_| Error::invalid_input("the URL path is not valid UTF-8"))
}

/// The query parameters of a store URL, each at most once, refusing any not in `allowed`
/// (a misspelt `endpoit=` must not be ignored silently). Values are percent-decoded.
pub fn url_params(
    url: &url::Url,
    allowed: &[&str],
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in url.query_pairs() {
        if !allowed.contains(&k.as_ref()) {
            return Err(Error::invalid_input(format!(
                "`{}://` URLs take no parameter `{k}` (they take: {})",
                url.scheme(),
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            )));
        }
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::invalid_input(format!(
                "the URL gives the parameter `{k}` twice"
            )));
        }
    }
    Ok(out)
}

/// An adapter that opens the store a URL names: what [`AdapterFactory::of`] needs.
pub trait FromUrl: Adapter + Sized + 'static {
    /// The adapter for the store `url` names (`gs://bucket/...`); the key is not its concern.
    fn from_url(url: &url::Url) -> Result<Self>;
}

fn store_of<A: FromUrl>(url: &url::Url) -> Result<Arc<dyn Adapter>> {
    Ok(Arc::new(A::from_url(url)?))
}

fn object_of<A: FromUrl>(url: &url::Url) -> Result<(Arc<dyn Adapter>, String)> {
    let adapter = A::from_url(url)?;
    let key = url_key(url)?;
    Ok((Arc::new(adapter), key))
}

impl AdapterFactory {
    /// The factory of `scheme` for the adapter `A`: the store from [`FromUrl::from_url`], the
    /// key from the URL's path ([`url_key`]). An adapter whose key lives elsewhere in its URL
    /// (a local path under a root) replaces `object`:
    /// `AdapterFactory { object: my_opener, ..AdapterFactory::of::<A>("x", "x") }`.
    pub const fn of<A: FromUrl>(scheme: &'static str, provider: &'static str) -> AdapterFactory {
        AdapterFactory {
            scheme,
            provider,
            store: store_of::<A>,
            object: object_of::<A>,
        }
    }
}

/// Registers a provider crate's factories: an `inventory` entry for each, and a `pub fn
/// register()` that registers them explicitly (for builds where the linker dropped the
/// `inventory` entries).
///
/// ```ignore
/// pub const FACTORY: files_core::AdapterFactory = files_core::AdapterFactory::of::<MyAdapter>("my", "my");
/// files_core::register_factories!(FACTORY);
/// ```
#[macro_export]
macro_rules! register_factories {
    ($($factory:path),+ $(,)?) => {
        $( $crate::inventory::submit!($factory); )+

        /// Registers this crate's URL schemes explicitly (a fallback for builds where the
        /// linker dropped their `inventory` entries).
        pub fn register() {
            $({
                static F: $crate::AdapterFactory = $factory;
                $crate::registry::register(&F);
            })+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b/%C3%A7%2").unwrap(), "a b/ç%2");
        assert!(percent_decode("%FF").is_err());
    }

    #[test]
    fn params() {
        let u = url::Url::parse("x://b/k?endpoint=http%3A%2F%2F127.0.0.1%3A9&region=r").unwrap();
        let p = url_params(&u, &["endpoint", "region"]).unwrap();
        assert_eq!(p["endpoint"], "http://127.0.0.1:9");
        let e = url_params(&u, &["endpoint"]).unwrap_err();
        assert!(e.to_string().contains("no parameter `region`"), "{e}");
        let twice = url::Url::parse("x://b/k?endpoint=a&endpoint=b").unwrap();
        assert!(url_params(&twice, &["endpoint"]).is_err());
    }
}
