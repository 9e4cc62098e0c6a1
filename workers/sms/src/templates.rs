//! SMS templates: `templates/sms/<name>.txt`, rendered with minijinja. Loaded once at start so
//! a typo in a template shows up at boot, not at 2 a.m. when the first message needs it.

use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::SmsError;

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Loads every `*.txt` in `dir` (a missing directory means no templates).
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut env = Environment::new();
        // A missing variable is an error, never an SMS saying "Dear ,".
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(Self { env });
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned) else {
                continue;
            };
            if path.extension().is_some_and(|e| e == "txt") {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                env.add_template_owned(name, text.trim_end().to_owned())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
        Ok(Self { env })
    }

    /// Renders template `name` with `vars`.
    pub fn render(&self, name: &str, vars: &Map<String, Value>) -> Result<String, SmsError> {
        let template = self
            .env
            .get_template(name)
            .map_err(|_| SmsError::UnknownTemplate(name.to_owned()))?;
        template
            .render(to_template_value(&Value::Object(vars.clone())))
            .map_err(|e| SmsError::Template {
                name: name.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Names of the loaded templates.
    pub fn names(&self) -> Vec<String> {
        self.env
            .templates()
            .map(|(name, _)| name.to_owned())
            .collect()
    }
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
    use serde_json::json;

    #[test]
    fn shipped_templates_render_and_missing_vars_fail() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates/sms");
        let t = Templates::load(&dir).unwrap();
        assert!(t.names().contains(&"fee_reminder".to_owned()));
        let vars = json!({"student": "Ada", "amount": "45.00", "due": "2026-12-04"});
        let text = t.render("fee_reminder", vars.as_object().unwrap()).unwrap();
        assert!(text.contains("Ada") && text.contains("45.00"), "{text}");
        let missing = t.render("fee_reminder", &Map::new()).unwrap_err();
        assert!(matches!(missing, SmsError::Template { .. }), "{missing}");
        assert!(matches!(
            t.render("nope", &Map::new()),
            Err(SmsError::UnknownTemplate(_))
        ));
    }
}
