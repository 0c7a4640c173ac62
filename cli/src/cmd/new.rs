//! `micro new NAME --lang rust|python|node|go [--template basic|pubsub|crud|api]`: writes a
//! service directory that builds and runs as it is — registered, its handlers, their test,
//! a README — from the templates under `cli/templates/` (embedded in the binary). basic has
//! one handler (`<Name>.Hello`); pubsub adds a topic; crud serves Create/Read/Update/Delete/
//! List on an in-memory store; api serves Health and Hello for HTTP through the gateway.
//!
//! Where the `micro` library comes from: a checkout of this project (`--micro_path`, or the
//! one the new directory sits in) gives path dependencies (Rust: `core/`, Node:
//! `bindings/node/`); otherwise the published packages (the `micro` crate from git, Node's
//! `micro-mesh` under the name `micro`, Python's `micro-mesh`). Go services are plain go-micro
//! v5 and need neither. `micro run` builds any of them.

use crate::cmd::{print, Failure, Outcome};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

/// The git repository the `micro` crate is taken from outside a checkout.
pub const MICRO_GIT: &str = "https://github.com/micro/micro-rs";

/// `micro new`'s arguments.
#[derive(Args, Debug, Clone)]
pub struct NewArgs {
    /// Service name (also the directory made, under --dir).
    pub name: String,
    /// Language of the service.
    #[arg(long, value_enum, default_value = "go")]
    pub lang: Lang,
    /// Template: basic (a handler, a test, a README), pubsub (also publishes on and
    /// subscribes to NAME.events: endpoints Publish and Last), crud (Create, Read, Update,
    /// Delete, List on an in-memory store) or api (Health and Hello, for HTTP through the
    /// gateway: GET /NAME/health, POST /NAME/hello).
    #[arg(long, default_value = "basic")]
    pub template: String,
    /// A checkout of micro to depend on by path (Rust, Node); default: the checkout the new
    /// directory sits in, if any.
    #[arg(long = "micro_path", env = "MICRO_PATH", value_name = "DIR")]
    pub micro_path: Option<PathBuf>,
    /// Where to make the service directory (default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

/// A service's language.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// A Cargo project on the `micro` crate.
    Rust,
    /// A Python module on `import micro` (distribution micro-mesh).
    Python,
    /// A Node package on `require('micro')` (package micro-mesh).
    Node,
    /// A plain go-micro v5 service.
    Go,
}

/// One file of a template: where it goes and its text with `{{…}}` placeholders.
type File = (&'static str, &'static str);

const RUST: &[File] = &[
    ("Cargo.toml", include_str!("../../templates/rust/Cargo.toml.tmpl")),
    ("src/main.rs", include_str!("../../templates/rust/main.rs.tmpl")),
    ("README.md", include_str!("../../templates/rust/README.md.tmpl")),
    (".gitignore", include_str!("../../templates/rust/gitignore.tmpl")),
];
const PYTHON: &[File] = &[
    ("pyproject.toml", include_str!("../../templates/python/pyproject.toml.tmpl")),
    ("main.py", include_str!("../../templates/python/main.py.tmpl")),
    ("test_main.py", include_str!("../../templates/python/test_main.py.tmpl")),
    ("requirements.txt", include_str!("../../templates/python/requirements.txt.tmpl")),
    ("README.md", include_str!("../../templates/python/README.md.tmpl")),
    (".gitignore", include_str!("../../templates/python/gitignore.tmpl")),
];
const NODE: &[File] = &[
    ("package.json", include_str!("../../templates/node/package.json.tmpl")),
    ("index.js", include_str!("../../templates/node/index.js.tmpl")),
    ("handler.js", include_str!("../../templates/node/handler.js.tmpl")),
    ("handler.test.js", include_str!("../../templates/node/handler.test.js.tmpl")),
    ("README.md", include_str!("../../templates/node/README.md.tmpl")),
    (".gitignore", include_str!("../../templates/node/gitignore.tmpl")),
];
const RUST_PUBSUB: &[File] = &[("src/main.rs", include_str!("../../templates/rust/main_pubsub.rs.tmpl"))];
const PYTHON_PUBSUB: &[File] = &[("main.py", include_str!("../../templates/python/main_pubsub.py.tmpl"))];
const NODE_PUBSUB: &[File] = &[("index.js", include_str!("../../templates/node/index_pubsub.js.tmpl"))];
const GO_PUBSUB: &[File] = &[
    ("main.go", include_str!("../../templates/go/main_pubsub.go.tmpl")),
    ("handler.go", include_str!("../../templates/go/handler_pubsub.go.tmpl")),
];
const README_CRUD: &str = include_str!("../../templates/common/README_crud.md.tmpl");
const README_API: &str = include_str!("../../templates/common/README_api.md.tmpl");
const RUST_CRUD: &[File] =
    &[("src/main.rs", include_str!("../../templates/rust/main_crud.rs.tmpl")), ("README.md", README_CRUD)];
const RUST_API: &[File] =
    &[("src/main.rs", include_str!("../../templates/rust/main_api.rs.tmpl")), ("README.md", README_API)];
