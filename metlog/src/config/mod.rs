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
//! Every error names the file, section, key and (INI) line.
//!
//! **Unknown options are errors**, in every section and every loader (INI,
//! TOML, [`Config`]): a key of the client's section that is not `logger`,
//! `severity`, `disabled_timers`, `sender_*` or `global_*`; a sender option
//! its class does not take (`sender_hots` in `[metlog]`, `prefx` in a
//! route's section); a filter option its provider does not take. The error
//! names the section, the line and the nearest known option ("did you mean
//! `sender_host`?"): a typo must not leave a service sending to the default
//! host. Not checked, by design: `global_*` options (metlog-py keeps any,
//! see [`global_config`]), the options of a class registered with
//! [`register_sender`] and of a plugin (their factory or provider judges
//! them), and `[DEFAULT]` keys (they serve interpolation and defaults).
//! metlog-py ignored unknown options; none of its documented or tested
//! configurations has one. What metlog-py reads silently, the INI loaders
//! read too and report once on stderr — an option given twice (the last
//! wins), a `global_disabled_decorators` name that is no decorator's (left
//! out) — and the strict loaders ([`from_ini_str_strict`],
//! [`from_ini_file_strict`]) refuse.

mod dict;
pub mod error;
mod ini;
mod origin;
pub mod senders;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{PoisonError, RwLock};

pub use crate::config_value::ConfigValue;
pub use error::{ConfigError, ConfigErrorKind};
pub use senders::{register_sender, SenderFactory};

use crate::config_value::{EnvError, MAX_EXPANDED_VALUE};
use crate::filter::{self, Filter};
use crate::plugin::attaches;
use crate::sender::Held;
use crate::{Client, ClientBuilder, Severity};
use origin::{IniSource, Origin, Step};

/// The environment variable naming the configuration file used by
/// [`init_from_env`] (and the quickstart).
pub const CONFIG_ENV: &str = "METLOG_CONFIG";
/// The environment variable naming the INI section (default `metlog`).
pub const SECTION_ENV: &str = "METLOG_CONFIG_SECTION";

/// The whole configuration of a client, as a plain serde struct: load it
/// from any format your application already parses, then [`Config::build`].
///
/// metlog-py's dict forms (`client_from_dict_config`) are read too:
/// top-level `sender_<option>` keys (`sender_class`, `sender_host`, …) go
/// into `sender`, `global_<option>` keys into `global`, and a filter or a
/// plugin may be a `[provider, {options}]` pair (a plugin's `override`
/// among its options). Any other key is refused.
///
/// ```
/// let config: metlog::config::Config = serde_json::from_str(r#"{
///     "logger": "app",
///     "sender_class": "metlog.senders.DebugCaptureSender",
///     "filters": [["metlog.filters.severity_max_provider", {"severity": 4}]]
/// }"#).unwrap();
/// assert_eq!(config.sender.class, "metlog.senders.DebugCaptureSender");
/// assert_eq!(config.filters[0].options["severity"], metlog::config::ConfigValue::Int(4));
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, try_from = "dict::ConfigForm")]
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
#[serde(default)]
pub struct SenderConfig {
    /// `udp`, `tcp`, `statsd`, `syslog`, `zmq`, `stdout`, `file`, `capture`,
    /// `log`, `null`, a metlog-py class name, or a registered class; stdout
    /// when absent (as in INI), so a misspelt `class` shows up as an
    /// unknown option of the stdout sender rather than a missing field.
    pub class: String,
    /// The class's options.
    #[serde(flatten)]
    pub options: BTreeMap<String, ConfigValue>,
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

/// A filter: its `provider` and options (or metlog-py's `[provider, {options}]`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(from = "dict::ProviderForm")]
pub struct ProviderConfig {
    /// `severity_max`, `type_whitelist`, `type_blacklist`,
    /// `type_severity_max`, or metlog-py's `metlog.filters.<name>_provider`.
    pub provider: String,
    /// The provider's options.
    #[serde(flatten)]
    pub options: BTreeMap<String, ConfigValue>,
}

/// A plugin: its provider, whether it may take a reserved name, options
/// (or metlog-py's `[provider, {options}]`, `override` among the options).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "dict::ProviderForm")]
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

