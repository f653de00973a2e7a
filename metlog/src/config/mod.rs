//! Configuration: metlog-py's INI files unchanged, TOML, or any serde format.
//!
//! A metlog-py INI section works as it is:
//!
//! ```
//! let client = metlog::config::from_ini_str(r#"
//! [metlog]
//! logger = myapp
//! severity = 4
//! disabled_timers = slow.report
//!                   other.timer
//! sender_class = metlog.senders.DebugCaptureSender
//! global_disabled_decorators = incr_count
//!
//! [metlog_filter_sev_max]
//! provider = metlog.filters.severity_max_provider
//! severity = 4
//! "#, "metlog")?;
//! assert_eq!(client.logger(), "myapp");
//! assert!(client.sender_as::<metlog::sender::CaptureSender>().is_some());
//! # metlog::set_disabled_decorators(Vec::<&str>::new()).unwrap();
//! # Ok::<(), metlog::config::ConfigError>(())
//! ```
//!
//! The same as TOML:
//!
//! ```
//! let client = metlog::config::from_toml_str(r#"
//! logger = "myapp"
//! severity = 4
//! disabled_timers = ["slow.report"]
//! sender = { class = "capture" }
//!
//! [[filters]]
//! provider = "severity_max"
//! severity = 4
//! "#)?;
//! # assert_eq!(client.logger(), "myapp");
//! # Ok::<(), metlog::config::ConfigError>(())
//! ```
//!
//! INI rules (metlog-py's): the client section holds `logger`, `severity`,
//! `disabled_timers`, `sender_<option>` (with `sender_class`) and
//! `global_<option>`; `<section>_filter_<any>` sections hold a filter each
//! (`provider` plus its options, applied in file order);
//! `<section>_plugin_<name>` sections bind a plugin (`provider`, `override`,
//! options); `<section>_route_<any>` sections send the listed `types` to
//! their own sender (`class` plus options). Values convert as metlog-py does:
//! integers, `true t yes on` / `false f no off`, indented multi-line values as
//! lists, `${VAR}` from the environment.
//!
//! Every error names the file, section, key and (INI) line. In INI, as in
//! metlog-py, an option the client does not know (a top-level key, a sender
//! option its class does not take, a name in `global_disabled_decorators`
//! that is no decorator's) is left out and reported once on stderr,
//! `[DEFAULT]` keys serve interpolation and defaults only, and
//! [`from_ini_str_strict`] refuses unknown options instead; in TOML and
//! [`Config`] an unknown key is an error, except among the options of a
//! sender class registered with [`register_sender`].

mod error;
mod ini;
mod origin;
mod senders;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{OnceLock, PoisonError, RwLock};

pub use crate::config_value::ConfigValue;
pub use error::{ConfigError, ConfigErrorKind};
pub use senders::{register_sender, SenderFactory};

use crate::filter::{self, Filter};
use crate::{Client, Severity};
use origin::{Lines, Origin, Step};

/// The environment variable naming the configuration file used by
/// [`init_from_env`] (and the quickstart).
pub const CONFIG_ENV: &str = "METLOG_CONFIG";
/// The environment variable naming the INI section (default `metlog`).
pub const SECTION_ENV: &str = "METLOG_CONFIG_SECTION";

/// The whole configuration of a client, as a plain serde struct: load it
/// from any format your application already parses, then [`Config::build`].
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The messages' default `logger`.
    pub logger: String,
    /// The messages' default severity (0–7 or a name; default 6).
    pub severity: Severity,
    /// Timer names to disable (`*` for all).
    pub disabled_timers: Vec<String>,
    /// The sender (default: stdout).
    pub sender: SenderConfig,
    /// Senders for particular message types; the rest go to `sender`.
    pub routes: Vec<RouteConfig>,
    /// Filters, applied in order.
    pub filters: Vec<ProviderConfig>,
    /// Plugins by name.
    pub plugins: BTreeMap<String, PluginConfig>,
    /// Process-wide settings (metlog-py's `global_*`): `disabled_decorators`
    /// (`timeit`/`timer`, `incr_count`/`incr`; another name is an error,
    /// left out and reported by [`from_ini_str`]) is applied; everything is
    /// kept in [`global_config`].
    pub global: BTreeMap<String, ConfigValue>,
}

