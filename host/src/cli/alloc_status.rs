//! `caravan alloc status`'s layout: Nomad's `Key = Value` summary, task states, and with
//! `-stats` the task resource tables.

use serde_json::Value;

use super::output;

/// `alloc status`'s text, from `/v1/allocation/:id` (and its stats).
pub fn format_status(alloc: &Value, stats: Option<&Value>, verbose: bool) -> String {
    let node_id = alloc["NodeID"].as_str().unwrap_or("");
    let mut out = output::key_values(&[
        ("ID", output::cell(&alloc["ID"])),
        ("Name", output::cell(&alloc["Name"])),
        ("Node ID", output::short(node_id, verbose)),
        ("Node Name", output::cell(&alloc["NodeName"])),
        ("Job ID", output::cell(&alloc["JobID"])),
        ("Namespace", output::cell(&alloc["Namespace"])),
        ("Task Group", output::cell(&alloc["TaskGroup"])),
        ("Client Status", output::cell(&alloc["ClientStatus"])),
        ("Desired Status", output::cell(&alloc["DesiredStatus"])),
    ]);
    let mut tasks: Vec<(&String, &Value)> = alloc["TaskStates"]
        .as_object()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    tasks.sort_by(|a, b| a.0.cmp(b.0));
    for (name, state) in tasks {
        out.push_str(&format!(
            "\nTask {name:?} is {:?}\n",
            state["State"].as_str().unwrap_or("unknown")
        ));
        let when = |key: &str| {
            state[key]
                .as_str()
                .map(output::time)
                .unwrap_or_else(|| "N/A".into())
        };
        out.push_str(&output::key_values(&[
            ("Started At", when("StartedAt")),
            ("Finished At", when("FinishedAt")),
            ("Total Restarts", output::cell(&state["Restarts"])),
            ("Failed", output::cell(&state["Failed"])),
        ]));
        if let Some(stats) = stats {
            out.push_str(&format_task_stats(&stats["Tasks"][name.as_str()]));
        }
    }
    out
}

fn format_task_stats(task: &Value) -> String {
    let usage = &task["ResourceUsage"];
    if usage.is_null() {
        return "\nTask Resources:\n<no sample yet>\n".into();
    }
    let memory = &usage["MemoryStats"];
    let cpu = &usage["CpuStats"];
    let bytes = |key: &str| output::bytes(memory[key].as_u64().unwrap_or(0));
    let float = |key: &str| format!("{:.2}", cpu[key].as_f64().unwrap_or(0.0));
    // As Nomad: the memory figure is RSS, or Usage where RSS is not measured.
    let rss = memory["RSS"].as_u64().unwrap_or(0);
    let used = if rss > 0 {
        rss
    } else {
        memory["Usage"].as_u64().unwrap_or(0)
    };
    let mut out = String::from("\nTask Resources:\n");
    out.push_str(&output::table(&[
        vec!["CPU".to_string(), "Memory".into()],
        vec![
            format!("{:.0} MHz", cpu["TotalTicks"].as_f64().unwrap_or(0.0)),
            output::bytes(used),
        ],
    ]));
    out.push_str("\nMemory Stats\n");
    out.push_str(&output::table(&[
        vec!["Cache", "Max Usage", "RSS", "Swap", "Usage"]
            .into_iter()
            .map(String::from)
            .collect(),
        vec![
            bytes("Cache"),
            bytes("MaxUsage"),
            bytes("RSS"),
            bytes("Swap"),
            bytes("Usage"),
        ],
    ]));
    out.push_str("\nCPU Stats\n");
    out.push_str(&output::table(&[
        vec![
            "Percent",
            "System Mode",
            "User Mode",
            "Total Ticks",
            "Throttled Periods",
            "Throttled Time",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        vec![
            format!("{}%", float("Percent")),
            format!("{}%", float("SystemMode")),
            format!("{}%", float("UserMode")),
            float("TotalTicks"),
            output::cell(&cpu["ThrottledPeriods"]),
            output::cell(&cpu["ThrottledTime"]),
        ],
    ]));
    out
}
