//! `caravan node status|meta` and `caravan system gc`: Nomad's `nomad node …` commands and
//! the client's garbage collection, against the agent at `NOMAD_ADDR`.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde_json::{Map, Value, json};

use super::api::{Api, encode, with_query};
use super::flags::WrongArguments;
use super::flags::{Flag, Kind, Parsed};
use super::output;
use super::{Command, Usage};

/// A parsed `caravan node …` or `caravan system gc`.
#[derive(Debug, PartialEq, Eq)]
pub enum Node {
    /// `node status`.
    Status(Status),
    /// `node meta read`.
    MetaRead {
        /// `-node-id`; `None`: the agent's own node.
        node_id: Option<String>,
        /// `-json`: print the agent's answer as JSON.
        json: bool,
    },
    /// `node meta apply KEY=VALUE… [-unset KEY…]`.
    MetaApply {
        /// `-node-id`; `None`: the agent's own node.
        node_id: Option<String>,
        /// The keys to set, or (`None`) to unset.
        set: BTreeMap<String, Option<String>>,
    },
    /// `system gc`.
    Gc {
        /// `-node-id`; `None`: the agent's own node.
        node_id: Option<String>,
    },
}

/// A parsed `node status`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// A node id (or a unique prefix); `None`: list the nodes.
    pub node: Option<String>,
    /// `-self`: the agent's own node.
    pub this: bool,
    /// `-stats`: with host usage.
    pub stats: bool,
    /// `-json`: print JSON (with `-stats`, the node and its statistics).
    pub json: bool,
    /// `-verbose`: full ids.
    pub verbose: bool,
}

const NODE_ID: Flag = Flag {
    name: "node-id",
    kind: Kind::Value("id"),
    help: "The node to ask (default: the agent's own)",
};

/// `caravan node status`: usage, help and flags.
pub const STATUS: Usage = Usage {
    usage: "caravan node status [options] [<node>]",
    about: "List the nodes, or show one (by id prefix, or -self) with its allocations.",
    flags: &[
        Flag {
            name: "self",
            kind: Kind::Bool,
            help: "Show the node of the agent at NOMAD_ADDR",
        },
        Flag {
            name: "stats",
            kind: Kind::Bool,
            help: "Also show the node's CPU, memory and disk statistics",
        },
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print JSON: the list, or the node ({\"Node\",\"Stats\"} with -stats)",
        },
        Flag {
            name: "verbose",
            kind: Kind::Bool,
            help: "Show full ids",
        },
    ],
};

/// `caravan node meta read`: usage, help and flags.
pub const META_READ: Usage = Usage {
    usage: "caravan node meta read [options]",
    about: "Print a client's metadata: all of it, the dynamic part (set by `apply`) and the\n\
            static part (from the agent's configuration).",
    flags: &[
        NODE_ID,
        Flag {
            name: "json",
            kind: Kind::Bool,
            help: "Print the agent's answer as JSON",
        },
    ],
};

/// `caravan node meta apply`: usage, help and flags.
pub const META_APPLY: Usage = Usage {
    usage: "caravan node meta apply [options] key1=value1 ... kN=vN",
    about: "Set (and unset) a client's dynamic metadata.",
    flags: &[
        NODE_ID,
        Flag {
            name: "unset",
            kind: Kind::Repeated("k1,k2"),
            help: "Unset these keys (comma-separated; repeatable)",
        },
    ],
};

/// `caravan system gc`: usage, help and flags.
pub const SYSTEM_GC: Usage = Usage {
    usage: "caravan system gc [options]",
    about: "Garbage-collect every finished allocation on a client (/v1/client/gc).",
    flags: &[NODE_ID],
};

/// `node status`'s command.
pub fn build_status(parsed: &Parsed) -> Result<Command> {
    let node = match parsed.free() {
        [] => None,
        [node] => Some(node.clone()),
        _ => return Err(WrongArguments.into()),
    };
    let this = parsed.bool("self")?;
    if this && node.is_some() {
        bail!("-self and a node id exclude each other");
    }
    Ok(Command::Node(Node::Status(Status {
        node,
        this,
        stats: parsed.bool("stats")?,
        json: parsed.bool("json")?,
        verbose: parsed.bool("verbose")?,
    })))
}

/// `node meta read`'s command.
pub fn build_meta_read(parsed: &Parsed) -> Result<Command> {
    if !parsed.free().is_empty() {
        return Err(WrongArguments.into());
    }
    Ok(Command::Node(Node::MetaRead {
        node_id: parsed.value("node-id"),
        json: parsed.bool("json")?,
    }))
}

/// `node meta apply`'s command.
pub fn build_meta_apply(parsed: &Parsed) -> Result<Command> {
    let mut set = BTreeMap::new();
    for pair in parsed.free() {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("{pair:?} is not key=value");
        };
        set.insert(key.to_string(), Some(value.to_string()));
    }
    for list in parsed.values("unset") {
        for key in list.split(',').map(str::trim).filter(|k| !k.is_empty()) {
            set.insert(key.to_string(), None);
        }
    }
    if set.is_empty() {
        bail!("nothing to apply: give key=value pairs or -unset");
    }
    Ok(Command::Node(Node::MetaApply {
        node_id: parsed.value("node-id"),
        set,
    }))
}