/// A sender: its `class` and options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SenderConfig {
    /// `udp`, `tcp`, `statsd`, `syslog`, `zmq`, `stdout`, `file`, `capture`,
    /// `log`, `null`, a metlog-py class name, or a registered class; stdout
    /// when absent (as in INI), so a misspelt `class` shows up as an
    /// unknown option of the stdout sender rather than a missing field.
    #[serde(default = "default_class")]
    pub class: String,
    /// The class's options.
    #[serde(flatten)]
    pub options: BTreeMap<String, ConfigValue>,
}

fn default_class() -> String {
    "stdout".to_owned()
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            class: "stdout".to_owned(),
            options: BTreeMap::new(),
        }
    }
}

/// Messages of `types` go to `sender`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Message types, e.g. `["counter", "timer"]`.
    pub types: Vec<String>,
    /// Where they go.
    pub sender: SenderConfig,
}

/// A filter: its `provider` and options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProviderConfig {
    /// `severity_max`, `type_whitelist`, `type_blacklist`,
    /// `type_severity_max`, or metlog-py's `metlog.filters.<name>_provider`.
    pub provider: String,
    /// The provider's options.
    #[serde(flatten)]
    pub options: BTreeMap<String, ConfigValue>,
}

/// A plugin: its provider, whether it may take a reserved name, options.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PluginConfig {
    /// A provider registered with [`plugin::register_provider`](crate::plugin::register_provider).
    pub provider: String,
    /// Allow a name that is one of the client's own methods.
    #[serde(default, rename = "override")]
    pub override_: bool,
    /// The plugin's options.
    #[serde(flatten)]
    pub options: BTreeMap<String, ConfigValue>,
}

impl Config {
    /// Builds the client this configuration describes (and applies its
    /// `global` settings).
    pub fn build(&self) -> Result<Client, ConfigError> {
        self.build_from(&Origin::Code)
    }

