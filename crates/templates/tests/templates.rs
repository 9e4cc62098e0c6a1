//! Loading and rendering against real directories: the shipped templates, and throwaway trees
//! that exercise tenant and locale fallback, strict variables and start-up validation.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};
use switchyard_templates::{LoadError, RenderError, Templates};

fn vars(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

/// A temporary template tree from `(relative path, text)` pairs.
struct Tree(PathBuf);

impl Tree {
    fn new(files: &[(&str, &str)]) -> Tree {
        let root = std::env::temp_dir().join(format!(
            "switchyard-templates-{}-{}",
            std::process::id(),
            files.len() + files.iter().map(|(p, _)| p.len()).sum::<usize>()
        ));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        Tree(root)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_shipped_templates_load_and_render() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
    let templates = Templates::load(&root).unwrap();
    assert!(
        templates.exists("sms/fee_reminder.txt"),
        "{:?}",
        templates.names()
    );
    let text = templates
        .render(
            None,
            None,
            "sms/fee_reminder.txt",
            &vars(json!({"student": "Ada", "amount": "45.00", "due": "2026-12-04"})),
        )
        .unwrap();
    assert!(text.contains("Ada") && text.contains("45.00"), "{text}");
    assert!(
        !text.ends_with('\n'),
        "the file's trailing newline is not sent"
    );
}

#[test]
fn a_tenant_overrides_what_it_needs_and_a_locale_falls_back_to_english() {
    let tree = Tree::new(&[
        (
            "default/en/sms/absence.txt",
            "{{ student }} was absent today.",
        ),
        (
            "default/fr/sms/absence.txt",
            "{{ student }} était absent aujourd'hui.",
        ),
        (
            "st-marys/en/sms/absence.txt",
            "St Mary's: {{ student }} was absent.",
        ),
    ]);
    let t = Templates::load(&tree.0).unwrap();
    let v = vars(json!({"student": "Ada"}));
    let render = |tenant, locale| t.render(tenant, locale, "sms/absence.txt", &v).unwrap();
    assert_eq!(render(None, None), "Ada was absent today.");
    assert_eq!(render(Some("st-marys"), None), "St Mary's: Ada was absent.");
    // The tenant has no French: the default tenant's French wins over the tenant's English.
    assert_eq!(
        render(Some("st-marys"), Some("fr")),
        "Ada était absent aujourd'hui."
    );
    assert_eq!(render(None, Some("fr-CA")), "Ada était absent aujourd'hui.");
    // No German anywhere: English.
    assert_eq!(render(Some("other"), Some("de")), "Ada was absent today.");
}

#[test]
fn a_missing_variable_is_named_never_left_blank() {
    let tree = Tree::new(&[(
        "default/en/sms/fee.txt",
        "Dear {{ parent }}, {{ amount }} is due{% if note %} ({{ note }}){% endif %}.",
    )]);
    let t = Templates::load(&tree.0).unwrap();
    let err = t
        .render(
            None,
            None,
            "sms/fee.txt",
            &vars(json!({"amount": "45", "note": ""})),
        )
        .unwrap_err();
    assert_eq!(
        err,
        RenderError::MissingVariable {
            template: "default/en/sms/fee.txt".into(),
            variable: "parent".into()
        }
    );
    assert!(err.to_string().contains("\"parent\""), "{err}");
}

#[test]
fn an_unknown_template_says_where_it_looked() {
    let tree = Tree::new(&[("default/en/sms/a.txt", "a")]);
    let t = Templates::load(&tree.0).unwrap();
    let err = t
        .render(Some("x"), Some("fr"), "sms/b.txt", &Map::new())
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RenderError::Unknown { .. }));
    assert!(text.contains("x/fr, default/fr, default/en"), "{text}");
}

#[test]
fn a_template_that_does_not_compile_stops_the_load_with_file_and_line() {
    let tree = Tree::new(&[(
        "default/en/email/report.html",
        "<p>Hello</p>\n<p>{{ student }</p>\n",
    )]);
    let err = Templates::load(&tree.0).err().expect("load fails");
    let LoadError::Syntax { path, line, .. } = &err else {
        panic!("{err}");
    };
    assert!(path.ends_with("default/en/email/report.html"), "{err}");
    assert_eq!(*line, 2, "{err}");
    assert!(err.to_string().contains("report.html:2:"), "{err}");
}

#[test]
fn html_templates_escape_and_text_templates_do_not() {
    let tree = Tree::new(&[
        ("default/en/email/note.html", "<p>{{ text }}</p>"),
        ("default/en/email/note.txt", "{{ text }}"),
    ]);
    let t = Templates::load(&tree.0).unwrap();
    let v = vars(json!({"text": "<b>A & B</b>"}));
    assert_eq!(
        t.render(None, None, "email/note.html", &v).unwrap(),
        "<p>&lt;b&gt;A &amp; B&lt;&#x2f;b&gt;</p>"
    );
    assert_eq!(
        t.render(None, None, "email/note.txt", &v).unwrap(),
        "<b>A & B</b>"
    );
}

#[test]
fn a_missing_root_means_no_templates() {
    let t = Templates::load(Path::new("/nonexistent/switchyard-templates")).unwrap();
    assert!(t.names().is_empty());
}