    /// Builds each sender, filter and plugin once; an error names where
    /// `origin` wrote what it is about.
    fn build_from(&self, origin: &Origin<'_>) -> Result<Client, ConfigError> {
        let timers = self.disabled_timers.iter().cloned();
        let mut builder = Client::builder(self.logger.clone()).severity(self.severity);
        builder = builder.disabled_timers(timers);
        builder.sender = Some(self.build_sender(origin)?);
        for (index, spec) in self.filters.iter().enumerate() {
            let table = [Step::Key("filters"), Step::Index(index)];
            builder.add_filter_boxed(build_filter(spec).map_err(|e| origin.locate(e, &table))?);
        }
        self.bind_plugins(&mut builder, origin)?;
        self.apply_global(origin)?;
        builder.config_json = Some(serde_json::to_string(self).unwrap_or_default());
        let client = builder.build();
        self.attach_plugins(&client, origin)?;
        Ok(client)
    }

    /// The sender, or a router to it and to the routes' senders.
    fn build_sender(&self, origin: &Origin<'_>) -> Result<Held, ConfigError> {
        let build = |sender: &SenderConfig, table: &[Step<'_>]| {
            senders::build(sender).map_err(|e| origin.locate(e, table))
        };
        let sender = build(&self.sender, &[Step::Key("sender")])?;
        if self.routes.is_empty() {
            return Ok(sender);
        }
        let mut router = crate::sender::Router::new(sender.sender);
        for (index, route) in self.routes.iter().enumerate() {
            let table = [Step::Key("routes"), Step::Index(index), Step::Key("sender")];
            let routed = build(&route.sender, &table)?.sender;
            router = router.route(route.types.iter().cloned(), routed);
        }
        Ok(Held::new(router))
    }

    /// The plugins looked up by name, each bound under the name it takes.
    fn bind_plugins(
        &self,
        builder: &mut ClientBuilder,
        origin: &Origin<'_>,
    ) -> Result<(), ConfigError> {
        let mut bound: BTreeMap<&str, &str> = BTreeMap::new();
        // Those that attach to the client are set up once it exists.
        for (section, plugin) in self.plugins.iter().filter(|(_, p)| !attaches(&p.provider)) {
            let located = |e| origin.locate(e, &[Step::Key("plugins"), Step::Key(section)]);
            // As metlog-py: under the provider's own name when it has one
            // (a `[metlog_plugin_security]` of metlog-cef binds `cef`).
            let name = crate::plugin::bound_name(&plugin.provider).unwrap_or(section);
            let first = bound.insert(name, section);
            check_plugin_name(name, first, plugin.override_).map_err(located)?;
            let Some(provider) = crate::plugin::provider(&plugin.provider) else {
                return Err(located(unknown_plugin(name, &plugin.provider)));
            };
            let built = provider(&plugin.options).map_err(|e| located(plugin_error(name, e)))?;
            builder.add_plugin(name.to_owned(), built);
        }
        Ok(())
    }

    /// Applies `global.disabled_decorators` (unknown names are an error
    /// here: TOML, `Config`, strict INI; the lenient INI loader has left
    /// them out, as metlog-py ignores them) and keeps every `global` option.
    fn apply_global(&self, origin: &Origin<'_>) -> Result<(), ConfigError> {
        if let Some(value) = self.global.get("disabled_decorators") {
            let key = "disabled_decorators";
            let located = |e: ConfigError| origin.locate(e.at_key(key), &[Step::Key("global")]);
            let (known, unknown) = split_decorators(value);
            if let Some(unknown) = unknown {
                return Err(located(invalid(format!("unknown decorator {unknown}"))));
            }
            crate::set_disabled_decorators(&known).map_err(|e| located(invalid(e.to_string())))?;
        }
        let mut globals = GLOBALS.write().unwrap_or_else(PoisonError::into_inner);
        globals.extend(self.global.clone());
        Ok(())
    }

    /// Sets up the plugins that act on the client (the panic hook, process
    /// statistics).
    fn attach_plugins(&self, client: &Client, origin: &Origin<'_>) -> Result<(), ConfigError> {
        for (name, plugin) in self.plugins.iter().filter(|(_, p)| attaches(&p.provider)) {
            let table = [Step::Key("plugins"), Step::Key(name)];
            crate::plugin::attach(&plugin.provider, client, &plugin.options)
                .map_err(|e| origin.locate(plugin_error(name, e), &table))?;
        }
        Ok(())
    }
}

