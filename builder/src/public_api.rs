//! `builder public-api <kernel.json>`: the public surface of the `kernel`
//! crate, one sorted line per item, from rustdoc's JSON.
//!
//! A guest is Rust code linked into the kernel, so every `pub` item is
//! something a guest can call. The list is checked in (`docs/public-api.txt`)
//! and `./qemu-run.sh test` compares a fresh one with it: a new public item,
//! or a changed signature, fails that test until the list is regenerated
//! (`./qemu-run.sh public-api --update`), which makes each one a decision
//! someone took and a reviewer sees in the diff.
//!
//! The walk starts at the crate root and follows what a caller outside the
//! crate can name: public modules, public items in them, re-exports (under
//! the path they are re-exported at, as well as their own), public fields
//! and variants, the public items of inherent impls, and which traits each
//! type implements (auto traits included: whether a type is `Send` is part
//! of what safe code may do with it). Blanket impls (`impl<T> From<T> for
//! T`) are left out: they follow from the traits, and would be most of the
//! list. Signatures are rendered from the JSON's types, as the source
//! wrote the paths.

use serde_json::Value;
use std::collections::BTreeSet;

/// The sorted lines of the public surface described by rustdoc JSON `doc`.
pub fn surface(doc: &Value) -> Result<Vec<String>, String> {
    let root = doc["root"].as_u64().ok_or("no root in the JSON")?;
    let mut walk = Walk {
        index: &doc["index"],
        lines: BTreeSet::new(),
        on_path: Vec::new(),
    };
    let name = walk.item(root)?["name"]
        .as_str()
        .unwrap_or("kernel")
        .to_string();
    walk.module(root, &name)?;
    Ok(walk.lines.into_iter().collect())
}

struct Walk<'a> {
    index: &'a Value,
    lines: BTreeSet<String>,
    /// Modules being walked (a glob re-export may lead back to one).
    on_path: Vec<u64>,
}

/// Whether an item is visible outside the crate: `pub`, or the implied
/// visibility of variants, trait items and trait-impl items.
fn visible(item: &Value) -> bool {
    matches!(
        item["visibility"].as_str(),
        Some("public") | Some("default")
    )
}