/// `system gc`'s command.
pub fn build_system_gc(parsed: &Parsed) -> Result<Command> {
    if !parsed.free().is_empty() {
        return Err(WrongArguments.into());
    }
    Ok(Command::Node(Node::Gc {
        node_id: parsed.value("node-id"),
    }))
}

fn node_query(path: &str, node_id: &Option<String>) -> String {
    match node_id {
        Some(id) => with_query(path, &[("node_id", id.clone())]),
        None => path.to_string(),
    }
}

/// Run a parsed `caravan node …` / `caravan system gc`.
pub fn run(command: Node, target: &super::Target) -> Result<()> {
    let api = Api::new(target)?;
    match command {
        Node::Status(status) => run_status(&api, &status),
        Node::MetaRead { node_id, json } => {
            let meta = api.get_json(&node_query("/v1/client/metadata", &node_id))?;
            if json {
                output::print(&output::json(&meta))
            } else {
                output::print(&format_meta(&meta))
            }
        }
        Node::MetaApply { node_id, set } => {
            let meta: Map<String, Value> = set
                .into_iter()
                .map(|(k, v)| (k, v.map_or(Value::Null, Value::String)))
                .collect();
            let body = json!({"NodeID": node_id.clone().unwrap_or_default(), "Meta": meta});
            api.post_json(&node_query("/v1/client/metadata", &node_id), &body)?;
            Ok(())
        }
        Node::Gc { node_id } => {
            api.call("GET", &node_query("/v1/client/gc", &node_id), "")?;
            output::print("Garbage collected the client's finished allocations\n")
        }
    }
}

/// `node meta read`'s text: `All Meta`, `Dynamic Meta`, `Static Meta`, keys sorted.
pub fn format_meta(meta: &Value) -> String {
    let section = |title: &str, map: &Value| {
        let mut pairs: Vec<(String, String)> = map
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::Null => "<unset>".to_string(),
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        pairs.sort();
        let body = if pairs.is_empty() {
            "<none>\n".to_string()
        } else {
            output::key_values(&pairs)
        };
        format!("{title}\n{body}")
    };
    [
        section("All Meta", &meta["Meta"]),
        section("Dynamic Meta", &meta["Dynamic"]),
        section("Static Meta", &meta["Static"]),
    ]
    .join("\n")
}