/// Refuses, without `override`, a plugin name that is one of the client's
/// own methods or that another plugin binds (metlog-py: "The name [cef] is
/// already in use").
fn check_plugin_name(name: &str, first: Option<&str>, override_: bool) -> Result<(), ConfigError> {
    let message = match first {
        _ if override_ => return Ok(()),
        _ if crate::plugin::RESERVED_NAMES.contains(&name) => format!(
            "plugin name {name:?} is one of the client's own methods; set `override = true` to \
             replace it"
        ),
        Some(first) => format!(
            "plugin name {name:?} is already bound, by the plugin configured as {first:?}; set \
             `override = true` in one of them to have it replace the other"
        ),
        None => return Ok(()),
    };
    Err(ConfigError::new(ConfigErrorKind::Plugin, message))
}

fn unknown_plugin(name: &str, provider: &str) -> ConfigError {
    let message = format!(
        "unknown plugin provider {provider:?} for plugin {name:?} (providers are registered with \
         metlog::plugin::register_provider)"
    );
    ConfigError::new(ConfigErrorKind::UnknownProvider, message).at_key("provider")
}

fn plugin_error(name: &str, e: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::Plugin, format!("plugin {name:?}: {e}"))
}

/// A severity: 0–7 or a name.
fn severity_of(value: &ConfigValue) -> Option<Severity> {
    match value {
        ConfigValue::Int(i) => u8::try_from(*i).ok().and_then(Severity::new),
        ConfigValue::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn invalid(message: String) -> ConfigError {
    ConfigError::new(ConfigErrorKind::InvalidValue, message)
}

/// Refuses an option `options` has that is not one of `known` (those of
/// `what`, a sender class or filter), naming the nearest known one.
fn check_options<V>(
    what: &str,
    options: &BTreeMap<String, V>,
    known: &[&str],
) -> Result<(), ConfigError> {
    let Some(key) = options.keys().find(|key| !known.contains(&key.as_str())) else {
        return Ok(());
    };
    let listed = if known.is_empty() {
        "none".to_owned()
    } else {
        known.join(", ")
    };
    let message = format!(
        "unknown option for the {what} (expected {listed}){}",
        did_you_mean(key, known.iter().copied())
    );
    Err(ConfigError::new(ConfigErrorKind::UnknownKey, message).at_key(key))
}

/// The error for option `key` of a client's INI section, which is none.
fn unknown_client_option(key: &str) -> ConfigError {
    let mut known = vec!["logger", "severity", "disabled_timers", "sender_class"];
    let sender_options = senders::all_options().map(|o| format!("sender_{o}"));
    let sender_options: Vec<String> = sender_options.collect();
    known.extend(sender_options.iter().map(String::as_str));
    let message = format!(
        "unknown option (expected logger, severity, disabled_timers, sender_*, global_*){}",
        did_you_mean(key, known.into_iter())
    );
    ConfigError::new(ConfigErrorKind::UnknownKey, message)
}

/// `; did you mean `x`?` for the known name nearest `key` (a typo's
/// distance: at most a third of its length, and 3), or nothing.
fn did_you_mean<'a>(key: &str, known: impl Iterator<Item = &'a str>) -> String {
    let bound = (key.chars().count() / 3).clamp(1, 3);
    let nearest = known
        .map(|name| (edit_distance(key, name), name))
        .filter(|&(distance, _)| distance <= bound)
        .min();
    nearest.map_or_else(String::new, |(_, name)| format!("; did you mean `{name}`?"))
}

/// Edit distance, characters inserted, deleted, replaced or two adjacent
/// ones swapped (`hots` is one from `host`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut before: Vec<usize> = Vec::new();
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j - 1] + cost).min(last[j] + 1).min(row[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before[j - 2] + 1);
            }
        }
        before = std::mem::replace(&mut last, row);
    }
    last[b.len()]
}

fn build_filter(spec: &ProviderConfig) -> Result<Box<dyn Filter>, ConfigError> {
    let (provider, options) = (&spec.provider, &spec.options);
    let name = provider.strip_prefix("metlog.filters.").unwrap_or(provider);
    let name = name.strip_suffix("_provider").unwrap_or(name);
    let only = |known: &[&str]| check_options(&format!("{name} filter"), options, known);
    let severity = |key: &str, v: &ConfigValue| {
        let message = format!("expected a severity 0-7, found {v}");
        severity_of(v).ok_or_else(|| invalid(message).at_key(key))
    };
    let types = || {
        only(&["types"])?;
        let types = options.get("types").and_then(ConfigValue::as_string_list);
        types.ok_or_else(|| invalid("expected a list of types".into()).at_key("types"))
    };
    Ok(match name {
        "severity_max" => {
            only(&["severity"])?;
            let needs =
                || invalid(format!("the {name} filter needs a severity")).at_key("severity");
            let v = options.get("severity").ok_or_else(needs)?;
            Box::new(filter::severity_max(severity("severity", v)?))
        }
        "type_whitelist" => Box::new(filter::type_whitelist(types()?)),
        "type_blacklist" => Box::new(filter::type_blacklist(types()?)),
        // Each option is `<message type> = <max severity>`.
        "type_severity_max" => {
            let limits = options
                .iter()
                .map(|(kind, v)| Ok((kind.clone(), severity(kind, v)?)));
            Box::new(filter::type_severity_max(
                limits.collect::<Result<Vec<_>, ConfigError>>()?,
            ))
        }
        _ => {
            let message = format!(
                "unknown filter provider {provider:?}; expected severity_max, type_whitelist, \
                 type_blacklist or type_severity_max (metlog-py's metlog.filters.*_provider \
                 names work too)"
            );
            return Err(
                ConfigError::new(ConfigErrorKind::UnknownProvider, message).at_key("provider")
            );
        }
    })
}

