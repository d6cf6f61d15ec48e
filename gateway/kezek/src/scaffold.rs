//! `kezek adapters new <id> --family egov-soap|direct-soap|rest`: a new adapter crate under
//! `adapters/registries/<id>/` (issue 12). The templates are files embedded in the binary
//! (`scaffold/*.tmpl`), rendered by plain substitution of `{{name}}`; what they render
//! builds and its unit tests pass as generated (the e2e test `scaffolded_adapters_build`
//! proves it for every family).

use kezek_domain::CheckId;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use time::Date;

/// How the registry is reached, and so which SDK calls the adapter makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Family {
    /// A state database behind the e-government gateway (ШЭП): `gateway::call`.
    EgovSoap,
    /// A registry's own SOAP 1.1 service, reached directly: `soap::call_direct`.
    DirectSoap,
    /// A JSON REST registry, reached directly: `rest::call`.
    Rest,
}

#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The adapter id: lower-case letters, digits and dashes, starting with a letter. It
    /// names the crate, the folder, the package and the manifest.
    pub id: String,
    #[arg(long, value_enum)]
    pub family: Family,
    /// The check it serves, as the rule set names it: `P18.7`, or a new one (`O505.ADR`).
    #[arg(long)]
    pub check: String,
    /// The registry, in words (manifest and describe()).
    #[arg(long)]
    pub registry: Option<String>,
    /// For egov-soap: the gateway's service id; default: the id in upper case.
    #[arg(long)]
    pub service_id: Option<String>,
    /// The folder to create the crate in.
    #[arg(long, default_value = "adapters/registries")]
    pub dir: PathBuf,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: String,
    pub family: Family,
    pub check: CheckId,
    pub registry: String,
    pub service_id: String,
}

impl Plan {
    /// Validates what an integrator typed.
    pub fn new(args: &NewArgs) -> anyhow::Result<Self> {
        check_id(&args.id).map_err(anyhow::Error::msg)?;
        // Any check id the rule sets can name (ADR 0018); WIT 1.1 carries it as a string.
        let check: CheckId = args
            .check
            .parse()
            .map_err(|e| anyhow::anyhow!("--check {:?}: {e}", args.check))?;
        let registry = args
            .registry
            .clone()
            .unwrap_or_else(|| format!("TODO: the registry behind {}", args.id));
        if registry.trim().is_empty() {
            anyhow::bail!("--registry is empty: name the registry in words");
        }
        let service_id = args
            .service_id
            .clone()
            .unwrap_or_else(|| args.id.to_uppercase().replace('-', "_"));
        if !service_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            anyhow::bail!("--service-id {service_id}: letters, digits, _ and - only");
        }
        Ok(Self {
            id: args.id.clone(),
            family: args.family,
            check,
            registry,
            service_id,
        })
    }

    /// The logical endpoint the manifest declares.
    fn endpoint(&self) -> &str {
        match self.family {
            Family::EgovSoap => "egov-gateway",
            Family::DirectSoap | Family::Rest => &self.id,
        }
    }
}

/// The manifest schema's id rule (`schemas/adapter-manifest.schema.json`), with the reason
/// in words; a crate name has to be a Rust identifier once dashes are underscores, which
/// this also ensures.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = id.len() >= 2
        && id.len() <= 63
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not an adapter id: 2 to 63 lower-case letters, digits and single dashes, \
             starting with a letter and not ending with a dash (e.g. road-fines)"
        ))
    }
}

/// `road-fines` → `RoadFines`.
fn camel(id: &str) -> String {
    id.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

const CARGO: &str = include_str!("scaffold/Cargo.toml.tmpl");
const MANIFEST: &str = include_str!("scaffold/manifest.json.tmpl");
const EGOV_SOAP: &str = include_str!("scaffold/egov-soap.rs.tmpl");
const DIRECT_SOAP: &str = include_str!("scaffold/direct-soap.rs.tmpl");
const REST: &str = include_str!("scaffold/rest.rs.tmpl");
const SCENARIO: &str = include_str!("scaffold/mock-scenario.json.tmpl");

/// The crate's files: (path inside the crate folder, text).
pub fn render(plan: &Plan, today: Date) -> Vec<(&'static str, String)> {
    let days = |n: i64| today.saturating_add(time::Duration::days(n)).to_string();
    let json = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let credentials = match plan.family {
        Family::EgovSoap => r#""gateway-sender""#,
        Family::DirectSoap | Family::Rest => "",
    };
    let values: &[(&str, String)] = &[
        ("id", plan.id.clone()),
        ("type", camel(&plan.id)),
        ("root", camel(&plan.id)),
        ("check", plan.check.to_string()),
        ("service_id", plan.service_id.clone()),
        ("endpoint", plan.endpoint().to_owned()),
        ("credentials", credentials.to_owned()),
        ("registry_json", json(&plan.registry)),
        // A Rust string literal; Debug escapes exactly what a literal needs.
        ("registry_rust", format!("{:?}", plan.registry)),
        ("registry_doc", plan.registry.replace('\n', " ")),
        (
            "description_toml",
            json(&format!("{}: {}", plan.check, plan.registry)),
        ),
        ("today", today.to_string()),
        ("travel_date", days(10)),
        ("in_three_years", days(3 * 365)),
    ];
    let source = match plan.family {
        Family::EgovSoap => EGOV_SOAP,
        Family::DirectSoap => DIRECT_SOAP,
        Family::Rest => REST,
    };
    [
        ("Cargo.toml", CARGO),
        ("manifest.json", MANIFEST),
        ("src/lib.rs", source),
        ("mock-scenario.json", SCENARIO),
    ]
    .into_iter()
    .map(|(path, template)| {
        let text = values
            .iter()
            .fold(template.to_owned(), |text, (name, value)| {
                text.replace(&format!("{{{{{name}}}}}"), value)
            });
        (path, text)
    })
    .collect()
}

/// Writes the crate into `<dir>/<id>`; refuses a folder that exists.
pub fn scaffold(plan: &Plan, dir: &Path, today: Date) -> anyhow::Result<PathBuf> {
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a folder: run from the repository root, or give --dir",
            dir.display()
        );
    }
    let dest = dir.join(&plan.id);
    if dest.exists() {
        anyhow::bail!(
            "{} already exists: choose another id, or remove it first",
            dest.display()
        );
    }
    let files = render(plan, today);
    let written = std::fs::create_dir_all(dest.join("src")).and_then(|()| {
        files
            .iter()
            .try_for_each(|(path, text)| std::fs::write(dest.join(path), text))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&dest);
        anyhow::bail!("writing {}: {e}", dest.display());
    }
    // Line breaks depend on the id's length: rustfmt settles them where it is installed; the
    // code is the same without it.
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .arg(dest.join("src/lib.rs"))
        .stderr(std::process::Stdio::null())
        .status();
    Ok(dest)
}

