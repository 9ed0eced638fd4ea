//! Terraform's state, read: the resources of a `terraform show -json` document or of a raw
//! `terraform.tfstate`, as one flat list with their attributes. `deployer import` takes a stack
//! over from it.
//!
//! Two documented formats are read, and nothing else:
//!
//! - the JSON output format (`terraform show -json`, `format_version` 1.x): resources under
//!   `values.root_module.resources`, and recursively under `child_modules`, each with
//!   `address`, `mode`, `type`, `name`, `index` and `values`
//!   (<https://developer.hashicorp.com/terraform/internals/json-format>);
//! - the state file itself, `version` 4 (Terraform 0.12 and later): `resources[]` with
//!   `module`, `mode`, `type`, `name` and `instances[]`, each with `index_key` and
//!   `attributes`.
//!
//! The attribute names are those of the AWS provider's resources, the same in both formats.

use std::path::Path;

use serde_json::Value;

/// One resource instance of the state.
#[derive(Debug, Clone, PartialEq)]
pub struct TfResource {
    /// Its address, as `terraform state list` and `removed { from = ... }` name it:
    /// `module.a.aws_lb.main`, `aws_subnet.public[0]`, `data.aws_vpc.default`.
    pub address: String,
    /// The address without an instance key: what a `removed` block names (it forgets every
    /// instance of the resource).
    pub config_address: String,
    /// `managed` or `data`.
    pub mode: String,
    /// The resource type, like `aws_lb`.
    pub kind: String,
    /// Its attributes, as the provider stored them.
    pub attributes: Value,
}

impl TfResource {
    /// Whether Terraform manages it (a `resource` block), rather than only reading it (`data`).
    pub fn managed(&self) -> bool {
        self.mode == "managed"
    }

    /// The string attribute `key`, or `""`.
    pub fn str(&self, key: &str) -> &str {
        self.attributes
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The first element of the nested block `key` (the provider stores a block as a list).
    pub fn block(&self, key: &str) -> Option<&Value> {
        self.attributes.get(key).and_then(|b| match b {
            Value::Array(items) => items.first(),
            Value::Object(_) => Some(b),
            _ => None,
        })
    }
}

/// Why a state could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TfStateError {
    #[error("cannot read {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path} is not JSON ({error}); expected the output of `terraform show -json` or a terraform.tfstate file")]
    NotJson {
        path: String,
        error: serde_json::Error,
    },
    #[error("{path}: {message}")]
    Unsupported { path: String, message: String },
}

/// Reads a state file of either format (see the module documentation).
pub fn load(path: &Path) -> Result<Vec<TfResource>, TfStateError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| TfStateError::Read {
        path: shown.clone(),
        error,
    })?;
    parse(&text).map_err(|e| match e {
        ParseError::Json(error) => TfStateError::NotJson { path: shown, error },
        ParseError::Unsupported(message) => TfStateError::Unsupported {
            path: shown,
            message,
        },
    })
}

/// Why a text is not a state this module reads.
#[derive(Debug)]
pub enum ParseError {
    Json(serde_json::Error),
    Unsupported(String),
}

/// Parses the text of a state of either format.
pub fn parse(text: &str) -> Result<Vec<TfResource>, ParseError> {
    let doc: Value = serde_json::from_str(text).map_err(ParseError::Json)?;
    if let Some(format) = doc.get("format_version") {
        let format = format.as_str().unwrap_or_default();
        // Minor versions only add to the format (Terraform's compatibility promise).
        if format.split('.').next() != Some("1") {
            return Err(ParseError::Unsupported(format!(
                "format_version {format:?} of `terraform show -json` is not supported; this \
                 deployer reads format 1.x"
            )));
        }
        let mut found = Vec::new();
        if let Some(root) = doc.get("values").and_then(|v| v.get("root_module")) {
            walk_module(root, &mut found)?;
        }
        return Ok(found);
    }
    match doc.get("version").and_then(Value::as_u64) {
        Some(4) => raw_state(&doc),
        Some(other) => Err(ParseError::Unsupported(format!(
            "state version {other} is not supported; this deployer reads version 4 (Terraform \
             0.12 and later): run `terraform show -json` with the Terraform that wrote it"
        ))),
        None => Err(ParseError::Unsupported(
            "neither a `terraform show -json` document (no format_version) nor a \
             terraform.tfstate (no version)"
                .to_owned(),
        )),
    }
}

fn text_of(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A module of the JSON output format, and its child modules.
fn walk_module(module: &Value, found: &mut Vec<TfResource>) -> Result<(), ParseError> {
    for resource in module
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let address = text_of(resource, "address");
        if address.is_empty() {
            return Err(ParseError::Unsupported(
                "a resource in values.root_module has no address".to_owned(),
            ));
        }
        let config_address = match resource.get("index") {
            Some(_) => address
                .rsplit_once('[')
                .map_or(address.clone(), |(base, _)| base.to_owned()),
            None => address.clone(),
        };
        found.push(TfResource {
            address,
            config_address,
            mode: text_of(resource, "mode"),
            kind: text_of(resource, "type"),
            attributes: resource.get("values").cloned().unwrap_or(Value::Null),
        });
    }
    for child in module
        .get("child_modules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        walk_module(child, found)?;
    }
    Ok(())
}