const PYTHON_CRUD: &[File] = &[
    ("main.py", include_str!("../../templates/python/main_crud.py.tmpl")),
    ("test_main.py", include_str!("../../templates/python/test_main_crud.py.tmpl")),
    ("README.md", README_CRUD),
];
const PYTHON_API: &[File] = &[
    ("main.py", include_str!("../../templates/python/main_api.py.tmpl")),
    ("test_main.py", include_str!("../../templates/python/test_main_api.py.tmpl")),
    ("README.md", README_API),
];
const NODE_CRUD: &[File] = &[
    ("index.js", include_str!("../../templates/node/index_crud.js.tmpl")),
    ("handler.js", include_str!("../../templates/node/handler_crud.js.tmpl")),
    ("handler.test.js", include_str!("../../templates/node/handler_crud.test.js.tmpl")),
    ("README.md", README_CRUD),
];
const NODE_API: &[File] = &[
    ("index.js", include_str!("../../templates/node/index_api.js.tmpl")),
    ("handler.js", include_str!("../../templates/node/handler_api.js.tmpl")),
    ("handler.test.js", include_str!("../../templates/node/handler_api.test.js.tmpl")),
    ("README.md", README_API),
];
const GO_CRUD: &[File] = &[
    ("main.go", include_str!("../../templates/go/main_crud.go.tmpl")),
    ("handler.go", include_str!("../../templates/go/handler_crud.go.tmpl")),
    ("handler_test.go", include_str!("../../templates/go/handler_crud_test.go.tmpl")),
    ("README.md", README_CRUD),
];
const GO_API: &[File] = &[
    ("main.go", include_str!("../../templates/go/main_api.go.tmpl")),
    ("handler.go", include_str!("../../templates/go/handler_api.go.tmpl")),
    ("handler_test.go", include_str!("../../templates/go/handler_api_test.go.tmpl")),
    ("README.md", README_API),
];

/// The templates `--template` takes, as `micro new` lists them.
pub const TEMPLATES: &[&str] = &["basic", "pubsub", "crud", "api"];

/// The files `template` replaces in basic's for `lang`; `None` for a template that does
/// not exist.
fn overrides(template: &str, lang: Lang) -> Option<&'static [File]> {
    Some(match (template, lang) {
        ("basic", _) => &[],
        ("pubsub", Lang::Rust) => RUST_PUBSUB,
        ("pubsub", Lang::Python) => PYTHON_PUBSUB,
        ("pubsub", Lang::Node) => NODE_PUBSUB,
        ("pubsub", Lang::Go) => GO_PUBSUB,
        ("crud", Lang::Rust) => RUST_CRUD,
        ("crud", Lang::Python) => PYTHON_CRUD,
        ("crud", Lang::Node) => NODE_CRUD,
        ("crud", Lang::Go) => GO_CRUD,
        ("api", Lang::Rust) => RUST_API,
        ("api", Lang::Python) => PYTHON_API,
        ("api", Lang::Node) => NODE_API,
        ("api", Lang::Go) => GO_API,
        _ => return None,
    })
}

/// The language's words in the shared READMEs (crud, api): its name, how to run and test
/// it, what to install first, and where the `micro` library comes from.
fn readme_vars(lang: Lang, micro_source: &str, node_dep: &str) -> [(&'static str, String); 5] {
    let (name, run, test, setup, footer) = match lang {
        Lang::Rust => ("Rust", "cargo run", "cargo test", String::new(), format!("\nThe `micro` crate comes from {micro_source}.")),
        Lang::Python => (
            "Python",
            ".venv/bin/python main.py",
            ".venv/bin/python -m unittest",
            "\n- `python3 -m venv .venv && .venv/bin/pip install -r requirements.txt` — installs the\n  `micro-mesh` distribution (`import micro`).".to_string(),
            String::new(),
        ),
        Lang::Node => (
            "Node",
            "node index.js",
            "npm test",
            format!("\n- `npm install` — installs the `micro` package (published as `micro-mesh`; here from\n  `{node_dep}`)."),
            String::new(),
        ),
        Lang::Go => ("Go (plain go-micro v5)", "go run .", "go test ./...", String::new(), String::new()),
    };
    [
        ("Lang", name.to_string()),
        ("run", run.to_string()),
        ("test", test.to_string()),
        ("setup", setup),
        ("footer", footer),
    ]
}

const GO: &[File] = &[
    ("go.mod", include_str!("../../templates/go/go.mod.tmpl")),
    ("main.go", include_str!("../../templates/go/main.go.tmpl")),
    ("handler.go", include_str!("../../templates/go/handler.go.tmpl")),
    ("handler_test.go", include_str!("../../templates/go/handler_test.go.tmpl")),
    ("README.md", include_str!("../../templates/go/README.md.tmpl")),
    (".gitignore", include_str!("../../templates/go/gitignore.tmpl")),
];

/// `users-api` → `UsersApi`: the handler's name, as go-micro's templates capitalise it.
pub fn handler_name(service: &str) -> String {
    let mut out = String::new();
    for part in service.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    if !out.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        out.insert(0, 'S');
    }
    out
}