impl<'a> Walk<'a> {
    fn item(&self, id: u64) -> Result<&'a Value, String> {
        let item = &self.index[id.to_string()];
        if item.is_null() {
            return Err(format!("item {id} is not in the index"));
        }
        Ok(item)
    }

    fn add(&mut self, line: String) {
        self.lines.insert(line);
    }

    fn module(&mut self, id: u64, path: &str) -> Result<(), String> {
        if self.on_path.contains(&id) {
            return Ok(());
        }
        self.on_path.push(id);
        let item = self.item(id)?;
        for child in item["inner"]["module"]["items"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let child = child.as_u64().ok_or("a module item id is not a number")?;
            let child_item = self.item(child)?;
            if visible(child_item) {
                self.named(child, child_item, path, None)?;
            }
        }
        self.on_path.pop();
        Ok(())
    }

    /// An item reached in module `parent`, under its own name or `alias`.
    fn named(
        &mut self,
        id: u64,
        item: &Value,
        parent: &str,
        alias: Option<&str>,
    ) -> Result<(), String> {
        let inner = &item["inner"];
        let Some((kind, body)) = inner.as_object().and_then(|o| o.iter().next()) else {
            return Err(format!("item {id} has no kind"));
        };
        let name = alias.or(item["name"].as_str()).unwrap_or("_");
        let path = format!("{parent}::{name}");
        match kind.as_str() {
            "use" => return self.reexport(body, parent),
            "module" => {
                self.add(format!("pub mod {path}"));
                self.module(id, &path)?;
            }
            "function" => self.add(format!("pub {}", function(&path, body))),
            "constant" => self.add(format!("pub const {path}: {}", ty(&body["type"]))),
            "static" => {
                let mutable = if body["is_mutable"].as_bool() == Some(true) {
                    "mut "
                } else {
                    ""
                };
                self.add(format!("pub static {mutable}{path}: {}", ty(&body["type"])))
            }
            "type_alias" => self.add(format!(
                "pub type {path}{} = {}",
                generics(&body["generics"]),
                ty(&body["type"])
            )),
            "macro" => self.add(format!("pub macro {parent}::{name}!")),
            "struct" | "union" | "enum" => self.data_type(kind, &path, body)?,
            "trait" => self.trait_(&path, body)?,
            other => self.add(format!("pub {other} {path}")),
        }
        Ok(())
    }

    /// `pub use`: an item of this crate is listed again under the new path
    /// (a glob re-export lists the module's items); another crate's item
    /// gets one line naming it.
    fn reexport(&mut self, body: &Value, parent: &str) -> Result<(), String> {
        let source = body["source"].as_str().unwrap_or("?");
        let name = body["name"].as_str().unwrap_or("_");
        let target = body["id"].as_u64().and_then(|id| {
            let item = &self.index[id.to_string()];
            (!item.is_null() && item["crate_id"].as_u64() == Some(0)).then_some((id, item))
        });
        match target {
            Some((id, item)) if body["is_glob"].as_bool() == Some(true) => {
                if item["inner"].get("module").is_some() {
                    self.module(id, parent)?;
                }
            }
            Some((id, item)) => self.named(id, item, parent, Some(name))?,
            None => self.add(format!("pub use {parent}::{name} = {source}")),
        }
        Ok(())
    }

    fn data_type(&mut self, kind: &str, path: &str, body: &Value) -> Result<(), String> {
        self.add(format!("pub {kind} {path}{}", generics(&body["generics"])));
        // Fields of a struct or union; variants of an enum (and their fields).
        let fields = match &body["kind"] {
            Value::Object(k) => k
                .get("plain")
                .map(|p| p["fields"].clone())
                .or_else(|| k.get("tuple").cloned())
                .unwrap_or(Value::Null),
            _ => body["fields"].clone(),
        };
        self.fields(path, &fields)?;
        if body["kind"]
            .as_object()
            .and_then(|k| k.get("plain"))
            .and_then(|p| p["has_stripped_fields"].as_bool())
            == Some(true)
        {
            self.add(format!("pub {kind} {path} has private fields"));
        }
        for variant in body["variants"].as_array().into_iter().flatten() {
            let variant = self.item(variant.as_u64().ok_or("a variant id")?)?;
            let vpath = format!("{path}::{}", variant["name"].as_str().unwrap_or("_"));
            self.add(format!("pub variant {vpath}"));
            let vkind = &variant["inner"]["variant"]["kind"];
            let vfields = vkind
                .get("struct")
                .map(|s| s["fields"].clone())
                .or_else(|| vkind.get("tuple").cloned())
                .unwrap_or(Value::Null);
            self.fields(&vpath, &vfields)?;
        }
        for imp in body["impls"].as_array().into_iter().flatten() {
            self.impl_(path, imp.as_u64().ok_or("an impl id")?)?;
        }
        Ok(())
    }

    fn fields(&mut self, path: &str, fields: &Value) -> Result<(), String> {
        for (i, field) in fields.as_array().into_iter().flatten().enumerate() {
            let Some(field) = field.as_u64() else {
                continue;
            }; // a private tuple field
            let field = self.item(field)?;
            if visible(field) {
                let name = field["name"].as_str().map_or(i.to_string(), str::to_string);
                self.add(format!(
                    "pub field {path}::{name}: {}",
                    ty(&field["inner"]["struct_field"])
                ));
            }
        }
        Ok(())
    }

    fn impl_(&mut self, path: &str, id: u64) -> Result<(), String> {
        let imp = &self.item(id)?["inner"]["impl"];
        if !imp["blanket_impl"].is_null() {
            return Ok(());
        }
        let unsafe_ = if imp["is_unsafe"].as_bool() == Some(true) {
            "unsafe "
        } else {
            ""
        };
        let not = if imp["is_negative"].as_bool() == Some(true) {
            "!"
        } else {
            ""
        };
        if !imp["trait"].is_null() {
            self.add(format!(
                "{unsafe_}impl{} {not}{} for {}",
                generics(&imp["generics"]),
                path_of(&imp["trait"]),
                ty(&imp["for"])
            ));
            return Ok(());
        }
        for item in imp["items"].as_array().into_iter().flatten() {
            let item = self.item(item.as_u64().ok_or("an impl item id")?)?;
            if item["visibility"].as_str() != Some("public") {
                continue;
            }
            let ipath = format!("{path}::{}", item["name"].as_str().unwrap_or("_"));
            let inner = &item["inner"];
            if let Some(f) = inner.get("function") {
                self.add(format!("pub {}", function(&ipath, f)));
            } else if let Some(c) = inner.get("assoc_const") {
                self.add(format!("pub const {ipath}: {}", ty(&c["type"])));
            } else if let Some(t) = inner.get("assoc_type") {
                self.add(format!("pub type {ipath} = {}", ty(&t["type"])));
            }
        }
        Ok(())
    }

    fn trait_(&mut self, path: &str, body: &Value) -> Result<(), String> {
        let unsafe_ = if body["is_unsafe"].as_bool() == Some(true) {
            "unsafe "
        } else {
            ""
        };
        self.add(format!(
            "pub {unsafe_}trait {path}{}",
            generics(&body["generics"])
        ));
        for item in body["items"].as_array().into_iter().flatten() {
            let item = self.item(item.as_u64().ok_or("a trait item id")?)?;
            let ipath = format!("{path}::{}", item["name"].as_str().unwrap_or("_"));
            let inner = &item["inner"];
            if let Some(f) = inner.get("function") {
                self.add(format!("pub {}", function(&ipath, f)));
            } else if let Some(c) = inner.get("assoc_const") {
                self.add(format!("pub const {ipath}: {}", ty(&c["type"])));
            } else if inner.get("assoc_type").is_some() {
                self.add(format!("pub type {ipath}"));
            }
        }
        Ok(())
    }
}

