//! Build script of the image: puts `memory.x` on the linker's path and turns the device-kind
//! vectors of `../vectors` into Rust constants (`$OUT_DIR/cases.rs`, included by
//! `src/vectors.rs`), so that the chip holds only the members its runners read and parses no
//! JSON at run time.
//!
//! Reading mirrors `hem-auth-vectors` (`src/schema.rs`, `Case::from_value`, `Case::read`):
//! every file under `vectors/` with a `groups` array is a vector file and must have the schema
//! `hem-auth-vectors/1`; in it, the groups of the four device kinds (`ext-token`,
//! `ext-validate`, `login`, `access-token`) are read, other kinds are not run here. A test
//! whose common members or kind members do not read, or whose `id` repeats in its file, becomes
//! a case that fails on the chip with the reason, as the host checker fails it; unknown members
//! are ignored.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

const SCHEMA_ID: &str = "hem-auth-vectors/1";
const DEVICE_KINDS: [&str; 4] = ["ext-token", "ext-validate", "login", "access-token"];

#[derive(Deserialize)]
struct PairingFields {
    pid: String,
    aid: String,
}

#[derive(Deserialize)]
struct PendingFields {
    jti: String,
    exp: u64,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize)]
struct TokenFields {
    scope: String,
    sub: String,
    exp: u64,
}

#[derive(Deserialize)]
struct ExtTokenCase {
    eid_private: String,
    pairings: Vec<PairingFields>,
    pending: Vec<PendingFields>,
    now: u64,
    authreply: String,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    token: Option<TokenFields>,
}

#[derive(Deserialize)]
struct ExtValidateCase {
    eid_private: String,
    pairings: Vec<PairingFields>,
    pending: Vec<PendingFields>,
    now: u64,
    pid: String,
    reply: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

#[derive(Deserialize)]
struct LoginCase {
    spk_private: String,
    user_public: String,
    #[serde(default)]
    master_public: Option<String>,
    pending: Vec<PendingFields>,
    now: u64,
    auth: String,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    token: Option<TokenFields>,
}

#[derive(Deserialize)]
struct AccessTokenCase {
    token_key: String,
    token: String,
    now: u64,
    required_scope: String,
    #[serde(default)]
    exact: bool,
    #[serde(default)]
    status: Option<u16>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Valid,
    Invalid,
}

/// A Rust literal of a string (`{:?}` of a `str` is one).
fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn opt<T>(v: &Option<T>, f: impl Fn(&T) -> String) -> String {
    match v {
        Some(x) => format!("Some({})", f(x)),
        None => "None".into(),
    }
}

fn pairings(list: &[PairingFields]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|p| format!("PairingF {{ pid: {}, aid: {} }}", lit(&p.pid), lit(&p.aid)))
        .collect();
    format!("&[{}]", items.join(", "))
}

fn pending(list: &[PendingFields]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|p| {
            format!(
                "PendingF {{ jti: {}, exp: {}, scope: {} }}",
                lit(&p.jti),
                p.exp,
                opt(&p.scope, |s| lit(s))
            )
        })
        .collect();
    format!("&[{}]", items.join(", "))
}

fn token(t: &Option<TokenFields>) -> String {
    opt(t, |t| {
        format!(
            "TokenF {{ scope: {}, sub: {}, exp: {} }}",
            lit(&t.scope),
            lit(&t.sub),
            t.exp
        )
    })
}

fn status(s: &Option<u16>) -> String {
    opt(s, |s| s.to_string())
}

/// The kind's members as a `Fields` literal, or why the test is malformed.
fn fields(kind: &str, map: &Map<String, Value>) -> Result<String, String> {
    let value = Value::Object(map.clone());
    let malformed = |e: serde_json::Error| format!("malformed test: {e}");
    Ok(match kind {
        "ext-token" => {
            let c: ExtTokenCase = serde_json::from_value(value).map_err(malformed)?;
            format!(
                "Fields::ExtToken(ExtTokenF {{ eid_private: {}, pairings: {}, pending: {}, now: {}, authreply: {}, policy: {}, status: {}, token: {} }})",
                lit(&c.eid_private),
                pairings(&c.pairings),
                pending(&c.pending),
                c.now,
                lit(&c.authreply),
                opt(&c.policy, |s| lit(s)),
                status(&c.status),
                token(&c.token)
            )
        }
        "ext-validate" => {
            let c: ExtValidateCase = serde_json::from_value(value).map_err(malformed)?;
            format!(
                "Fields::ExtValidate(ExtValidateF {{ eid_private: {}, pairings: {}, pending: {}, now: {}, pid: {}, reply: {}, status: {}, kid: {}, code: {} }})",
                lit(&c.eid_private),
                pairings(&c.pairings),
                pending(&c.pending),
                c.now,
                lit(&c.pid),
                lit(&c.reply),
                status(&c.status),
                opt(&c.kid, |s| lit(s)),
                opt(&c.code, |s| lit(s))
            )
        }
        "login" => {
            let c: LoginCase = serde_json::from_value(value).map_err(malformed)?;
            format!(
                "Fields::Login(LoginF {{ spk_private: {}, user_public: {}, master_public: {}, pending: {}, now: {}, auth: {}, status: {}, token: {} }})",
                lit(&c.spk_private),
                lit(&c.user_public),
                opt(&c.master_public, |s| lit(s)),
                pending(&c.pending),
                c.now,
                lit(&c.auth),
                status(&c.status),
                token(&c.token)
            )
        }
        "access-token" => {
            let c: AccessTokenCase = serde_json::from_value(value).map_err(malformed)?;
            format!(
                "Fields::AccessToken(AccessTokenF {{ token_key: {}, token: {}, now: {}, required_scope: {}, exact: {}, status: {} }})",
                lit(&c.token_key),
                lit(&c.token),
                c.now,
                lit(&c.required_scope),
                c.exact,
                status(&c.status)
            )
        }
        other => unreachable!("not a device kind: {other}"),
    })
}

