//! The web layer stays in layers: `src/web/mod.rs` declares its modules in groups, bottom
//! to top, and a module may import only modules of the groups above its own (so no
//! import circle can form).

use std::path::Path;

/// The web modules a source file imports (`super::name`, `super::{a, b}`,
/// `crate::web::name`), outside its tests.
fn imports(source: &str, modules: &[String]) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = Vec::new();
    for prefix in ["super::", "crate::web::"] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            let names: Vec<&str> = match rest.strip_prefix('{') {
                Some(group) => group
                    .split('}')
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|path| path.trim().split("::").next().unwrap_or_default())
                    .collect(),
                None => vec![
                    rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or_default(),
                ],
            };
            for name in names {
                if modules.iter().any(|m| m == name) && !found.iter().any(|f| f == name) {
                    found.push(name.to_owned());
                }
            }
        }
    }
    found.sort();
    found
}

/// The groups of `mod` declarations in `mod.rs`, in order (a blank line ends a group).
fn groups(listing: &str) -> Vec<Vec<String>> {
    let mut groups = vec![Vec::new()];
    for line in listing
        .lines()
        .take_while(|line| !line.starts_with("pub use"))
    {
        let line = line.trim();
        match line.trim_start_matches("pub ").strip_prefix("mod ") {
            Some(name) => groups
                .last_mut()
                .expect("a group")
                .push(name.trim_end_matches(';').to_owned()),
            None if line.is_empty() => groups.push(Vec::new()),
            None => {}
        }
    }
    groups.retain(|group| !group.is_empty());
    groups
}

#[test]
fn web_modules_import_only_modules_of_the_groups_above() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
    let listing = std::fs::read_to_string(web.join("mod.rs")).expect("web/mod.rs");
    let groups = groups(&listing);
    let modules: Vec<String> = groups.concat();
    assert!(
        groups.len() >= 5 && modules.len() >= 15,
        "groups found in mod.rs: {groups:?}"
    );
    let layer = |name: &str| groups.iter().position(|g| g.iter().any(|m| m == name));
    let mut wrong = Vec::new();
    for module in &modules {
        let source = std::fs::read_to_string(web.join(format!("{module}.rs")))
            .unwrap_or_else(|error| panic!("web/{module}.rs: {error}"));
        for import in imports(&source, &modules) {
            if layer(&import) >= layer(module) {
                wrong.push(format!(
                    "{module} imports {import}, not in a group above it"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn imports_and_groups_are_read_as_written() {
    let modules = vec!["views".to_owned(), "pages".to_owned(), "state".to_owned()];
    assert_eq!(imports("use super::pages::layout;", &modules), ["pages"]);
    assert_eq!(
        imports("use super::{views::layout, state};\n", &modules),
        ["state", "views"]
    );
    assert_eq!(imports("fn f(s: &super::state::X) {}", &modules), ["state"]);
    assert!(imports("use super::AppState;", &modules).is_empty());
    assert!(imports("#[cfg(test)]\nuse super::pages::x;", &modules).is_empty());
    assert_eq!(
        groups("// a\nmod state;\n\n// b\nmod pages;\npub mod views;\n\npub use x;\nmod tests;"),
        [
            vec!["state".to_owned()],
            vec!["pages".into(), "views".into()]
        ]
    );
}