/// The names of `global_disabled_decorators` that name a decorator
/// (`timeit`, `incr_count`, `timer`, `incr`), and the others named in a
/// phrase, if there are any.
fn split_decorators(value: &ConfigValue) -> (Vec<String>, Option<String>) {
    let names = value.as_string_list().unwrap_or_default().into_iter();
    let (known, unknown): (Vec<String>, Vec<String>) =
        names.partition(|name| name.parse::<crate::Decorator>().is_ok());
    let unknown: Vec<String> = unknown.iter().map(|name| format!("{name:?}")).collect();
    let known_names = "(known: timeit, incr_count, timer, incr)";
    let phrase = format!("name(s) {} {known_names}", unknown.join(", "));
    (known, (!unknown.is_empty()).then_some(phrase))
}

static GLOBALS: RwLock<BTreeMap<String, ConfigValue>> = RwLock::new(BTreeMap::new());

/// The process-wide settings loaded so far (metlog-py's
/// `CLIENT_HOLDER.global_config`): every `global_*` option, merged.
pub fn global_config() -> BTreeMap<String, ConfigValue> {
    GLOBALS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Reads section `section` of a metlog-py INI text into a [`Config`]:
/// translates it, building nothing (a sender's class and options are
/// checked when the client is built).
pub fn config_from_ini_str(text: &str, section: &str) -> Result<Config, ConfigError> {
    config_from_ini(text, section, false).map(|(config, _, _)| config)
}

/// What a lenient load left out or read silently where a reader should
/// hear of it: names in `global_disabled_decorators` that are no
/// decorator's (metlog-py ignores them), each as `[section] line N: key`;
/// an option given twice.
#[derive(Default)]
struct Ignored {
    options: Vec<String>,
    notes: Vec<String>,
}

impl Ignored {
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

/// Translates section `section` of an INI text (and its filters', plugins'
/// and routes' sections) into a [`Config`], with where each part was
/// written; lenient (`strict` false), what metlog-py ignores is left out.
fn config_from_ini(
    text: &str,
    section: &str,
    strict: bool,
) -> Result<(Config, IniSource, Ignored), ConfigError> {
    let parsed = ini::parse(text)?;
    let (mut sections, mut notes) = (parsed.sections.clone(), parsed.notes.clone());
    if !sections.iter().any(|s| s.name == section) {
        let mut found: Vec<&str> = sections.iter().map(|s| s.name.as_str()).collect();
        if found.is_empty() {
            found.push("none");
        }
        let message = format!("no [{section}] section (found: {})", found.join(", "));
        return Err(ConfigError::new(ConfigErrorKind::MissingSection, message));
    }
    // Only the sections this client reads, interpolated as configparser
    // does it, when read (a Paste `[app:main]` may use what it does not know);
    // the client's own takes its options from `[DEFAULT]` too.
    sections.retain(|s| reads_section(section, &s.name));
    for sect in &mut sections {
        if sect.name == section {
            parsed.inherit(sect, is_client_option);
        }
        ini::interpolate(sect, &parsed.defaults)?;
    }
    if strict && !notes.is_empty() {
        return Err(notes.swap_remove(0));
    }
    let mut ini = IniReader {
        strict,
        ..IniReader::default()
    };
    ini.source.section = section.to_owned();
    ini.ignored.notes = notes.iter().map(ConfigError::to_string).collect();
    let (main, parts): (Vec<_>, Vec<_>) = sections.iter().partition(|s| s.name == section);
    ini.client(main[0])?;
    for sect in parts {
        ini.part(sect)?;
    }
    ini.source.sections = sections;
    Ok((ini.config, ini.source, ini.ignored))
}

/// INI translation under way.
#[derive(Default)]
struct IniReader {
    strict: bool,
    config: Config,
    ignored: Ignored,
    source: IniSource,
}

impl IniReader {
    /// An option's value, by metlog-py's rules.
    fn value(&self, sect: &ini::Section, entry: &ini::Entry) -> Result<ConfigValue, ConfigError> {
        let env = |name: &str| std::env::var(name).ok();
        ConfigValue::from_ini(&entry.value, &env).map_err(|e| {
            let e = match e {
                EnvError::Missing(name) => ConfigError::new(
                    ConfigErrorKind::MissingVariable,
                    format!("environment variable {name} is not set (used as ${{{name}}})"),
                ),
                EnvError::TooLong(name) => invalid(format!(
                    "${{{name}}} makes the value longer than {} KiB, the bound on an option's \
                     value",
                    MAX_EXPANDED_VALUE / 1024
                )),
            };
            e.in_section(section_of(sect, entry))
                .at_key(&entry.key)
                .at_line(Some(entry.line))
        })
    }

    /// The client's own section. An option it does not know is an error
    /// (naming the nearest known one) in every loader.
    fn client(&mut self, main: &ini::Section) -> Result<(), ConfigError> {
        for entry in &main.entries {
            let key = entry.key.as_str();
            let located = |e: ConfigError| e.in_section(section_of(main, entry)).at_key(key);
            let located = |e| located(e).at_line(Some(entry.line));
            // A `[DEFAULT]` key serves interpolation and defaults, not as
            // an option of this section.
            if !is_client_option(key) {
                if entry.inherited {
                    continue;
                }
                return Err(located(unknown_client_option(key)));
            }
            let value = self.value(main, entry)?;
            set_client_option(&mut self.config, key, value).map_err(located)?;
        }
        if !self.strict {
            self.leave_out_unknown_decorators(main);
        }
        Ok(())
    }

    /// metlog-py tests each decorator's name against the list and never
    /// looks at the other names: they are left out (and reported), the
    /// known ones still apply. (The strict loader refuses them when the
    /// client is built.)
    fn leave_out_unknown_decorators(&mut self, main: &ini::Section) {
        let Some(value) = self.config.global.get("disabled_decorators") else {
            return;
        };
        let (known, Some(unknown)) = split_decorators(value) else {
            return;
        };
        let key = "global_disabled_decorators";
        let line = main.line(key).unwrap_or(0);
        let ignored = format!("[{}] line {line}: {key} {unknown}", main.name);
        self.ignored.options.push(ignored);
        let known = known.into_iter().map(ConfigValue::Str).collect();
        (self.config.global).insert("disabled_decorators".to_owned(), ConfigValue::List(known));
    }

    /// A filter's, plugin's or route's section.
    fn part(&mut self, sect: &ini::Section) -> Result<(), ConfigError> {
        let needs = |key: &str, what: &str| sect.locate(invalid(what.to_owned()).at_key(key));
        let (mut provider, mut options) = (None, BTreeMap::new());
        // `[DEFAULT]` keys serve interpolation and defaults, not as a
        // filter's, plugin's or route's options.
        for entry in sect.entries.iter().filter(|e| !e.inherited) {
            if entry.key == "provider" {
                // A dotted name: taken as written.
                provider = Some(entry.value.trim().to_owned());
            } else {
                options.insert(entry.key.clone(), self.value(sect, entry)?);
            }
        }
        // What follows the client's section name: `_route…`, `_plugin_<name>`, `_filter…`.
        let kind = &sect.name[self.source.section.len()..];
        if kind.starts_with("_route") {
            let types = options.remove("types").and_then(|t| t.as_string_list());
            let types = types.ok_or_else(|| needs("types", "a route needs `types`"))?;
            let class = options.remove("class").and_then(|c| c.as_string());
            let class = class.ok_or_else(|| needs("class", "a route needs a sender `class`"))?;
            let sender = SenderConfig { class, options };
            self.config.routes.push(RouteConfig { types, sender });
            return Ok(());
        }
        let provider = provider.ok_or_else(|| needs("provider", "missing `provider`"))?;
        let Some(name) = kind.strip_prefix("_plugin_") else {
            self.config
                .filters
                .push(ProviderConfig { provider, options });
            return Ok(());
        };
        let override_ = match options.remove("override") {
            Some(v) => v
                .as_bool()
                .ok_or_else(|| needs("override", &format!("expected true or false, found {v}")))?,
            None => false,
        };
        let plugin = PluginConfig {
            provider,
            override_,
            options,
        };
        self.config.plugins.insert(name.to_owned(), plugin);
        Ok(())
    }
}

/// Sets option `key` of the client's INI section.
fn set_client_option(
    config: &mut Config,
    key: &str,
    value: ConfigValue,
) -> Result<(), ConfigError> {
    let expected = |what: &str| invalid(format!("expected {what}, found {value}"));
    match key {
        "logger" => config.logger = value.as_string().unwrap_or_else(|| value.to_string()),
        "severity" => {
            let severity = severity_of(&value);
            config.severity = severity.ok_or_else(|| expected("a severity 0-7 or a name"))?;
        }
        "disabled_timers" => {
            let timers = value.as_string_list();
            config.disabled_timers = timers.ok_or_else(|| expected("timer names"))?;
        }
        "sender_class" => {
            let class = value.as_string();
            config.sender.class = class.ok_or_else(|| invalid("expected a class name".into()))?;
        }
        _ => {
            let (table, option) = match key.split_once('_') {
                Some(("sender", option)) => (&mut config.sender.options, option),
                Some(("global", option)) => (&mut config.global, option),
                _ => return Err(unknown_client_option(key)),
            };
            table.insert(option.to_owned(), value);
        }
    }
    Ok(())
}

/// Builds a client from section `section` of a metlog-py INI text.
///
/// An option metlog does not know is an error naming its section, line and
/// the nearest known option, in every section (see the [module
/// docs](self)). What metlog-py reads silently is read here too, and
/// reported once on stderr ([`crate::report`]): an option given twice (the
/// last wins), a name in `global_disabled_decorators` that is no
/// decorator's (left out); [`from_ini_str_strict`] refuses those as well.
///
/// ```
/// let err = metlog::config::from_ini_str(
///     "[metlog]\nsender_class = udp\nsender_hots = 10.0.0.1\n",
///     "metlog",
/// )
/// .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "[metlog] line 3: sender_hots: unknown option for the udp sender (expected host, port, \
///      queue_capacity, queue_max_bytes, flush_timeout); did you mean `sender_host`?"
/// );
/// ```
pub fn from_ini_str(text: &str, section: &str) -> Result<Client, ConfigError> {
    load_ini(text, section, false)
}

/// Like [`from_ini_str`], refusing too (with an error naming its line)
/// what metlog-py reads silently: an option given twice, a decorator name
/// that is no decorator's.
pub fn from_ini_str_strict(text: &str, section: &str) -> Result<Client, ConfigError> {
    load_ini(text, section, true)
}

fn load_ini(text: &str, section: &str, strict: bool) -> Result<Client, ConfigError> {
    let (config, source, ignored) = config_from_ini(text, section, strict)?;
    let client = config.build_from(&Origin::Ini(&source))?;
    ignored.report();
    Ok(client)
}

/// Builds a client from section `section` of a metlog-py INI file, as
/// [`from_ini_str`] reads a text; errors name the file.
pub fn from_ini_file(path: impl AsRef<Path>, section: &str) -> Result<Client, ConfigError> {
    load_ini_file(path.as_ref(), section, false)
}

/// Builds a client from section `section` of a metlog-py INI file, as
/// [`from_ini_str_strict`] reads a text; errors name the file.
///
/// ```no_run
/// let client = metlog::config::from_ini_file_strict("/etc/myapp/metlog.ini", "metlog")?;
/// # Ok::<(), metlog::config::ConfigError>(())
/// ```
pub fn from_ini_file_strict(path: impl AsRef<Path>, section: &str) -> Result<Client, ConfigError> {
    load_ini_file(path.as_ref(), section, true)
}

fn load_ini_file(path: &Path, section: &str, strict: bool) -> Result<Client, ConfigError> {
    let text = read_bytes(path).and_then(|bytes| ini_text(bytes, section));
    let client = text.and_then(|text| load_ini(&text, section, strict));
    client.map_err(|e| e.in_file(path))
}

/// Reads a TOML text into a [`Config`].
#[cfg(feature = "toml")]
#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
pub fn config_from_toml_str(text: &str) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| origin::line_at(text, span.start));
        // An unknown top-level key is found after the whole table is read
        // (`dict::ConfigForm`): its own line, not the table's.
        let unknown = e
            .message()
            .strip_prefix("unknown field `")
            .and_then(|m| m.split('`').next());
        let line = unknown
            .and_then(|key| origin::toml_line(text, &[Step::Key(key)]))
            .or(line);
        // toml's messages may span lines ("invalid table header\nduplicate
        // key ..."): one sentence, as every ConfigError.
        let lines = e.message().lines().map(str::trim).filter(|l| !l.is_empty());
        let message = lines.collect::<Vec<_>>().join(": ");
        ConfigError::new(ConfigErrorKind::Syntax, message).at_line(line)
    })
}