    fn build_from(&self, origin: &Origin<'_>) -> Result<Client, ConfigError> {
        // An error about `key` in the table at `table`: named and located
        // the way the source format writes it.
        let locate = |e: ConfigError, table: &[Step<'_>]| -> ConfigError {
            let key = e.key().map(str::to_owned);
            let key_line = |table: &[Step<'_>]| {
                let key = key.as_deref()?;
                let mut path = table.to_vec();
                path.push(Step::Key(key));
                origin.line(&path)
            };
            match origin {
                Origin::Code => e,
                Origin::Ini { section, .. } => match table {
                    // INI flattens the sender's options into the client's
                    // section as `sender_<option>`.
                    [Step::Key(prefix @ ("sender" | "global"))] => {
                        let Some(key) = key.as_deref() else {
                            let class = [Step::Key(prefix), Step::Key("class")];
                            return e.in_section(section).at_line(origin.line(&class));
                        };
                        let message = strip_key(&e);
                        ConfigError::new(e.kind(), message)
                            .at_key(&format!("{prefix}_{key}"))
                            .in_section(section)
                            .at_line(key_line(table))
                    }
                    [Step::Key("plugins"), Step::Key(name)] => e
                        .in_section(&format!("{section}_plugin_{name}"))
                        .at_line(key_line(table).or_else(|| origin.line(table))),
                    _ => e,
                },
                // The key's line, or the table's when the key is missing
                // (or the error is about the table as a whole).
                Origin::Toml { .. } => e
                    .in_section(&toml_table_name(table))
                    .at_line(key_line(table).or_else(|| origin.line(table))),
            }
        };
        let mut builder = Client::builder(self.logger.clone())
            .severity(self.severity)
            .disabled_timers(self.disabled_timers.iter().cloned());

        let (sender, name) = senders::build(&self.sender.class, &self.sender.options)
            .map_err(|e| locate(e, &[Step::Key("sender")]))?;
        if self.routes.is_empty() {
            builder.set_sender_boxed(sender, name);
        } else {
            let mut router = crate::sender::Router::new(sender);
            for (index, route) in self.routes.iter().enumerate() {
                let (routed, _) = senders::build(&route.sender.class, &route.sender.options)
                    .map_err(|e| {
                        let table = [Step::Key("routes"), Step::Index(index), Step::Key("sender")];
                        locate(e, &table)
                    })?;
                router = router.route(route.types.iter().cloned(), routed);
            }
            builder.set_sender_boxed(Box::new(router), "Router");
        }

        for (index, spec) in self.filters.iter().enumerate() {
            let filter = build_filter(spec)
                .map_err(|e| locate(e, &[Step::Key("filters"), Step::Index(index)]))?;
            builder.add_filter_boxed(filter);
        }

        let mut bound: BTreeMap<&str, &str> = BTreeMap::new();
        for (section_name, plugin) in &self.plugins {
            let table = [Step::Key("plugins"), Step::Key(section_name)];
            if crate::plugin::attaches(&plugin.provider) {
                // Not bound under its name: set up once the client exists.
                continue;
            }
            // As metlog-py: under the provider's own name when it has one
            // (a `[metlog_plugin_security]` of metlog-cef binds `cef`).
            let name = crate::plugin::bound_name(&plugin.provider).unwrap_or(section_name);
            if crate::plugin::RESERVED_NAMES.contains(&name) && !plugin.override_ {
                let e = ConfigError::new(
                    ConfigErrorKind::Plugin,
                    format!(
                        "plugin name {name:?} is one of the client's own methods; set `override = true` \
                         to replace it"
                    ),
                );
                return Err(locate(e, &table));
            }
            // As metlog-py ("The name [cef] is already in use"): a second
            // plugin under one name replaces the first only when it says so.
            if let Some(first) = bound.insert(name, section_name) {
                if !plugin.override_ {
                    let e = ConfigError::new(
                        ConfigErrorKind::Plugin,
                        format!(
                            "plugin name {name:?} is already bound, by the plugin configured \
                             as {first:?}; set `override = true` in one of them to have it \
                             replace the other"
                        ),
                    );
                    return Err(locate(e, &table));
                }
            }
            let Some(provider) = crate::plugin::provider(&plugin.provider) else {
                let e = ConfigError::new(
                    ConfigErrorKind::UnknownProvider,
                    format!(
                        "unknown plugin provider {:?} for plugin {name:?} (providers are registered with \
                         metlog::plugin::register_provider)",
                        plugin.provider
                    ),
                )
                .at_key("provider");
                return Err(locate(e, &table));
            };
            let built = provider(&plugin.options).map_err(|e| {
                let e = ConfigError::new(ConfigErrorKind::Plugin, format!("plugin {name:?}: {e}"));
                locate(e, &table)
            })?;
            builder.add_plugin(name.to_owned(), built);
        }

        if let Some(value) = self.global.get("disabled_decorators") {
            // Unknown names are an error here (TOML, `Config`, strict INI);
            // the lenient INI loader has already left them out, as
            // metlog-py ignores them.
            let (known, unknown) = split_decorators(value);
            if !unknown.is_empty() {
                let e = unknown_decorators(&unknown).at_key("disabled_decorators");
                return Err(locate(e, &[Step::Key("global")]));
            }
            crate::set_disabled_decorators(&known).map_err(|e| {
                locate(
                    ConfigError::new(ConfigErrorKind::InvalidValue, e.to_string())
                        .at_key("disabled_decorators"),
                    &[Step::Key("global")],
                )
            })?;
        }
        globals()
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(self.global.clone());

        builder.set_config_json(serde_json::to_string(self).unwrap_or_default());
        let client = builder.build();
        for (name, plugin) in &self.plugins {
            if crate::plugin::attaches(&plugin.provider) {
                crate::plugin::attach(&plugin.provider, &client, &plugin.options).map_err(|e| {
                    let e =
                        ConfigError::new(ConfigErrorKind::Plugin, format!("plugin {name:?}: {e}"));
                    locate(e, &[Step::Key("plugins"), Step::Key(name)])
                })?;
            }
        }
        Ok(client)
    }
}

