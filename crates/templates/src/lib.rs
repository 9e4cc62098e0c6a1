//! One template system for every channel. Templates live in a directory per tenant and locale:
//!
//! ```text
//! templates/<tenant>/<locale>/<channel>/<name>.<part>
//! templates/default/en/sms/fee_reminder.txt
//! templates/default/en/email/report_card.subject.txt   (+ .txt, .html)
//! templates/st-marys/fr/push/absence_alert.title.txt
//! ```
//!
//! A lookup of `sms/fee_reminder.txt` for tenant `st-marys` in `fr-CA` tries
//! `st-marys/fr-CA`, `st-marys/fr`, `default/fr-CA`, `default/fr`, then `default/en`: a tenant
//! overrides only what it needs, and a parent whose language has no translation still gets the
//! message in English rather than nothing.
//!
//! Everything is compiled when loaded, so a broken template stops the start with its file and
//! line. Rendering is strict: a variable the template uses but the message does not carry is a
//! [`RenderError::MissingVariable`] naming it, never a blank in a parent's SMS. Files ending in
//! `.html` are HTML-escaped.

mod segments;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

pub use segments::{SmsEncoding, SmsSegments, sms_segments};

/// The tenant whose templates every other tenant falls back to.
pub const DEFAULT_TENANT: &str = "default";
/// The locale of last resort.
pub const DEFAULT_LOCALE: &str = "en";

/// Names the template language provides itself; not variables a message must carry.
const BUILTIN_GLOBALS: [&str; 5] = ["range", "dict", "namespace", "debug", "loop"];

/// A template set failed to load.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The directory or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A template does not compile.
    #[error("{path}:{line}: {reason}")]
    Syntax {
        /// The template file.
        path: PathBuf,
        /// The line of the error (1-based; 0 when unknown).
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A template could not be rendered for a message. Every variant is a problem with the
/// message or the template set, so the runtime treats all of them as permanent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// No tenant/locale in the fallback chain has this template.
    #[error("unknown template {name:?} (looked in {searched})")]
    Unknown {
        /// The template, e.g. `sms/fee_reminder.txt`.
        name: String,
        /// The tenant/locale directories searched, in order.
        searched: String,
    },
    /// The template uses a variable the message does not carry.
    #[error("template {template} needs variable {variable:?}, which the message does not carry")]
    MissingVariable {
        /// The template file (tenant/locale/name).
        template: String,
        /// The missing variable.
        variable: String,
    },
    /// Rendering failed otherwise (a filter given the wrong type, …).
    #[error("template {template}: {reason}")]
    Failed {
        /// The template file (tenant/locale/name).
        template: String,
        /// What went wrong.
        reason: String,
    },
}

/// Templates of one tenant and locale.
struct Set {
    env: Environment<'static>,
    /// Per template, the top-level variables it reads.
    variables: HashMap<String, BTreeSet<String>>,
}

/// Every template set under one root directory.
pub struct Templates {
    sets: HashMap<(String, String), Set>,
}

impl Templates {
    /// Loads and compiles every template under `root` (`<tenant>/<locale>/<channel>/<file>`).
    /// A missing root means no templates: messages with inline text still work.
    pub fn load(root: &Path) -> Result<Templates, LoadError> {
        let mut sets = HashMap::new();
        if !root.exists() {
            return Ok(Templates { sets });
        }
        for tenant in subdirectories(root)? {
            for locale in subdirectories(&tenant)? {
                let set = load_set(&locale)?;
                sets.insert((file_name(&tenant), file_name(&locale)), set);
            }
        }
        Ok(Templates { sets })
    }

    /// Whether any tenant/locale has template `name` (e.g. `sms/fee_reminder.txt`).
    pub fn exists(&self, name: &str) -> bool {
        self.sets
            .values()
            .any(|set| set.variables.contains_key(name))
    }

    /// Every template name, across tenants and locales, sorted and without repeats.
    pub fn names(&self) -> Vec<String> {
        let names: BTreeSet<&String> = self
            .sets
            .values()
            .flat_map(|set| set.variables.keys())
            .collect();
        names.into_iter().cloned().collect()
    }