/// Builds a client from a TOML text (the [`Config`] fields); errors found
/// while building (a bad port, an unknown filter) name their table and line.
#[cfg(feature = "toml")]
#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
pub fn from_toml_str(text: &str) -> Result<Client, ConfigError> {
    config_from_toml_str(text)?.build_from(&Origin::Toml(text))
}

/// Builds a client from a TOML file; errors name the file.
#[cfg(feature = "toml")]
#[cfg_attr(docsrs, doc(cfg(feature = "toml")))]
pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Client, ConfigError> {
    let path = path.as_ref();
    let not_utf8 =
        |e| ConfigError::new(ConfigErrorKind::Io, format!("cannot read: not UTF-8 ({e})"));
    let text = read_bytes(path).and_then(|bytes| String::from_utf8(bytes).map_err(not_utf8));
    let client = text.and_then(|text| from_toml_str(&text));
    client.map_err(|e| e.in_file(path))
}

/// The most bytes a configuration file may hold: far beyond any real one,
/// and a bound on what a wrong path (`/dev/zero`, a log file) costs.
pub(crate) const MAX_CONFIG_FILE: u64 = 16 * 1024 * 1024;

/// Whether a client loaded from INI section `section` reads section
/// `name`: its own, and its filters', plugins' and routes'.
fn reads_section(section: &str, name: &str) -> bool {
    let kinds = ["_filter", "_plugin_", "_route"];
    let rest = name.strip_prefix(section);
    rest.is_some_and(|rest| rest.is_empty() || kinds.iter().any(|kind| rest.starts_with(kind)))
}