/// The resources of a version 4 state file.
fn raw_state(doc: &Value) -> Result<Vec<TfResource>, ParseError> {
    let mut found = Vec::new();
    for resource in doc
        .get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mode = text_of(resource, "mode");
        let kind = text_of(resource, "type");
        let name = text_of(resource, "name");
        if kind.is_empty() || name.is_empty() {
            return Err(ParseError::Unsupported(
                "a resource in `resources` has no type or name".to_owned(),
            ));
        }
        let mut config_address = if mode == "data" {
            format!("data.{kind}.{name}")
        } else {
            format!("{kind}.{name}")
        };
        if let Some(module) = resource.get("module").and_then(Value::as_str) {
            config_address = format!("{module}.{config_address}");
        }
        for instance in resource
            .get("instances")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let address = match instance.get("index_key") {
                Some(Value::Number(n)) => format!("{config_address}[{n}]"),
                Some(Value::String(s)) => format!("{config_address}[{s:?}]"),
                _ => config_address.clone(),
            };
            found.push(TfResource {
                address,
                config_address: config_address.clone(),
                mode: mode.clone(),
                kind: kind.clone(),
                attributes: instance.get("attributes").cloned().unwrap_or(Value::Null),
            });
        }
    }
    Ok(found)
}

/// `removed.tf`: one `removed` block per resource (Terraform 1.7 and later), each with
/// `destroy = false`, so that the next `terraform apply` forgets them and deletes nothing.
pub fn removed_blocks(addresses: &[&str]) -> String {
    let mut out = String::from(
        "# Written by `deployer import`: Terraform forgets these resources without deleting\n\
         # them (Terraform 1.7 or later); deployer manages them from now on.\n",
    );
    for address in addresses {
        out.push_str(&format!(
            "\nremoved {{\n  from = {address}\n\n  lifecycle {{\n    destroy = false\n  }}\n}}\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn show_json_resources_come_from_the_root_and_child_modules() {
        let doc = json!({
            "format_version": "1.0",
            "terraform_version": "1.7.5",
            "values": {"root_module": {
                "resources": [
                    {"address": "aws_lb.main", "mode": "managed", "type": "aws_lb",
                     "name": "main", "values": {"name": "simhill-dev-alb"}},
                    {"address": "data.aws_vpc.default", "mode": "data", "type": "aws_vpc",
                     "name": "default", "values": {"id": "vpc-1"}}
                ],
                "child_modules": [{"address": "module.ecs", "resources": [
                    {"address": "module.ecs.aws_ecs_cluster.this[0]", "mode": "managed",
                     "type": "aws_ecs_cluster", "name": "this", "index": 0,
                     "values": {"name": "c"}}
                ]}]
            }}
        });
        let found = parse(&doc.to_string()).unwrap();
        let addresses: Vec<&str> = found.iter().map(|r| r.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "aws_lb.main",
                "data.aws_vpc.default",
                "module.ecs.aws_ecs_cluster.this[0]"
            ]
        );
        assert_eq!(found[2].config_address, "module.ecs.aws_ecs_cluster.this");
        assert_eq!(found[0].str("name"), "simhill-dev-alb");
        assert!(found[0].managed() && !found[1].managed());
    }

    #[test]
    fn raw_state_instances_get_their_addresses() {
        let doc = json!({
            "version": 4, "terraform_version": "1.7.5", "serial": 3, "lineage": "x",
            "resources": [
                {"mode": "managed", "type": "aws_ecs_service", "name": "main",
                 "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                 "instances": [{"schema_version": 1, "attributes": {"name": "svc",
                     "load_balancer": [{"container_port": 5000}]}}]},
                {"module": "module.net", "mode": "data", "type": "aws_subnets", "name": "all",
                 "instances": [{"index_key": "a", "attributes": {"ids": ["subnet-1"]}}]}
            ]
        });
        let found = parse(&doc.to_string()).unwrap();
        assert_eq!(found[0].address, "aws_ecs_service.main");
        assert_eq!(
            found[0].block("load_balancer").unwrap()["container_port"],
            5000
        );
        assert_eq!(found[1].address, "module.net.data.aws_subnets.all[\"a\"]");
        assert_eq!(found[1].config_address, "module.net.data.aws_subnets.all");
    }

    #[test]
    fn other_formats_and_versions_are_refused_with_what_is_read() {
        let refused = |doc: Value| match parse(&doc.to_string()) {
            Err(ParseError::Unsupported(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(refused(json!({"format_version": "2.0"})).contains("format 1.x"));
        assert!(refused(json!({"version": 3})).contains("version 4"));
        assert!(refused(json!({"resources": []})).contains("neither"));
        assert!(matches!(parse("not json"), Err(ParseError::Json(_))));
    }

    #[test]
    fn removed_blocks_keep_the_resources() {
        let text = removed_blocks(&["aws_lb.main", "module.ecs.aws_ecs_service.this"]);
        assert!(text.contains("removed {\n  from = aws_lb.main\n"));
        assert!(text.contains("from = module.ecs.aws_ecs_service.this"));
        assert_eq!(text.matches("destroy = false").count(), 2);
    }
}