    /// Renders template `name` (`<channel>/<file>`) for `tenant` and `locale` (either may be
    /// absent: the default tenant, English), falling back as the module docs describe.
    pub fn render(
        &self,
        tenant: Option<&str>,
        locale: Option<&str>,
        name: &str,
        vars: &Map<String, Value>,
    ) -> Result<String, RenderError> {
        let chain = fallback_chain(tenant, locale);
        let found = chain.iter().find_map(|(t, l)| {
            let set = self.sets.get(&(t.clone(), l.clone()))?;
            let variables = set.variables.get(name)?;
            Some((t, l, set, variables))
        });
        let Some((t, l, set, variables)) = found else {
            let searched: Vec<String> = chain.iter().map(|(t, l)| format!("{t}/{l}")).collect();
            return Err(RenderError::Unknown {
                name: name.to_owned(),
                searched: searched.join(", "),
            });
        };
        let template_path = format!("{t}/{l}/{name}");
        if let Some(missing) = variables.iter().find(|v| !vars.contains_key(*v)) {
            return Err(RenderError::MissingVariable {
                template: template_path,
                variable: missing.clone(),
            });
        }
        let failed = |e: minijinja::Error| RenderError::Failed {
            template: template_path.clone(),
            reason: e.to_string(),
        };
        let template = set.env.get_template(name).map_err(failed)?;
        template
            .render(to_template_value(&Value::Object(vars.clone())))
            .map_err(failed)
    }
}

/// `tenant/locale`, `tenant/language`, `default/locale`, `default/language`, `default/en`,
/// without repeats.
fn fallback_chain(tenant: Option<&str>, locale: Option<&str>) -> Vec<(String, String)> {
    let tenant = tenant.filter(|t| !t.is_empty()).unwrap_or(DEFAULT_TENANT);
    let locale = locale.filter(|l| !l.is_empty()).unwrap_or(DEFAULT_LOCALE);
    let language = locale.split(['-', '_']).next().unwrap_or(locale);
    let mut chain = Vec::new();
    for (t, l) in [
        (tenant, locale),
        (tenant, language),
        (DEFAULT_TENANT, locale),
        (DEFAULT_TENANT, language),
        (DEFAULT_TENANT, DEFAULT_LOCALE),
    ] {
        let entry = (t.to_owned(), l.to_owned());
        if !chain.contains(&entry) {
            chain.push(entry);
        }
    }
    chain
}

fn load_set(dir: &Path) -> Result<Set, LoadError> {
    let mut env = Environment::new();
    // A missing variable is an error, never an SMS saying "Dear ,".
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let mut variables = HashMap::new();
    for channel in subdirectories(dir)? {
        for path in files(&channel)? {
            let name = format!("{}/{}", file_name(&channel), file_name(&path));
            let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
                path: path.clone(),
                source,
            })?;
            // Editors end files with a newline; an SMS should not.
            env.add_template_owned(name.clone(), text.trim_end().to_owned())
                .map_err(|e| LoadError::Syntax {
                    path: path.clone(),
                    line: e.line().unwrap_or(0),
                    reason: e.detail().unwrap_or(&e.to_string()).to_owned(),
                })?;
            let template = env.get_template(&name).expect("just added");
            let used: BTreeSet<String> = template
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !BUILTIN_GLOBALS.contains(&v.as_str()))
                .collect();
            variables.insert(name, used);
        }
    }
    Ok(Set { env, variables })
}

fn entries(dir: &Path, want_dirs: bool) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let hidden = file_name(&path).starts_with('.');
        if !hidden && path.is_dir() == want_dirs {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn subdirectories(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    entries(dir, true)
}

fn files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    entries(dir, false)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// JSON → template value (minijinja 3 takes values, not `Serialize`).
fn to_template_value(json: &Value) -> minijinja::Value {
    match json {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => n
            .as_i64()
            .map(minijinja::Value::from)
            .or_else(|| n.as_f64().map(minijinja::Value::from))
            .unwrap_or_else(|| minijinja::Value::from(n.to_string())),
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(items) => items.iter().map(to_template_value).collect(),
        Value::Object(map) => minijinja::Value::from_pairs(
            map.iter().map(|(k, v)| (k.as_str(), to_template_value(v))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_falls_back_from_tenant_and_region_to_default_english() {
        let chain = fallback_chain(Some("st-marys"), Some("fr-CA"));
        let chain: Vec<String> = chain.iter().map(|(t, l)| format!("{t}/{l}")).collect();
        assert_eq!(
            chain,
            [
                "st-marys/fr-CA",
                "st-marys/fr",
                "default/fr-CA",
                "default/fr",
                "default/en"
            ]
        );
        let plain = fallback_chain(None, None);
        assert_eq!(plain, [("default".to_owned(), "en".to_owned())]);
    }
}