/// The node `prefix` names among `nodes`, or the agent's own (`host` is `NOMAD_ADDR`'s).
fn pick_node<'a>(nodes: &'a [Value], prefix: Option<&str>, host: &str) -> Result<&'a Value> {
    let matches: Vec<&Value> = match prefix {
        Some(prefix) => nodes
            .iter()
            .filter(|n| n["ID"].as_str().is_some_and(|id| id.starts_with(prefix)))
            .collect(),
        // The agent's own node advertises the address we reach it at; a lone node is it.
        None => match nodes
            .iter()
            .filter(|n| n["HTTPAddr"].as_str() == Some(host))
            .collect::<Vec<_>>()
        {
            found if !found.is_empty() => found,
            _ if nodes.len() == 1 => nodes.iter().collect(),
            _ => bail!(
                "cannot tell which node is the agent at {host}; give its id (caravan node status <node>)"
            ),
        },
    };
    match matches.as_slice() {
        [one] => Ok(one),
        [] => bail!("No node(s) with prefix {:?} found", prefix.unwrap_or("")),
        many => {
            let mut rows = vec![node_header()];
            rows.extend(many.iter().map(|n| node_row(n, false)));
            bail!(
                "Prefix matched multiple nodes\n\n{}",
                output::table(&rows).trim_end()
            )
        }
    }
}

fn node_header() -> Vec<String> {
    [
        "ID",
        "Node Pool",
        "DC",
        "Name",
        "Class",
        "Drain",
        "Eligibility",
        "Status",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}

fn node_row(node: &Value, verbose: bool) -> Vec<String> {
    vec![
        output::short(node["ID"].as_str().unwrap_or(""), verbose),
        output::cell(&node["NodePool"]),
        output::cell(&node["Datacenter"]),
        output::cell(&node["Name"]),
        output::cell(&node["NodeClass"]),
        output::cell(&node["Drain"]),
        output::cell(&node["SchedulingEligibility"]),
        output::cell(&node["Status"]),
    ]
}

/// `node status`'s list.
pub fn format_nodes(nodes: &[Value], verbose: bool) -> String {
    if nodes.is_empty() {
        return "No nodes registered\n".into();
    }
    let mut rows = vec![node_header()];
    rows.extend(nodes.iter().map(|n| node_row(n, verbose)));
    output::table(&rows)
}

fn run_status(api: &Api, status: &Status) -> Result<()> {
    let list = api.get_json("/v1/nodes")?;
    let nodes = list.as_array().cloned().unwrap_or_default();
    if status.node.is_none() && !status.this && !status.stats {
        return if status.json {
            output::print(&output::json(&list))
        } else {
            output::print(&format_nodes(&nodes, status.verbose))
        };
    }
    let host = api.host().to_string();
    let stub = pick_node(&nodes, status.node.as_deref(), &host)?;
    let id = stub["ID"].as_str().unwrap_or_default().to_string();
    let node = api.get_json(&format!("/v1/node/{}", encode(&id)))?;
    let stats_path = with_query("/v1/client/stats", &[("node_id", id.clone())]);
    // Without -stats, utilisation is shown if the client answers; with it, it must.
    let stats = if status.stats {
        Some(api.get_json(&stats_path)?)
    } else if status.json {
        None
    } else {
        api.get_json(&stats_path).ok()
    };
    if status.json {
        let value = match stats {
            Some(stats) => json!({"Node": node, "Stats": stats}),
            None => node,
        };
        return output::print(&output::json(&value));
    }
    let allocs = api
        .get_json("/v1/allocations?namespace=*")?
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["NodeID"].as_str() == Some(id.as_str()))
        .collect::<Vec<_>>();
    output::print(&format_node(
        &node,
        stats.as_ref(),
        status.stats,
        &allocs,
        status.verbose,
    ))
}