/// `sender`, `routes`, `filters`: the TOML table an error is in.
fn toml_table_name(table: &[Step<'_>]) -> String {
    let names: Vec<&str> = table
        .iter()
        .filter_map(|step| match step {
            Step::Key(key) => Some(*key),
            Step::Index(_) => None,
        })
        .collect();
    names.join(".")
}

fn strip_key(e: &ConfigError) -> String {
    // The message after "key: ".
    let text = e.to_string();
    match e.key() {
        Some(k) => text
            .strip_prefix(&format!("{k}: "))
            .unwrap_or(&text)
            .to_owned(),
        None => text,
    }
}

fn build_filter(spec: &ProviderConfig) -> Result<Box<dyn Filter>, ConfigError> {
    let name = spec
        .provider
        .strip_prefix("metlog.filters.")
        .unwrap_or(&spec.provider);
    let name = name.strip_suffix("_provider").unwrap_or(name);
    let only = |allowed: &[&str]| -> Result<(), ConfigError> {
        match spec.options.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ConfigError::new(
                ConfigErrorKind::UnknownKey,
                format!(
                    "unknown option for the {name} filter (expected {})",
                    allowed.join(", ")
                ),
            )
            .at_key(k)),
            None => Ok(()),
        }
    };
    let severity = |v: &ConfigValue, key: &str| -> Result<Severity, ConfigError> {
        let parsed = match v {
            ConfigValue::Int(i) => u8::try_from(*i).ok().and_then(Severity::new),
            ConfigValue::Str(s) => s.parse().ok(),
            _ => None,
        };
        parsed.ok_or_else(|| {
            ConfigError::new(
                ConfigErrorKind::InvalidValue,
                format!("expected a severity 0-7, found {v}"),
            )
            .at_key(key)
        })
    };
    let types = || -> Result<Vec<String>, ConfigError> {
        spec.options
            .get("types")
            .and_then(ConfigValue::as_string_list)
            .ok_or_else(|| {
                ConfigError::new(ConfigErrorKind::InvalidValue, "expected a list of types")
                    .at_key("types")
            })
    };
    Ok(match name {
        "severity_max" => {
            only(&["severity"])?;
            let v = spec.options.get("severity").ok_or_else(|| {
                ConfigError::new(ConfigErrorKind::InvalidValue, "the severity_max filter needs a severity").at_key("severity")
            })?;
            Box::new(filter::severity_max(severity(v, "severity")?))
        }
        "type_whitelist" => {
            only(&["types"])?;
            Box::new(filter::type_whitelist(types()?))
        }
        "type_blacklist" => {
            only(&["types"])?;
            Box::new(filter::type_blacklist(types()?))
        }
        "type_severity_max" => {
            // Each option is `<message type> = <max severity>`.
            let mut limits = Vec::new();
            for (kind, v) in &spec.options {
                limits.push((kind.clone(), severity(v, kind)?));
            }
            Box::new(filter::type_severity_max(limits))
        }
        _ => {
            return Err(ConfigError::new(
                ConfigErrorKind::UnknownProvider,
                format!(
                    "unknown filter provider {:?}; expected severity_max, type_whitelist, type_blacklist or \
                     type_severity_max (metlog-py's metlog.filters.*_provider names work too)",
                    spec.provider
                ),
            )
            .at_key("provider"))
        }
    })
}

/// The names of `global_disabled_decorators` that name a decorator
/// (`timeit`, `incr_count`, `timer`, `incr`), and those that do not.
fn split_decorators(value: &ConfigValue) -> (Vec<String>, Vec<String>) {
    value
        .as_string_list()
        .unwrap_or_default()
        .into_iter()
        .partition(|name| name.parse::<crate::Decorator>().is_ok())
}

/// What the known decorator names are, after the unknown ones.
const KNOWN_DECORATORS: &str = "timeit, incr_count, timer, incr";

fn unknown_decorators(unknown: &[String]) -> ConfigError {
    let names: Vec<String> = unknown.iter().map(|n| format!("{n:?}")).collect();
    ConfigError::new(
        ConfigErrorKind::InvalidValue,
        format!(
            "unknown decorator name(s) {} (known: {KNOWN_DECORATORS})",
            names.join(", ")
        ),
    )
}

fn globals() -> &'static RwLock<BTreeMap<String, ConfigValue>> {
    static GLOBALS: OnceLock<RwLock<BTreeMap<String, ConfigValue>>> = OnceLock::new();
    GLOBALS.get_or_init(Default::default)
}