/// An INI file's text, to be read at `section`. Python 2's reader took
/// bytes: text in another encoding (a Latin-1 name) where metlog never
/// looks — a comment, a section it does not read — was no matter, and is
/// none here (its bytes replaced); in an option metlog reads, text that is
/// not UTF-8 is an error naming the option's line.
///
/// Checked as metlog reads the options: after `%(name)s` interpolation, and
/// with the `[DEFAULT]` values a client's section inherits — bytes that are
/// not UTF-8 reach a value through either. A U+FFFD written in the file is
/// told from a replaced byte by its line: valid UTF-8, and no reference.
fn ini_text(bytes: Vec<u8>, section: &str) -> Result<String, ConfigError> {
    let bytes = match String::from_utf8(bytes) {
        Ok(text) => return Ok(text),
        Err(e) => e.into_bytes(),
    };
    let invalid_lines: std::collections::BTreeSet<usize> = (bytes.split(|&b| b == b'\n'))
        .enumerate()
        .filter(|(_, line)| std::str::from_utf8(line).is_err())
        .map(|(index, _)| index + 1)
        .collect();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let parsed = ini::parse(&text)?;
    for sect in parsed
        .sections
        .iter()
        .filter(|s| reads_section(section, &s.name))
    {
        let main = sect.name == section;
        let mut sect = sect.clone();
        if main {
            parsed.inherit(&mut sect, is_client_option);
        }
        let written: Vec<String> = sect.entries.iter().map(|e| e.value.clone()).collect();
        ini::interpolate(&mut sect, &parsed.defaults)?;
        for (entry, written) in sect.entries.iter().zip(written) {
            let read = !entry.inherited || (main && is_client_option(&entry.key));
            let replaced = format!("{}{}", entry.key, entry.value).contains('\u{fffd}');
            let as_written = written == entry.value && !invalid_lines.contains(&entry.line);
            if read && replaced && !as_written {
                let (line, key) = (entry.line, &entry.key);
                let message = if written == entry.value {
                    let from = if entry.inherited {
                        ", from [DEFAULT]"
                    } else {
                        ""
                    };
                    format!("cannot read: line {line} is not UTF-8 (option `{key}`{from})")
                } else {
                    format!(
                        "cannot read: option `{key}` (line {line}) takes text that is not \
                         UTF-8 through a %(name)s reference"
                    )
                };
                return Err(ConfigError::new(ConfigErrorKind::Io, message));
            }
        }
    }
    Ok(text)
}