/// A service name that is a package name in every language: letters, digits, `-` and `_`,
/// starting with a letter.
fn check_name(name: &str) -> Result<(), Failure> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(Failure::Usage(format!(
            "micro new: {name:?} is not a service name: use lower-case letters, digits, - and _, starting with a letter"
        )))
    }
}

/// The checkout of micro at or above `dir`: the directory holding `core/Cargo.toml` of the
/// `micro` crate.
pub fn find_checkout(dir: &Path) -> Option<PathBuf> {
    let start = std::fs::canonicalize(dir).ok()?;
    start.ancestors().find(|d| is_checkout(d)).map(Path::to_path_buf)
}

fn is_checkout(d: &Path) -> bool {
    std::fs::read_to_string(d.join("core/Cargo.toml")).is_ok_and(|t| t.contains("name = \"micro\""))
}

/// Replaces each `{{key}}` of `text`.
fn render(text: &str, vars: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// Writes the service directory.
pub fn run(args: &NewArgs) -> Outcome {
    check_name(&args.name)?;
    let Some(over) = overrides(&args.template, args.lang) else {
        return Err(Failure::Usage(format!(
            "micro new: unknown template {:?}: the templates are {}",
            args.template,
            TEMPLATES.join(", ")
        )));
    };
    let dir = args.dir.join(&args.name);
    if dir.exists() {
        return Err(Failure::Failed(format!("micro new: {} already exists", dir.display())));
    }
    std::fs::create_dir_all(&dir).map_err(|e| Failure::Failed(format!("micro new: {}: {e}", dir.display())))?;
    let checkout = match &args.micro_path {
        Some(p) if is_checkout(p) => Some(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
        Some(p) => {
            return Err(Failure::Usage(format!(
                "micro new: --micro_path {}: not a checkout of micro (no core/Cargo.toml of the micro crate)",
                p.display()
            )))
        }
        None => find_checkout(&dir),
    };
    let (micro_dep, micro_source, node_dep) = match &checkout {
        Some(c) => (
            format!("{{ path = {:?} }}", c.join("core").display().to_string()),
            format!("the checkout at {}", c.display()),
            format!("file:{}", c.join("bindings/node").display()),
        ),
        None => (
            format!("{{ git = {MICRO_GIT:?} }}"),
            format!("git ({MICRO_GIT}); from a checkout, `micro new --micro_path DIR` depends on it by path"),
            "npm:micro-mesh@^0".to_string(),
        ),
    };
    let lang = format!("{:?}", args.lang).to_lowercase();
    let mut vars = vec![("name", args.name.clone()), ("Handler", handler_name(&args.name)), ("lang", lang.clone())];
    vars.extend(readme_vars(args.lang, &micro_source, &node_dep));
    vars.extend([("micro_dep", micro_dep), ("micro_source", micro_source), ("node_dep", node_dep)]);
    let files = match args.lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::Node => NODE,
        Lang::Go => GO,
    };
    // A template is basic's files with some replaced.
    for (path, text) in files {
        let text = over.iter().find(|(p, _)| p == path).map(|(_, t)| *t).unwrap_or(text);
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::Failed(format!("micro new: {}: {e}", parent.display())))?;
        }
        std::fs::write(&target, render(text, &vars))
            .map_err(|e| Failure::Failed(format!("micro new: {}: {e}", target.display())))?;
    }
    // A Rust service built from a checkout starts from the checkout's lock file, so it
    // resolves the versions the workspace already compiled (and shares its target dir).
    if let (Lang::Rust, Some(c)) = (args.lang, &checkout) {
        let _ = std::fs::copy(c.join("Cargo.lock"), dir.join("Cargo.lock"));
    }
    // go.sum, as go-micro's `micro new` makes it: the module builds at once.
    if args.lang == Lang::Go {
        match std::process::Command::new("go").args(["mod", "tidy"]).current_dir(&dir).status() {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!("micro new: `go mod tidy` failed ({s}): run it in {} before building", dir.display()),
            Err(e) => {
                eprintln!("micro new: cannot run `go mod tidy` ({e}): run it in {} before building", dir.display())
            }
        }
    }
    print(&format!("created {} ({lang}, template {})", dir.display(), args.template));
    print(&format!("next: cd {} && micro run", dir.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_name, handler_name, overrides, render, Lang, TEMPLATES};

    #[test]
    fn names() {
        assert_eq!(handler_name("users-api"), "UsersApi");
        assert_eq!(handler_name("greeter"), "Greeter");
        assert!(check_name("users-api").is_ok());
        assert!(check_name("Users").is_err());
        assert!(check_name("../x").is_err());
        assert_eq!(render("a {{name}} b {{name}}", &[("name", "x".into())]), "a x b x");
    }

    #[test]
    fn every_template_in_every_language() {
        for t in TEMPLATES {
            for lang in [Lang::Rust, Lang::Python, Lang::Node, Lang::Go] {
                assert!(overrides(t, lang).is_some(), "{t} {lang:?}");
            }
        }
        assert!(overrides("web", Lang::Go).is_none());
    }
}