/// The process-wide settings loaded so far (metlog-py's
/// `CLIENT_HOLDER.global_config`): every `global_*` option, merged.
pub fn global_config() -> BTreeMap<String, ConfigValue> {
    globals()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Reads section `section` of a metlog-py INI text into a [`Config`].
pub fn config_from_ini_str(text: &str, section: &str) -> Result<Config, ConfigError> {
    config_from_ini(text, section, &|name| std::env::var(name).ok(), false).map(|(c, _, _)| c)
}

/// What a lenient load left out: options metlog-py ignores too, each as
/// `[section] line N: key`; and what it read as configparser does but a
/// reader should hear of (an option given twice).
#[derive(Default)]
struct Ignored {
    options: Vec<String>,
    notes: Vec<String>,
}

impl Ignored {
    fn push(&mut self, option: String) {
        self.options.push(option);
    }

    /// Said once on stderr (or to the report handler).
    fn report(&self) {
        if !self.notes.is_empty() {
            crate::report::report(format_args!("configuration: {}", self.notes.join("; ")));
        }
        if !self.options.is_empty() {
            crate::report::report(format_args!(
                "configuration: ignored option(s) this client does not know, as metlog-py \
                 ignores them: {} (config::from_ini_str_strict refuses them)",
                self.options.join(", ")
            ));
        }
    }
}

fn config_from_ini(
    text: &str,
    section: &str,
    env: &dyn Fn(&str) -> Option<String>,
    strict: bool,
) -> Result<(Config, Lines, Ignored), ConfigError> {
    let located = |e: ini::SyntaxError| {
        let mut err = ConfigError::new(ConfigErrorKind::Syntax, e.message).at_line(Some(e.line));
        if let Some(s) = &e.section {
            err = err.in_section(s);
        }
        if let Some(k) = &e.key {
            err = err.at_key(k);
        }
        err
    };
    let ini::Parsed {
        mut sections,
        mut notes,
    } = ini::parse(text).map_err(located)?;
    // Interpolated as configparser does it, when read: only the sections
    // this client reads (a Paste `[app:main]` may use what it does not know).
    let reads = |name: &str| reads_section(section, name);
    for sect in sections.iter_mut().filter(|s| reads(&s.name)) {
        ini::interpolate(sect).map_err(located)?;
    }
    if strict && !notes.is_empty() {
        return Err(located(notes.swap_remove(0)));
    }
    let notes: Vec<String> = notes.into_iter().map(|n| located(n).to_string()).collect();
    let Some(main) = sections.iter().find(|s| s.name == section) else {
        let found: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        return Err(ConfigError::new(
            ConfigErrorKind::MissingSection,
            format!(
                "no [{section}] section (found: {})",
                if found.is_empty() {
                    "none".into()
                } else {
                    found.join(", ")
                }
            ),
        ));
    };
    let mut lines = Lines::new();
    let convert = |sect: &ini::Section, entry: &ini::Entry| -> Result<ConfigValue, ConfigError> {
        ConfigValue::from_ini(&entry.value, env).map_err(|missing| {
            ConfigError::new(
                ConfigErrorKind::MissingVariable,
                format!(
                    "environment variable {} is not set (used as ${{{}}})",
                    missing.0, missing.0
                ),
            )
            .in_section(&sect.name)
            .at_key(&entry.key)
            .at_line(Some(entry.line))
        })
    };
    let invalid = |sect: &ini::Section, entry: &ini::Entry, message: String| {
        ConfigError::new(ConfigErrorKind::InvalidValue, message)
            .in_section(&sect.name)
            .at_key(&entry.key)
            .at_line(Some(entry.line))
    };

    // Every key's line (and each section's, under the empty key), for
    // errors found later while building.
    for sect in &sections {
        lines.insert((sect.name.clone(), String::new()), sect.line);
        for entry in &sect.entries {
            lines.insert((sect.name.clone(), entry.key.clone()), entry.line);
        }
    }
    let mut config = Config::default();
    let mut ignored = Ignored {
        notes,
        ..Ignored::default()
    };
    for entry in &main.entries {
        let known = matches!(
            entry.key.as_str(),
            "logger" | "severity" | "disabled_timers" | "sender_class"
        ) || entry.key.starts_with("sender_")
            || entry.key.starts_with("global_");
        if !known && entry.inherited {
            // A `[DEFAULT]` key: for interpolation and defaults, not an
            // option of this section.
            continue;
        }
        if !known && !strict {
            // metlog-py reads only the keys it knows, and ignores the rest.
            ignored.push(format!(
                "[{}] line {}: {}",
                main.name, entry.line, entry.key
            ));
            continue;
        }
        let value = convert(main, entry)?;
        match entry.key.as_str() {
            "logger" => config.logger = value.as_string().unwrap_or_else(|| value.to_string()),
            "severity" => {
                config.severity = match &value {
                    ConfigValue::Int(i) => u8::try_from(*i).ok().and_then(Severity::new),
                    ConfigValue::Str(s) => s.parse().ok(),
                    _ => None,
                }
                .ok_or_else(|| {
                    invalid(
                        main,
                        entry,
                        format!("expected a severity 0-7 or a name, found {value}"),
                    )
                })?;
            }
            "disabled_timers" => {
                config.disabled_timers = value.as_string_list().ok_or_else(|| {
                    invalid(main, entry, format!("expected timer names, found {value}"))
                })?;
            }
            "sender_class" => {
                config.sender.class = value
                    .as_string()
                    .ok_or_else(|| invalid(main, entry, "expected a class name".into()))?;
            }
            key if key.starts_with("sender_") => {
                config
                    .sender
                    .options
                    .insert(key["sender_".len()..].to_owned(), value);
            }
            key if key.starts_with("global_") => {
                config
                    .global
                    .insert(key["global_".len()..].to_owned(), value);
            }
            _ => return Err(ConfigError::new(
                ConfigErrorKind::UnknownKey,
                "unknown option (expected logger, severity, disabled_timers, sender_*, global_*)",
            )
            .in_section(section)
            .at_key(&entry.key)
            .at_line(Some(entry.line))),
        }
    }
    if let Some(value) = config.global.get("disabled_decorators") {
        // metlog-py tests each decorator's name against the list and never
        // looks at the other names: they are left out (and reported), the
        // known ones still apply.
        let (known, unknown) = split_decorators(value);
        if !unknown.is_empty() {
            let key = "global_disabled_decorators";
            let line = lines.get(&(section.to_owned(), key.to_owned())).copied();
            if strict {
                return Err(unknown_decorators(&unknown)
                    .in_section(section)
                    .at_key(key)
                    .at_line(line));
            }
            let names: Vec<String> = unknown.iter().map(|n| format!("{n:?}")).collect();
            ignored.push(format!(
                "[{section}] line {}: {key} name(s) {} (known: {KNOWN_DECORATORS})",
                line.unwrap_or(0),
                names.join(", ")
            ));
            let known = known.into_iter().map(ConfigValue::Str).collect();
            config
                .global
                .insert("disabled_decorators".to_owned(), ConfigValue::List(known));
        }
    }

    let plugin_prefix = format!("{section}_plugin_");
    let route_prefix = format!("{section}_route");
    for sect in &sections {
        if sect.name == section {
            continue;
        }
        let located = |e: ConfigError, key: Option<&str>| {
            let line = key
                .and_then(|k| sect.entries.iter().find(|e| e.key == k))
                .map_or(sect.line, |e| e.line);
            e.in_section(&sect.name).at_line(Some(line))
        };
        if reads_section(section, &sect.name) {
            let mut provider = None;
            let mut class = None;
            let mut options = BTreeMap::new();
            // `[DEFAULT]` keys serve interpolation and defaults, not as a
            // filter's, plugin's or route's options.
            for entry in sect.entries.iter().filter(|e| !e.inherited) {
                match entry.key.as_str() {
                    // A dotted name: taken as written.
                    "provider" => provider = Some(entry.value.trim().to_owned()),
                    "class" if sect.name.starts_with(&route_prefix) => {
                        class = Some(convert(sect, entry)?)
                    }
                    _ => {
                        options.insert(entry.key.clone(), convert(sect, entry)?);
                    }
                }
            }
            if sect.name.starts_with(&route_prefix) {
                let types = options
                    .remove("types")
                    .and_then(|t| t.as_string_list())
                    .ok_or_else(|| {
                        located(
                            ConfigError::new(
                                ConfigErrorKind::InvalidValue,
                                "a route needs `types`",
                            )
                            .at_key("types"),
                            None,
                        )
                    })?;
                let class = class.and_then(|c| c.as_string()).ok_or_else(|| {
                    located(
                        ConfigError::new(
                            ConfigErrorKind::InvalidValue,
                            "a route needs a sender `class`",
                        )
                        .at_key("class"),
                        None,
                    )
                })?;
                let route = RouteConfig {
                    types,
                    sender: SenderConfig { class, options },
                };
                senders::build(&route.sender.class, &route.sender.options).map_err(|e| {
                    let key = e.key().map(str::to_owned);
                    located(e, key.as_deref())
                })?;
                config.routes.push(route);
                continue;
            }
            let Some(provider) = provider else {
                return Err(located(
                    ConfigError::new(ConfigErrorKind::InvalidValue, "missing `provider`")
                        .at_key("provider"),
                    None,
                ));
            };
            if sect.name.starts_with(&plugin_prefix) {
                let name = sect.name[plugin_prefix.len()..].to_owned();
                let override_ = match options.remove("override") {
                    None => false,
                    Some(ConfigValue::Bool(b)) => b,
                    Some(v) => {
                        return Err(located(
                            ConfigError::new(
                                ConfigErrorKind::InvalidValue,
                                format!("expected true or false, found {v}"),
                            )
                            .at_key("override"),
                            Some("override"),
                        ))
                    }
                };
                config.plugins.insert(
                    name,
                    PluginConfig {
                        provider,
                        override_,
                        options,
                    },
                );
            } else {
                let spec = ProviderConfig { provider, options };
                build_filter(&spec).map_err(|e| {
                    let key = e.key().map(str::to_owned);
                    located(e, key.as_deref())
                })?;
                config.filters.push(spec);
            }
        }
    }
    if !strict {
        // Sender options the class does not take (metlog-py's
        // `sender_formatter`, written for a sender that took it): left out.
        if let Some(class) = senders::canonical(&config.sender.class) {
            let known = senders::known_options(class);
            let unknown: Vec<String> = config
                .sender
                .options
                .keys()
                .filter(|key| !known.contains(&key.as_str()))
                .cloned()
                .collect();
            for key in unknown {
                config.sender.options.remove(&key);
                let full = format!("sender_{key}");
                let line = lines
                    .get(&(section.to_owned(), full.clone()))
                    .copied()
                    .unwrap_or(0);
                ignored.push(format!("[{section}] line {line}: {full}"));
            }
        }
    }
    Ok((config, lines, ignored))
}

/// Builds a client from section `section` of a metlog-py INI text.
///
/// As metlog-py, options it does not know are left out — reported once on
/// stderr ([`crate::report`]), so a misspelt one is seen — and `[DEFAULT]`
/// keys serve interpolation and defaults only; [`from_ini_str_strict`]
/// refuses unknown options instead.
pub fn from_ini_str(text: &str, section: &str) -> Result<Client, ConfigError> {
    load_ini(text, section, false)
}

/// Like [`from_ini_str`], refusing (with an error naming its line) an option
/// metlog-py would ignore.
pub fn from_ini_str_strict(text: &str, section: &str) -> Result<Client, ConfigError> {
    load_ini(text, section, true)
}

fn load_ini(text: &str, section: &str, strict: bool) -> Result<Client, ConfigError> {
    let (config, lines, ignored) =
        config_from_ini(text, section, &|name| std::env::var(name).ok(), strict)?;
    let client = config.build_from(&Origin::Ini {
        lines: &lines,
        section,
    })?;
    ignored.report();
    Ok(client)
}

/// Builds a client from section `section` of a metlog-py INI file; errors
/// name the file. Unknown options are left out and reported, as in
/// [`from_ini_str`].
pub fn from_ini_file(path: impl AsRef<Path>, section: &str) -> Result<Client, ConfigError> {
    let path = path.as_ref();
    let text = ini_text(read_bytes(path)?, section).map_err(|e| e.in_file(path))?;
    from_ini_str(&text, section).map_err(|e| e.in_file(path))
}

/// Reads a TOML text into a [`Config`].
pub fn config_from_toml_str(text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| origin::line_at(text, span.start));
        // toml's messages may span lines ("invalid table header\nduplicate
        // key ..."): one sentence, as every ConfigError.
        let message: Vec<&str> = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        ConfigError::new(ConfigErrorKind::Syntax, message.join(": ")).at_line(line)
    })
}

