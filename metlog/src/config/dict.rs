//! metlog-py's dict forms of a configuration (`client_from_dict_config`),
//! accepted by [`Config`]'s serde form besides its own: top-level
//! `sender_<option>` and `global_<option>` keys (metlog-py's
//! `nest_prefixes`), and filters and plugins given as `(provider, options)`
//! pairs.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{Config, PluginConfig, ProviderConfig, RouteConfig, SenderConfig};
use crate::config_value::ConfigValue;
use crate::Severity;

/// [`Config`] as read: its fields, and the prefixed keys.
#[derive(serde::Deserialize)]
#[serde(default)]
pub(super) struct ConfigForm {
    logger: String,
    severity: Severity,
    disabled_timers: Vec<String>,
    sender: Option<SenderConfig>,
    routes: Vec<RouteConfig>,
    filters: Vec<ProviderConfig>,
    plugins: BTreeMap<String, PluginConfig>,
    global: BTreeMap<String, ConfigValue>,
    #[serde(flatten)]
    prefixed: BTreeMap<String, ConfigValue>,
}

impl Default for ConfigForm {
    fn default() -> Self {
        let Config {
            logger,
            severity,
            disabled_timers,
            routes,
            filters,
            plugins,
            global,
            ..
        } = Config::default();
        ConfigForm {
            logger,
            severity,
            disabled_timers,
            sender: None,
            routes,
            filters,
            plugins,
            global,
            prefixed: BTreeMap::new(),
        }
    }
}

impl TryFrom<ConfigForm> for Config {
    type Error = String;

    /// As metlog-py's `nest_prefixes`: `sender_<option>` keys go into the
    /// sender (over what `sender` says), `global_<option>` into `global`;
    /// any other key is refused.
    fn try_from(form: ConfigForm) -> Result<Config, String> {
        let mut sender = form.sender;
        let mut global = form.global;
        for (key, value) in form.prefixed {
            if let Some(option) = key.strip_prefix("sender_") {
                let sender = sender.get_or_insert_with(|| SenderConfig {
                    class: String::new(),
                    options: BTreeMap::new(),
                });
                match (option, value) {
                    ("class", ConfigValue::Str(class)) => sender.class = class,
                    ("class", other) => {
                        return Err(format!("`sender_class` must be text, found {other}"))
                    }
                    (option, value) => drop(sender.options.insert(option.to_owned(), value)),
                }
            } else if let Some(option) = key.strip_prefix("global_") {
                global.insert(option.to_owned(), value);
            } else {
                return Err(format!(
                    "unknown field `{key}`, expected one of `logger`, `severity`, \
                     `disabled_timers`, `sender`, `routes`, `filters`, `plugins`, `global`, or \
                     a `sender_` or `global_` option"
                ));
            }
        }
        let mut sender = sender.unwrap_or_default();
        if sender.class.is_empty() {
            sender.class = SenderConfig::default().class;
        }
        Ok(Config {
            logger: form.logger,
            severity: form.severity,
            disabled_timers: form.disabled_timers,
            sender,
            routes: form.routes,
            filters: form.filters,
            plugins: form.plugins,
            global,
        })
    }
}

/// A filter or plugin as read: a table with `provider`, or metlog-py's
/// `(provider, options)` pair.
pub(super) struct ProviderForm {
    provider: String,
    options: BTreeMap<String, ConfigValue>,
}

impl<'de> serde::Deserialize<'de> for ProviderForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FormVisitor)
    }
}

struct FormVisitor;

impl<'de> Visitor<'de> for FormVisitor {
    type Value = ProviderForm;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table with `provider`, or a [provider, {options}] pair")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProviderForm, A::Error> {
        let mut options: BTreeMap<String, ConfigValue> = BTreeMap::new();
        let mut provider = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "provider" {
                provider = Some(map.next_value::<String>()?);
            } else {
                options.insert(key, map.next_value()?);
            }
        }
        let provider = provider.ok_or_else(|| de::Error::missing_field("provider"))?;
        Ok(ProviderForm { provider, options })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ProviderForm, A::Error> {
        let provider = seq
            .next_element::<String>()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let options = seq.next_element()?.unwrap_or_default();
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok(ProviderForm { provider, options })
    }
}

impl From<ProviderForm> for ProviderConfig {
    fn from(form: ProviderForm) -> ProviderConfig {
        ProviderConfig {
            provider: form.provider,
            options: form.options,
        }
    }
}

impl TryFrom<ProviderForm> for PluginConfig {
    type Error = String;

    /// `override` comes out of the options, as metlog-py pops it.
    fn try_from(mut form: ProviderForm) -> Result<PluginConfig, String> {
        let override_ = match form.options.remove("override") {
            None => false,
            Some(ConfigValue::Bool(b)) => b,
            Some(other) => return Err(format!("`override` must be true or false, found {other}")),
        };
        Ok(PluginConfig {
            provider: form.provider,
            override_,
            options: form.options,
        })
    }
}
