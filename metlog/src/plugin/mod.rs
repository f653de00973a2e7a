//! Plugins: extensions bound to a client by name (metlog-py's dynamic
//! plugins such as metlog-cef), usually from a configuration file's
//! `<section>_plugin_<name>` sections.
//!
//! Built in: [`cef`] (metlog-cef's security events), [`panics`] (a panic
//! hook, metlog-raven's role) and [`process`] (metlog-psutils' process
//! statistics).
//!
//! A plugin is any `Send + Sync` value; the client keeps it under a name and
//! hands it back typed with [`Client::plugin`](crate::Client::plugin).
//! Configuration files name a *provider*, which builds the plugin from the
//! section's options; register your own providers with [`register_provider`].
//!
//! ```
//! use std::collections::BTreeMap;
//! use metlog::config::ConfigValue;
//!
//! struct Greeting(String);
//!
//! metlog::plugin::register_provider("myapp.greeting", |options| {
//!     let text = options.get("text").and_then(|v| v.as_string()).unwrap_or_default();
//!     Ok(Box::new(Greeting(text)))
//! });
//! let client = metlog::config::from_ini_str(
//!     "[metlog]\nsender_class = null\n[metlog_plugin_hello]\nprovider = myapp.greeting\ntext = hi\n",
//!     "metlog",
//! ).unwrap();
//! assert_eq!(client.plugin::<Greeting>("hello").unwrap().0, "hi");
//! ```

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use crate::config_value::ConfigValue;

/// Builds a plugin from its configuration options (all but `provider` and
/// `override`); an `Err` explains what is wrong with them.
pub type Provider =
    fn(&BTreeMap<String, ConfigValue>) -> Result<Box<dyn Any + Send + Sync>, String>;

pub mod cef;
pub mod panics;
pub mod process;
#[cfg(feature = "raven")]
#[cfg_attr(docsrs, doc(cfg(feature = "raven")))]
pub mod raven;

/// The built-in provider of `cef` plugins, under our name and metlog-py's.
const CEF_PROVIDERS: [&str; 3] = [
    "cef",
    "metlog_cef.cef_plugin:config_plugin",
    "metlog_cef.cef_plugin.config_plugin",
];

/// The built-in provider of `raven` plugins (feature `raven`), under our
/// name and metlog-raven's.
const RAVEN_PROVIDERS: [&str; 3] = [
    "raven",
    "metlog_raven.raven_plugin:config_plugin",
    "metlog_raven.raven_plugin.config_plugin",
];

/// Registered providers; the built-in ones answer when none of their
/// name is registered.
static PROVIDERS: RwLock<BTreeMap<String, Provider>> = RwLock::new(BTreeMap::new());

/// The name a built-in provider's plugin is bound under, whatever its
/// section is called: metlog-py binds a plugin under its provider's
/// `metlog_name` (metlog-cef's is `cef`), not the section's suffix.
pub(crate) fn bound_name(provider: &str) -> Option<&'static str> {
    if RAVEN_PROVIDERS.contains(&provider) {
        return Some("raven");
    }
    CEF_PROVIDERS.contains(&provider).then_some("cef")
}

/// Makes `provider` available to configuration files under `name`
/// (replacing any provider of that name).
pub fn register_provider(name: impl Into<String>, provider: Provider) {
    PROVIDERS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(name.into(), provider);
}

/// The provider registered under `name`.
pub(crate) fn provider(name: &str) -> Option<Provider> {
    let registered = PROVIDERS.read().unwrap_or_else(PoisonError::into_inner);
    let builtin = || match bound_name(name)? {
        "raven" => Some(raven_provider as Provider),
        _ => Some(cef::provider as Provider),
    };
    registered.get(name).copied().or_else(builtin)
}

#[cfg(feature = "raven")]
use raven::provider as raven_provider;

/// Without the `raven` feature, a `raven` section is an error that says so.
#[cfg(not(feature = "raven"))]
fn raven_provider(_: &BTreeMap<String, ConfigValue>) -> Result<Box<dyn Any + Send + Sync>, String> {
    Err(
        "metlog was built without its `raven` feature (Sentry events): enable it in \
         Cargo.toml (`metlog = { …, features = [\"raven\"] }`)"
            .to_owned(),
    )
}

/// Plugins that act on the client rather than being looked up on it: the
/// panic hook (`provider = panics`, options `flush_timeout` in seconds,
/// default 2, and `sentry`: `sentry` messages instead of `panic` ones) and periodic process statistics (`provider = process`,
/// options `prefix`, default `<logger>.process`, and `interval` in seconds,
/// default 10; the reporter runs for the rest of the process).
pub(crate) fn attaches(provider: &str) -> bool {
    matches!(provider, "panics" | "process")
}

pub(crate) fn attach(
    provider: &str,
    client: &crate::Client,
    options: &BTreeMap<String, ConfigValue>,
) -> Result<(), String> {
    let seconds = |key: &str, default: f64| -> Result<std::time::Duration, String> {
        // An integer, a number, or text that is one.
        let value = match options.get(key) {
            None => default,
            Some(v) => v
                .as_string()
                .and_then(|t| t.trim().parse().ok())
                .ok_or_else(|| format!("`{key}` must be a number of seconds, found {v}"))?,
        };
        if !(0.001..=86_400.0).contains(&value) {
            return Err(format!(
                "`{key}` must be between 0.001 and 86400 seconds, found {value}"
            ));
        }
        Ok(std::time::Duration::from_secs_f64(value))
    };
    let only = |allowed: &[&str]| match options.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!(
            "unknown option `{k}` (expected {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    };
    match provider {
        "panics" => {
            only(&["flush_timeout", "sentry"])?;
            let sentry = match options.get("sentry") {
                None => false,
                Some(v) => v.as_bool().ok_or("`sentry` must be true or false")?,
            };
            if sentry && cfg!(not(feature = "raven")) {
                return Err(raven_provider(options).err().unwrap_or_default());
            }
            let timeout = seconds("flush_timeout", 2.0)?;
            panics::install_as(Some(client.clone()), timeout, sentry);
        }
        _ => {
            only(&["prefix", "interval"])?;
            let prefix = match options.get("prefix") {
                Some(v) => v.as_string().ok_or("`prefix` must be text")?,
                None => format!("{}.process", client.logger()),
            };
            let reporter = process::spawn(client.clone(), prefix, seconds("interval", 10.0)?);
            // Configured reporting lasts as long as the process.
            std::mem::forget(reporter);
        }
    }
    Ok(())
}

/// Names a plugin may only take with `override = true`: the client's own
/// methods (metlog-py refuses to shadow an existing attribute).
pub(crate) const RESERVED_NAMES: &[&str] = &[
    "metlog",
    "incr",
    "counter",
    "timer",
    "timer_send",
    "debug",
    "info",
    "warn",
    "error",
    "critical",
    "exception",
    "log",
    "log_fmt",
    "flush",
    "flush_timeout",
    "flush_guard",
    "stats",
    "logger",
    "severity",
    "is_active",
    "plugin",
    "sender_as",
    "config_json",
];
