use super::*;
use crate::host::Timestamp;

fn task(name: &str, pids: &[(u32, u64, f64)], at: i64) -> TaskUsage {
    TaskUsage {
        task: name.into(),
        processes: pids
            .iter()
            .map(|&(pid, rss, cpu)| ProcessUsage {
                pid,
                rss,
                swap: 0,
                cpu_percent: cpu,
                user_mode: cpu,
                system_mode: 0.0,
                total_ticks: cpu * 10.0,
            })
            .collect(),
        taken_at: Timestamp {
            seconds: at,
            nanoseconds: 0,
        },
    }
}

#[test]
fn allocation_usage_sums_tasks_and_processes() {
    let tasks = [
        task("web", &[(10, 100, 50.0), (11, 20, 25.0)], 5),
        task("db", &[(12, 1, 1.0)], 7),
    ];
    let body = allocation_body(&tasks, None);
    assert_eq!(body["ResourceUsage"]["MemoryStats"]["RSS"], 121);
    assert_eq!(body["ResourceUsage"]["CpuStats"]["Percent"], 76.0);
    assert_eq!(body["Timestamp"], 7_000_000_000i64);
    assert_eq!(body["Tasks"]["web"]["Pids"]["11"]["MemoryStats"]["RSS"], 20);
    assert_eq!(
        body["ResourceUsage"]["MemoryStats"]["Measured"],
        json!(["RSS", "Swap"])
    );
}

#[test]
fn unknown_task_gives_zero_aggregate_and_empty_tasks() {
    let body = allocation_body(&[task("web", &[(10, 100, 50.0)], 5)], Some("nope"));
    assert_eq!(body["Tasks"], json!({}));
    assert_eq!(
        body["ResourceUsage"]["MemoryStats"]["Measured"],
        Value::Null
    );
    assert_eq!(body["Timestamp"], 0);
    assert_eq!(
            crate::wire::json::to_vec(&body["ResourceUsage"]["CpuStats"], false),
            br#"{"Measured":null,"Percent":0.0,"SystemMode":0.0,"ThrottledPeriods":0,"ThrottledTime":0,"TotalTicks":0.0,"UserMode":0.0}"#
        );
}