/// `node status <node>`'s text.
pub fn format_node(
    node: &Value,
    stats: Option<&Value>,
    detailed: bool,
    allocs: &[Value],
    verbose: bool,
) -> String {
    let mut pairs = vec![
        ("ID", output::cell(&node["ID"])),
        ("Name", output::cell(&node["Name"])),
        ("Node Pool", output::cell(&node["NodePool"])),
        ("Class", output::cell(&node["NodeClass"])),
        ("DC", output::cell(&node["Datacenter"])),
        ("Drain", output::cell(&node["Drain"])),
        ("Eligibility", output::cell(&node["SchedulingEligibility"])),
        ("Status", output::cell(&node["Status"])),
        ("HTTP Addr", output::cell(&node["HTTPAddr"])),
        (
            "Version",
            output::cell(&node["Attributes"]["nomad.version"]),
        ),
    ];
    if let Some(uptime) = stats.and_then(|s| s["Uptime"].as_u64()) {
        pairs.push(("Uptime", output::duration(uptime)));
    }
    let mut out = output::key_values(&pairs);
    if let Some(stats) = stats {
        let memory = &stats["Memory"];
        let disk = &stats["AllocDirStats"];
        out.push_str("\nHost Resource Utilization\n");
        out.push_str(&output::table(&[
            vec!["CPU".to_string(), "Memory Used".into(), "Disk Used".into()],
            vec![
                format!(
                    "{:.0} MHz",
                    stats["CPUTicksConsumed"].as_f64().unwrap_or(0.0)
                ),
                format!(
                    "{}/{}",
                    output::bytes(memory["Used"].as_u64().unwrap_or(0)),
                    output::bytes(memory["Total"].as_u64().unwrap_or(0))
                ),
                format!(
                    "{}/{}",
                    output::bytes(disk["Used"].as_u64().unwrap_or(0)),
                    output::bytes(disk["Size"].as_u64().unwrap_or(0))
                ),
            ],
        ]));
        if detailed {
            out.push_str("\nCPU Stats\n");
            let mut rows = vec![
                ["CPU", "User", "System", "Idle", "Total"]
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>(),
            ];
            for cpu in stats["CPU"].as_array().into_iter().flatten() {
                let pct = |k: &str| format!("{:.2}%", cpu[k].as_f64().unwrap_or(0.0));
                rows.push(vec![
                    output::cell(&cpu["CPU"]),
                    pct("User"),
                    pct("System"),
                    pct("Idle"),
                    pct("TotalPercent"),
                ]);
            }
            out.push_str(&output::table(&rows));
            out.push_str("\nMemory Stats\n");
            let b = |k: &str| output::bytes(memory[k].as_u64().unwrap_or(0));
            out.push_str(&output::table(&[
                vec![
                    "Total".to_string(),
                    "Available".into(),
                    "Used".into(),
                    "Free".into(),
                ],
                vec![b("Total"), b("Available"), b("Used"), b("Free")],
            ]));
            out.push_str("\nDisk Stats\n");
            let mut rows = vec![
                [
                    "Device",
                    "Mountpoint",
                    "Size",
                    "Used",
                    "Available",
                    "Used %",
                ]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
            ];
            for d in stats["DiskStats"].as_array().into_iter().flatten() {
                let b = |k: &str| output::bytes(d[k].as_u64().unwrap_or(0));
                rows.push(vec![
                    output::cell(&d["Device"]),
                    output::cell(&d["Mountpoint"]),
                    b("Size"),
                    b("Used"),
                    b("Available"),
                    format!("{:.2}%", d["UsedPercent"].as_f64().unwrap_or(0.0)),
                ]);
            }
            out.push_str(&output::table(&rows));
        }
    }
    out.push_str("\nAllocations\n");
    if allocs.is_empty() {
        out.push_str("No allocations placed\n");
    } else {
        let mut rows = vec![
            ["ID", "Job ID", "Task Group", "Desired", "Status"]
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>(),
        ];
        for a in allocs {
            rows.push(vec![
                output::short(a["ID"].as_str().unwrap_or(""), verbose),
                output::cell(&a["JobID"]),
                output::cell(&a["TaskGroup"]),
                output::cell(&a["DesiredStatus"]),
                output::cell(&a["ClientStatus"]),
            ]);
        }
        out.push_str(&output::table(&rows));
    }
    out
}

#[cfg(test)]
mod tests;