/// `[const ][unsafe ]fn path<generics>(params) -> output`.
fn function(path: &str, f: &Value) -> String {
    let header = &f["header"];
    let mut out = String::new();
    if header["is_const"].as_bool() == Some(true) {
        out.push_str("const ");
    }
    if header["is_unsafe"].as_bool() == Some(true) {
        out.push_str("unsafe ");
    }
    match &header["abi"] {
        Value::String(abi) if abi == "Rust" => {}
        Value::String(abi) => out.push_str(&format!("extern {abi:?} ")),
        Value::Object(abi) => {
            // `{"C": {"unwind": false}}` and the like
            out.push_str(&format!(
                "extern {:?} ",
                abi.keys().next().map_or("", |k| k.as_str())
            ))
        }
        _ => {}
    }
    out.push_str(&format!("fn {path}{}(", generics(&f["generics"])));
    let inputs: Vec<String> = f["sig"]["inputs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|input| {
            let name = input[0].as_str().unwrap_or("_");
            let t = &input[1];
            if name == "self" {
                match t {
                    Value::Object(o) if o.contains_key("borrowed_ref") => {
                        let r = &t["borrowed_ref"];
                        let m = if r["is_mutable"].as_bool() == Some(true) {
                            "mut "
                        } else {
                            ""
                        };
                        let l = r["lifetime"]
                            .as_str()
                            .map_or(String::new(), |l| format!("{l} "));
                        format!("&{l}{m}self")
                    }
                    Value::Object(o)
                        if o.get("generic").and_then(Value::as_str) == Some("Self") =>
                    {
                        "self".to_string()
                    }
                    _ => format!("self: {}", ty(t)),
                }
            } else {
                format!("{name}: {}", ty(t))
            }
        })
        .collect();
    out.push_str(&inputs.join(", "));
    out.push(')');
    if !f["sig"]["output"].is_null() {
        out.push_str(&format!(" -> {}", ty(&f["sig"]["output"])));
    }
    let wheres = where_clause(&f["generics"]);
    if !wheres.is_empty() {
        out.push_str(&format!(" where {wheres}"));
    }
    out
}

/// `<'a, T: Bound, const N: usize>`, leaving out `impl Trait` parameters
/// (rendered where they stand).
fn generics(g: &Value) -> String {
    let params: Vec<String> = g["params"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let name = p["name"].as_str().unwrap_or("_");
            let kind = &p["kind"];
            if let Some(l) = kind.get("lifetime") {
                let outlives: Vec<&str> = l["outlives"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                Some(if outlives.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}: {}", outlives.join(" + "))
                })
            } else if let Some(t) = kind.get("type") {
                if t["is_synthetic"].as_bool() == Some(true) {
                    return None;
                }
                let b = bounds(&t["bounds"]);
                Some(if b.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}: {b}")
                })
            } else if let Some(c) = kind.get("const") {
                Some(format!("const {name}: {}", ty(&c["type"])))
            } else {
                Some(name.to_string())
            }
        })
        .collect();
    if params.is_empty() {
        String::new()
    } else {
        format!("<{}>", params.join(", "))
    }
}

fn where_clause(g: &Value) -> String {
    let preds: Vec<String> = g["where_predicates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            if let Some(b) = p.get("bound_predicate") {
                format!("{}: {}", ty(&b["type"]), bounds(&b["bounds"]))
            } else if let Some(l) = p.get("lifetime_predicate") {
                let outlives: Vec<&str> = l["outlives"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                format!(
                    "{}: {}",
                    l["lifetime"].as_str().unwrap_or("'_"),
                    outlives.join(" + ")
                )
            } else if let Some(e) = p.get("eq_predicate") {
                format!(
                    "{} = {}",
                    ty(&e["lhs"]),
                    ty(e["rhs"].get("type").unwrap_or(&Value::Null))
                )
            } else {
                p.to_string()
            }
        })
        .collect();
    preds.join(", ")
}