/// Whether `key` is an option of a client's own section.
/// The section an entry was written in: `[DEFAULT]` for one a section
/// inherits (an error names the line where it is).
fn section_of<'s>(section: &'s ini::Section, entry: &ini::Entry) -> &'s str {
    if entry.inherited {
        "DEFAULT"
    } else {
        &section.name
    }
}

fn is_client_option(key: &str) -> bool {
    matches!(key, "logger" | "severity" | "disabled_timers")
        || key.starts_with("sender_")
        || key.starts_with("global_")
}

/// A configuration file's bytes. Only a regular file is read: a FIFO (or
/// `/dev/stdin` on a pipe or terminal) would block the caller for ever, a
/// directory or device is no configuration. Opened without waiting for a
/// FIFO's writer, then asked what it is.
fn read_bytes(path: &Path) -> Result<Vec<u8>, ConfigError> {
    use std::io::Read as _;
    let io_error = |e| ConfigError::new(ConfigErrorKind::Io, format!("cannot read: {e}"));
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path).map_err(io_error)?;
    let kind = file.metadata().map_err(io_error)?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else {
            "a FIFO, socket or device"
        };
        let message = format!("cannot read: {what}, not a regular file");
        return Err(ConfigError::new(ConfigErrorKind::Io, message));
    }
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_CONFIG_FILE {
        let message = format!(
            "longer than {MAX_CONFIG_FILE} bytes (metlog::config::MAX_CONFIG_FILE): not a \
             configuration file"
        );
        return Err(ConfigError::new(ConfigErrorKind::Io, message));
    }
    Ok(bytes)
}