/// Builds a client from a TOML text (the [`Config`] fields); errors found
/// while building (a bad port, an unknown filter) name their table and line.
pub fn from_toml_str(text: &str) -> Result<Client, ConfigError> {
    config_from_toml_str(text)?.build_from(&Origin::toml(text))
}

/// Builds a client from a TOML file; errors name the file.
pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Client, ConfigError> {
    let path = path.as_ref();
    let text = read(path)?;
    from_toml_str(&text).map_err(|e| e.in_file(path))
}

/// The most bytes a configuration file may hold: far beyond any real one,
/// and a bound on what a wrong path (`/dev/zero`, a log file) costs.
pub const MAX_CONFIG_FILE: u64 = 16 * 1024 * 1024;

fn read(path: &Path) -> Result<String, ConfigError> {
    String::from_utf8(read_bytes(path)?).map_err(|e| {
        ConfigError::new(ConfigErrorKind::Io, format!("cannot read: not UTF-8 ({e})")).in_file(path)
    })
}

/// Whether a client loaded from INI section `section` reads section
/// `name`: its own, and its filters', plugins' and routes'.
fn reads_section(section: &str, name: &str) -> bool {
    name.strip_prefix(section).is_some_and(|rest| {
        rest.is_empty()
            || ["_filter", "_plugin_", "_route"]
                .iter()
                .any(|kind| rest.starts_with(kind))
    })
}

