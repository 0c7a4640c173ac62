//! The project file of `micro run`: go-micro v5's `micro.mu` (a small indented language) or
//! its JSON equivalent `micro.json`: services with a path, a port and the services they
//! depend on, and named environments of variables. `order` puts the services in
//! dependency order.
//!
//! ```text
//! service users            # a service: its name, then indented properties
//!     path ./users
//!     port 8081
//! service posts
//!     path ./posts
//!     depends users
//! env development          # an environment: indented KEY VALUE lines
//!     STORE_ADDRESS file://./data
//! ```

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A problem with the project file, with the file and line it was found on.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The file could not be read.
    #[error("{0}: {1}")]
    Read(PathBuf, std::io::Error),
    /// A line of micro.mu that does not parse.
    #[error("{file}:{line}: {what}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// Its 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// micro.json that does not decode.
    #[error("{0}: {1}")]
    Json(PathBuf, serde_json::Error),
    /// A dependency on a service the file does not name, or a cycle.
    #[error("dependency error: {0}")]
    Depends(String),
}

/// One service of the project.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct ServiceDef {
    /// Its name: the name it registers under.
    #[serde(skip)]
    pub name: String,
    /// Its directory, relative to the project file.
    #[serde(default)]
    pub path: String,
    /// The port it listens on (`MICRO_SERVER_ADDRESS=:PORT`); 0: any.
    #[serde(default)]
    pub port: u16,
    /// Services that must be registered before it starts.
    #[serde(default)]
    pub depends: Vec<String>,
}

/// A project: its services (by name) and environments.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Project {
    /// The services, by name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceDef>,
    /// Environments: name → variables.
    #[serde(default, rename = "env")]
    pub envs: BTreeMap<String, BTreeMap<String, String>>,
}

impl Project {
    /// The project file in `dir`: micro.mu first, then micro.json; `None` when neither.
    pub fn load(dir: &Path) -> Result<Option<Project>, ProjectError> {
        let mu = dir.join("micro.mu");
        if mu.is_file() {
            let text = std::fs::read_to_string(&mu).map_err(|e| ProjectError::Read(mu.clone(), e))?;
            return parse_mu(&mu, &text).map(Some);
        }
        let json = dir.join("micro.json");
        if json.is_file() {
            let text = std::fs::read_to_string(&json).map_err(|e| ProjectError::Read(json.clone(), e))?;
            let mut p: Project = serde_json::from_str(&text).map_err(|e| ProjectError::Json(json.clone(), e))?;
            for (name, s) in p.services.iter_mut() {
                s.name = name.clone();
            }
            return Ok(Some(p));
        }
        Ok(None)
    }

    /// The services in dependency order (a service after all it depends on; otherwise by
    /// name); a missing dependency or a cycle is an error.
    pub fn order(&self) -> Result<Vec<ServiceDef>, ProjectError> {
        for s in self.services.values() {
            if let Some(d) = s.depends.iter().find(|d| !self.services.contains_key(*d)) {
                return Err(ProjectError::Depends(format!("service {} depends on unknown service {d}", s.name)));
            }
        }
        let mut done: Vec<ServiceDef> = Vec::new();
        while done.len() < self.services.len() {
            let next = self.services.values().find(|s| {
                !done.iter().any(|d| d.name == s.name) && s.depends.iter().all(|d| done.iter().any(|x| &x.name == d))
            });
            match next {
                Some(s) => done.push(s.clone()),
                None => {
                    let left: Vec<&str> = self
                        .services
                        .keys()
                        .filter(|n| !done.iter().any(|d| &d.name == *n))
                        .map(String::as_str)
                        .collect();
                    return Err(ProjectError::Depends(format!("circular dependency among {}", left.join(", "))));
                }
            }
        }
        Ok(done)
    }
}

enum Block {
    None,
    Service(String),
    Env(String),
    Deploy,
}

/// Parses micro.mu text (`file` names it in errors).
pub fn parse_mu(file: &Path, text: &str) -> Result<Project, ProjectError> {
    let mut p = Project::default();
    let mut block = Block::None;
    for (i, line) in text.lines().enumerate() {
        let err = |what: String| ProjectError::Syntax { file: file.to_path_buf(), line: i + 1, what };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if !indented {
            let [keyword, name] = words[..] else {
                return Err(err("expected 'service <name>', 'env <name>' or 'deploy <name>'".into()));
            };
            block = match keyword {
                "service" => {
                    p.services.insert(name.into(), ServiceDef { name: name.into(), ..Default::default() });
                    Block::Service(name.into())
                }
                "env" => {
                    p.envs.entry(name.into()).or_default();
                    Block::Env(name.into())
                }
                // Deploy targets are go-micro's `micro deploy`: read and ignored here.
                "deploy" => Block::Deploy,
                other => return Err(err(format!("unknown keyword '{other}'"))),
            };
            continue;
        }
        if words.len() < 2 {
            return Err(err("expected 'key value'".into()));
        }
        let (key, value) = (words[0], words[1..].join(" "));
        match &block {
            Block::Service(name) => {
                let Some(s) = p.services.get_mut(name) else { continue };
                match key {
                    "path" => s.path = value,
                    "port" => s.port = value.parse().map_err(|_| err(format!("invalid port '{value}'")))?,
                    "depends" => s.depends = words[1..].iter().map(|w| w.to_string()).collect(),
                    other => return Err(err(format!("unknown service property '{other}'"))),
                }
            }
            Block::Env(name) => {
                p.envs.entry(name.clone()).or_default().insert(key.into(), value);
            }
            Block::Deploy => {}
            Block::None => return Err(err("a property outside a service, env or deploy block".into())),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::{parse_mu, Project};
    use std::path::Path;

    #[test]
    fn loads_json_and_prefers_mu() {
        let dir = std::env::temp_dir().join(format!("micro-run-project-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        assert!(Project::load(&dir).expect("no file is fine").is_none());
        let json = r#"{"services": {"a": {"path": "./a", "port": 8081}, "b": {"path": "./b", "depends": ["a"]}},
                       "env": {"development": {"X": "1"}}}"#;
        std::fs::write(dir.join("micro.json"), json).expect("write");
        let p = Project::load(&dir).expect("loads").expect("a project");
        assert_eq!(p.services["a"].name, "a");
        assert_eq!(p.services["a"].port, 8081);
        assert_eq!(p.envs["development"]["X"], "1");
        assert_eq!(p.order().expect("orders").iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        std::fs::write(dir.join("micro.mu"), "service c\n    path ./c\n").expect("write");
        let p = Project::load(&dir).expect("loads").expect("a project");
        assert!(p.services.contains_key("c") && !p.services.contains_key("a"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn parses_and_orders() {
        let text = "# a project\nservice posts\n    path ./posts\n    depends users\n\nservice users\n\tpath ./users\n    port 8081\nenv development\n    A b c\ndeploy prod\n    ssh x@y\n";
        let p = parse_mu(Path::new("micro.mu"), text).expect("parses");
        assert_eq!(p.services["users"].port, 8081);
        assert_eq!(p.envs["development"]["A"], "b c");
        let order: Vec<String> = p.order().expect("orders").into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["users", "posts"]);
        assert!(parse_mu(Path::new("m"), "service a\n    port x\n").is_err());
        assert!(parse_mu(Path::new("m"), "bogus a\n").is_err());
        let cyc = parse_mu(Path::new("m"), "service a\n    depends b\nservice b\n    depends a\n").expect("parses");
        assert!(cyc.order().is_err());
    }
}