pub fn run(args: &NewArgs) -> anyhow::Result<ExitCode> {
    let plan = Plan::new(args)?;
    use kezek_domain::clock::{Clock, KAZAKHSTAN, SystemClock};
    let today = SystemClock.now().to_offset(KAZAKHSTAN).date();
    let dest = scaffold(&plan, &args.dir, today)?;
    let id = &plan.id;
    println!(
        "created {} ({:?} family, {}, kezek:registry@1.1.0)",
        dest.display(),
        plan.family,
        plan.check
    );
    println!("next:");
    println!("  edit src/lib.rs (the TODOs) and manifest.json, then:");
    println!("  cargo test --release --manifest-path adapters/Cargo.toml -p {id}");
    println!("  make adapter ID={id}      # build, package into target/staging, deploy");
    if plan.family != Family::EgovSoap {
        println!(
            "  map the endpoint in the gateway config: [egress.endpoints.{}] url = \"…\"",
            plan.endpoint()
        );
    }
    println!(
        "  add the persona in {}/mock-scenario.json to a scenario once the mocks serve the registry",
        dest.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_manifest_rule() {
        for good in ["road-fines", "a1", "tax-debt-v2"] {
            assert_eq!(check_id(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "a",
            "Road",
            "1abc",
            "road_fines",
            "road-",
            "a--b",
            "ä-b",
            "a b",
        ] {
            let err = check_id(bad).unwrap_err();
            assert!(err.contains("is not an adapter id"), "{bad}: {err}");
        }
        assert_eq!(camel("road-fines-v2"), "RoadFinesV2");
    }

    fn plan(family: Family) -> Plan {
        Plan::new(&NewArgs {
            id: "cargo-seals".into(),
            family,
            check: "P18.16".into(),
            registry: Some("Customs \"seal\" register\\".into()),
            service_id: None,
            dir: PathBuf::new(),
        })
        .unwrap()
    }

    #[test]
    fn every_placeholder_is_filled_and_the_manifest_parses() {
        let today = kezek_domain::clock::Clock::now(&kezek_domain::clock::SystemClock).date();
        for family in [Family::EgovSoap, Family::DirectSoap, Family::Rest] {
            for (path, text) in render(&plan(family), today) {
                assert!(
                    !text.contains("{{"),
                    "{family:?} {path}: a placeholder is left"
                );
                if path == "manifest.json" {
                    let manifest = kezek_manifest::Manifest::parse(text.as_bytes()).unwrap();
                    assert_eq!(manifest.id, "cargo-seals");
                    let gateway = family == Family::EgovSoap;
                    assert_eq!(manifest.endpoints[0].name == "egov-gateway", gateway);
                }
                if path == "mock-scenario.json" {
                    serde_json::from_str::<serde_json::Value>(&text).unwrap();
                }
            }
        }
    }

    #[test]
    fn bad_input_is_refused_in_words() {
        let args = |id: &str, check: &str| NewArgs {
            id: id.into(),
            family: Family::Rest,
            check: check.into(),
            registry: None,
            service_id: None,
            dir: PathBuf::new(),
        };
        assert!(Plan::new(&args("Bad Id", "P18.3")).is_err());
        for bad in ["19", "p18.3", "O505 ADR", ""] {
            let err = Plan::new(&args("good-id", bad)).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--check {bad:?}: ")), "{err}");
        }
        // A new check id is as good as a P18 one (ADR 0018).
        assert_eq!(
            Plan::new(&args("good-id", "O505.ADR"))
                .unwrap()
                .check
                .as_str(),
            "O505.ADR"
        );

        let root = tempfile::tempdir().unwrap();
        let today = kezek_domain::clock::Clock::now(&kezek_domain::clock::SystemClock).date();
        let plan = Plan::new(&args("good-id", "P18.3")).unwrap();
        scaffold(&plan, root.path(), today).unwrap();
        let err = scaffold(&plan, root.path(), today).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        let err = scaffold(&plan, &root.path().join("none"), today)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a folder"), "{err}");
    }
}