/// An INI file's text, to be read at `section`. Python 2's reader took
/// bytes: text in another encoding (a Latin-1 name) where metlog never
/// looks — a comment, a section it does not read — was no matter, and is
/// none here (its bytes replaced); where it looks, text that is not UTF-8
/// is an error naming its line.
fn ini_text(bytes: Vec<u8>, section: &str) -> Result<String, ConfigError> {
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e.into_bytes(),
    };
    let reads = |name: &str| reads_section(section, name);
    let valid = |bytes: &[u8]| std::str::from_utf8(bytes).is_ok();
    let mut text = String::with_capacity(bytes.len());
    let mut in_read_section = false;
    for (index, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let start = line.trim_ascii_start();
        let lossy = String::from_utf8_lossy(line);
        if let Some(header) = start.strip_prefix(b"[") {
            if let Some(close) = header.iter().position(|&b| b == b']') {
                in_read_section = valid(&header[..close])
                    && reads(std::str::from_utf8(&header[..close]).unwrap_or(""));
                text.push_str(&lossy);
                continue;
            }
        }
        let harmless = valid(line)
            || !in_read_section
            || start.starts_with(b"#")
            || start.starts_with(b";")
            || (start.len() >= 3 && start[..3].eq_ignore_ascii_case(b"rem"))
            // The part before an inline comment (`;` after whitespace).
            || line
                .windows(2)
                .position(|w| w[0].is_ascii_whitespace() && w[1] == b';')
                .is_some_and(|at| valid(&line[..at]));
        if !harmless {
            return Err(ConfigError::new(
                ConfigErrorKind::Io,
                format!("cannot read: line {} is not UTF-8", index + 1),
            ));
        }
        text.push_str(&lossy);
    }
    Ok(text)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read as _;
    let io_error = |e: std::io::Error| {
        ConfigError::new(ConfigErrorKind::Io, format!("cannot read: {e}")).in_file(path)
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_CONFIG_FILE {
        return Err(ConfigError::new(
            ConfigErrorKind::Io,
            format!("longer than {MAX_CONFIG_FILE} bytes (metlog::config::MAX_CONFIG_FILE): not a configuration file"),
        )
        .in_file(path));
    }
    Ok(bytes)
}