fn bounds(b: &Value) -> String {
    let parts: Vec<String> = b
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            if let Some(t) = b.get("trait_bound") {
                let modifier = if t["modifier"].as_str() == Some("maybe") {
                    "?"
                } else {
                    ""
                };
                format!("{modifier}{}", path_of(&t["trait"]))
            } else if let Some(l) = b.get("outlives") {
                l.as_str().unwrap_or("'_").to_string()
            } else {
                b.to_string()
            }
        })
        .collect();
    parts.join(" + ")
}

/// `Path<Args>` or `Fn(A) -> R` of a resolved path.
fn path_of(p: &Value) -> String {
    let mut out = p["path"].as_str().unwrap_or("?").to_string();
    let args = &p["args"];
    if let Some(a) = args.get("angle_bracketed") {
        let mut parts: Vec<String> = a["args"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|arg| {
                if let Some(t) = arg.get("type") {
                    ty(t)
                } else if let Some(l) = arg.get("lifetime") {
                    l.as_str().unwrap_or("'_").to_string()
                } else if let Some(c) = arg.get("const") {
                    c["expr"].as_str().unwrap_or("_").to_string()
                } else {
                    "_".to_string()
                }
            })
            .collect();
        for c in a["constraints"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("_");
            if let Some(t) = c["binding"].get("equality").and_then(|e| e.get("type")) {
                parts.push(format!("{name} = {}", ty(t)));
            } else if let Some(b) = c["binding"].get("constraint") {
                parts.push(format!("{name}: {}", bounds(b)));
            }
        }
        if !parts.is_empty() {
            out.push_str(&format!("<{}>", parts.join(", ")));
        }
    } else if let Some(a) = args.get("parenthesized") {
        let inputs: Vec<String> = a["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(ty)
            .collect();
        out.push_str(&format!("({})", inputs.join(", ")));
        if !a["output"].is_null() {
            out.push_str(&format!(" -> {}", ty(&a["output"])));
        }
    }
    out
}

/// A type as source would write it.
fn ty(t: &Value) -> String {
    let Some((kind, body)) = t.as_object().and_then(|o| o.iter().next()) else {
        return t.as_str().unwrap_or("?").to_string();
    };
    match kind.as_str() {
        "resolved_path" => path_of(body),
        "primitive" if body.as_str() == Some("never") => "!".to_string(),
        "primitive" | "generic" => body.as_str().unwrap_or("?").to_string(),
        "infer" => "_".to_string(),
        "tuple" => {
            let parts: Vec<String> = body.as_array().into_iter().flatten().map(ty).collect();
            if parts.len() == 1 {
                format!("({},)", parts[0])
            } else {
                format!("({})", parts.join(", "))
            }
        }
        "slice" => format!("[{}]", ty(body)),
        "array" => format!(
            "[{}; {}]",
            ty(&body["type"]),
            body["len"].as_str().unwrap_or("_")
        ),
        "borrowed_ref" => {
            let l = body["lifetime"]
                .as_str()
                .map_or(String::new(), |l| format!("{l} "));
            let m = if body["is_mutable"].as_bool() == Some(true) {
                "mut "
            } else {
                ""
            };
            format!("&{l}{m}{}", ty(&body["type"]))
        }
        "raw_pointer" => {
            let m = if body["is_mutable"].as_bool() == Some(true) {
                "mut"
            } else {
                "const"
            };
            format!("*{m} {}", ty(&body["type"]))
        }
        "impl_trait" => format!("impl {}", bounds(body)),
        "dyn_trait" => {
            let mut parts: Vec<String> = body["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| path_of(&t["trait"]))
                .collect();
            if let Some(l) = body["lifetime"].as_str() {
                parts.push(l.to_string());
            }
            format!("dyn {}", parts.join(" + "))
        }
        "function_pointer" => {
            let sig = &body["sig"];
            let unsafe_ = if body["header"]["is_unsafe"].as_bool() == Some(true) {
                "unsafe "
            } else {
                ""
            };
            let abi = match &body["header"]["abi"] {
                Value::String(s) if s == "Rust" => String::new(),
                Value::Object(o) => {
                    format!("extern {:?} ", o.keys().next().map_or("", |k| k.as_str()))
                }
                other => format!("extern {other} "),
            };
            let inputs: Vec<String> = sig["inputs"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|i| ty(&i[1]))
                .collect();
            let output = if sig["output"].is_null() {
                String::new()
            } else {
                format!(" -> {}", ty(&sig["output"]))
            };
            format!("{unsafe_}{abi}fn({}){output}", inputs.join(", "))
        }
        "qualified_path" => {
            let self_ty = ty(&body["self_type"]);
            let name = body["name"].as_str().unwrap_or("_");
            if body["trait"].is_null() {
                format!("{self_ty}::{name}")
            } else {
                format!("<{self_ty} as {}>::{name}", path_of(&body["trait"]))
            }
        }
        _ => t.to_string(),
    }
}