/// One test: the common members as `Case::from_value` reads them, then the kind's.
struct Read {
    id: Option<u64>,
    /// Whether the common members read (the checker then counts the id as seen).
    common_ok: bool,
    valid: Option<bool>,
    comment: String,
    fields: Result<String, String>,
}

fn read_case(kind: &str, raw: &Value) -> Read {
    let mut out = Read {
        id: raw.get("id").and_then(Value::as_u64),
        common_ok: false,
        valid: None,
        comment: raw
            .get("comment")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        fields: Err(String::new()),
    };
    let Value::Object(map) = raw else {
        out.fields = Err("test is not a JSON object".into());
        return out;
    };
    let mut map = map.clone();
    let common = (|| {
        match map.remove("id") {
            Some(v) => {
                v.as_u64()
                    .ok_or_else(|| format!("`id` is not a non-negative integer: {v}"))?;
            }
            None => return Err("test has no `id`".to_string()),
        }
        match map.remove("comment") {
            None | Some(Value::String(_)) => {}
            Some(v) => return Err(format!("`comment` is not a string: {v}")),
        }
        let valid = match map.remove("result") {
            Some(v) => match serde_json::from_value::<Expect>(v.clone()) {
                Ok(e) => matches!(e, Expect::Valid),
                Err(_) => {
                    return Err(format!(
                        "`result` must be \"valid\" or \"invalid\", not {v}"
                    ))
                }
            },
            None => return Err("test has no `result`".to_string()),
        };
        if let Some(v) = map.remove("flags") {
            serde_json::from_value::<Vec<String>>(v.clone())
                .map_err(|_| format!("`flags` is not an array of strings: {v}"))?;
        }
        Ok(valid)
    })();
    match common {
        Ok(valid) => {
            out.common_ok = true;
            out.valid = Some(valid);
            out.fields = if DEVICE_KINDS.contains(&kind) {
                fields(kind, &map)
            } else {
                Err(String::new())
            };
        }
        Err(e) => out.fields = Err(e),
    }
    out
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");

    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let vectors = root.join("..").join("vectors");
    println!("cargo:rerun-if-changed={}", vectors.display());
    let mut files = Vec::new();
    json_files(&vectors, &mut files);
    let mut code = String::from("pub static CASES: &[Case] = &[\n");
    let mut count = 0usize;
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let name = path
            .strip_prefix(root.join(".."))
            .unwrap_or(path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            panic!("{name}: not JSON");
        };
        let Some(groups) = value.get("groups").and_then(Value::as_array) else {
            // Not a vector file (e.g. the published artefacts under interop/published).
            continue;
        };
        if value.get("schema").and_then(Value::as_str) != Some(SCHEMA_ID) {
            writeln!(
                code,
                "    Case {{ file: {}, kind: \"(file)\", id: None, valid: None, comment: \"\", fields: Err(\"the file's schema is not {SCHEMA_ID}\") }},",
                lit(&name)
            )
            .expect("write");
            count += 1;
            continue;
        }
        let mut ids = std::collections::BTreeSet::new();
        for group in groups {
            let kind = group
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let tests = group
                .get("tests")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for raw in &tests {
                let mut r = read_case(kind, raw);
                // As the checker: an id is checked once the common members read, in every
                // group of the file; only the device kinds are run here.
                if let (Some(id), true) = (r.id, r.common_ok) {
                    if !ids.insert(id) {
                        r.fields = Err(format!("id {id} is not unique in the file"));
                    }
                }
                if !DEVICE_KINDS.contains(&kind) {
                    continue;
                }
                let fields = match &r.fields {
                    Ok(f) => format!("Ok({f})"),
                    Err(e) => format!("Err({})", lit(e)),
                };
                writeln!(
                    code,
                    "    Case {{ file: {}, kind: {}, id: {}, valid: {}, comment: {}, fields: {} }},",
                    lit(&name),
                    lit(kind),
                    opt(&r.id, |i| i.to_string()),
                    opt(&r.valid, |v| v.to_string()),
                    lit(&r.comment),
                    fields
                )
                .expect("write");
                count += 1;
            }
        }
    }
    code.push_str("];\n");
    assert!(
        count > 0,
        "no device-kind vectors under {}",
        vectors.display()
    );
    std::fs::write(out.join("cases.rs"), code).expect("write cases.rs");
}