/// Builds a client from a file: TOML when it ends in `.toml`, else a
/// metlog-py INI file read at `section`.
pub fn from_file(path: impl AsRef<Path>, section: &str) -> Result<Client, ConfigError> {
    let path = path.as_ref();
    if path.extension().is_some_and(|e| e == "toml") {
        from_toml_file(path)
    } else {
        from_ini_file(path, section)
    }
}

/// Installs the global client from the file named by `METLOG_CONFIG` (INI
/// section from `METLOG_CONFIG_SECTION`, default `metlog`). Returns
/// `Ok(false)` when the variable is not set, so the caller can fall back to
/// a default.
///
/// ```no_run
/// if !metlog::config::init_from_env()? {
///     let client = metlog::Client::builder("myapp").build(); // stdout
///     metlog::set_global_client(client).ok();
/// }
/// # Ok::<(), metlog::config::ConfigError>(())
/// ```
pub fn init_from_env() -> Result<bool, ConfigError> {
    let Some(path) = std::env::var_os(CONFIG_ENV) else {
        return Ok(false);
    };
    let section = std::env::var(SECTION_ENV).unwrap_or_else(|_| "metlog".to_owned());
    let client = from_file(&path, &section)?;
    crate::set_global_client(client)
        .map_err(|e| ConfigError::new(ConfigErrorKind::InvalidValue, e.to_string()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    /// metlog-py's documented configuration (its docs' config.rst and
    /// getstarted.rst; `tests/fixtures/metlog-py-ini/01-docs-config-main.ini`),
    /// which sends over ZeroMQ.
    const DOCS_MAIN: &str = "[metlog]
logger = myapp
severity = 4
disabled_timers = foo
                  bar
sender_class = metlog.senders.zmq.ZmqPubSender
sender_bindstrs = tcp://127.0.0.1:5565
sender_queue_length = 5000
global_disabled_decorators = incr_count
";

    /// Without the `zmq` feature the example is refused with an error that
    /// says which feature it needs (the suite, built with it, loads it).
    #[test]
    fn the_zeromq_docs_example_names_the_feature_it_needs() {
        let config = super::config_from_ini_str(DOCS_MAIN, "metlog").unwrap();
        assert_eq!(config.sender.class, "metlog.senders.zmq.ZmqPubSender");
        #[cfg(not(feature = "zmq"))]
        {
            let err = super::from_ini_str(DOCS_MAIN, "metlog").unwrap_err();
            assert_eq!(
                err.to_string(),
                "[metlog] line 6: sender_class: the zmq sender needs metlog's `zmq` cargo feature"
            );
        }
        #[cfg(feature = "zmq")]
        {
            // Not the process-wide decorator switch: other tests share it.
            let mut config = config;
            config.global.clear();
            let client = config.build().unwrap();
            assert!(client.sender_as::<crate::sender::ZmqSender>().is_some());
        }
    }
}