/// Builds a client from a file: TOML when it ends in `.toml`, else a
/// metlog-py INI file read at `section`.
pub fn from_file(path: impl AsRef<Path>, section: &str) -> Result<Client, ConfigError> {
    let path = path.as_ref();
    if path.extension().is_some_and(|e| e == "toml") {
        #[cfg(feature = "toml")]
        return from_toml_file(path);
        #[cfg(not(feature = "toml"))]
        return Err(ConfigError::new(
            ConfigErrorKind::InvalidValue,
            "a TOML file needs metlog's `toml` cargo feature (on by default)",
        )
        .in_file(path));
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

    /// Without the `toml` feature a `.toml` path is refused with an error
    /// naming the feature (the INI loaders work as ever).
    #[cfg(not(feature = "toml"))]
    #[test]
    fn a_toml_file_without_the_feature_names_it() {
        let err = super::from_file("/nonexistent/app.toml", "metlog").unwrap_err();
        assert_eq!(
            err.to_string(),
            "/nonexistent/app.toml: a TOML file needs metlog's `toml` cargo feature (on by \
             default)"
        );
    }

    /// How many senders of the class `counting` were constructed.
    static BUILT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn counting(
        _: &std::collections::BTreeMap<String, super::ConfigValue>,
    ) -> Result<Box<dyn crate::sender::Sender>, String> {
        BUILT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(Box::new(crate::sender::NullSender))
    }

    /// Translating text into a `Config` constructs nothing: no sender (no
    /// worker thread, no socket, no file), no filter; loading a client
    /// constructs each sender once.
    #[test]
    fn translating_builds_nothing_and_loading_builds_each_sender_once() {
        use std::sync::atomic::Ordering::SeqCst;
        super::register_sender("metlog.tests.CountingSender", counting);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("metlog-translate-{}", std::process::id()));
        let file = dir.join("route.log");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let text = format!(
            "[metlog]\nsender_class = tcp\nsender_host = 127.0.0.1\nsender_port = {port}\n\
             [metlog_route_counted]\ntypes = counter\nclass = metlog.tests.CountingSender\n\
             [metlog_route_file]\ntypes = timer\nclass = file\nfilepath = {}\n\
             [metlog_route_udp]\ntypes = gauge\nclass = udp\nhost = 127.0.0.1\nport = {port}\n\
             [metlog_filter_sev]\nprovider = severity_max\nseverity = 6\n",
            file.display()
        );
        let config = super::config_from_ini_str(&text, "metlog").unwrap();
        assert_eq!((config.routes.len(), config.filters.len()), (3, 1));
        assert_eq!(BUILT.load(SeqCst), 0, "translating constructed a sender");
        assert!(!file.exists(), "translating opened the file sender's file");
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(
            listener.accept().is_err(),
            "translating connected to the TCP peer"
        );

        let client = super::from_ini_str(&text, "metlog").unwrap();
        assert_eq!(BUILT.load(SeqCst), 1, "loading constructs each sender once");
        assert!(file.exists());
        drop(client);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
