//! A task's environment: the agent's own (raw_exec tasks inherit the host's) without
//! Nomad's denylist, then Nomad's `NOMAD_*` variables, then the task's `Env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::layout;
use super::spec::AllocSpec;

/// Variables of the agent's environment never passed to tasks (Nomad's default
/// `env.denylist`): the agent's credentials are not the task's.
const ENV_DENYLIST: [&str; 15] = [
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_HTTP_TOKEN_FILE",
    "NOMAD_TOKEN",
    "VAULT_TOKEN",
    "CONSUL_LICENSE",
    "NOMAD_LICENSE",
    "VAULT_LICENSE",
    "CONSUL_LICENSE_PATH",
    "NOMAD_LICENSE_PATH",
    "VAULT_LICENSE_PATH",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// The agent's environment without [`ENV_DENYLIST`] (and without variables that are not
/// UTF-8): what every task starts from.
pub(super) fn base_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| !ENV_DENYLIST.contains(&k.as_str()))
        .collect()
}

/// The environment of task `index` of `spec`, whose allocation lives in `alloc_dir`.
pub(super) fn task_env(
    base: &BTreeMap<String, String>,
    alloc_dir: &Path,
    spec: &AllocSpec,
    index: usize,
) -> BTreeMap<String, String> {
    let task = &spec.tasks[index];
    let task_dir = layout::task_dir(alloc_dir, &task.name);
    let path = |p: PathBuf| p.to_string_lossy().into_owned();
    let mut env = base.clone();
    let nomad = [
        ("NOMAD_ALLOC_DIR", path(layout::shared_dir(alloc_dir))),
        ("NOMAD_TASK_DIR", path(layout::local_dir(&task_dir))),
        ("NOMAD_SECRETS_DIR", path(layout::secrets_dir(&task_dir))),
        ("NOMAD_ALLOC_ID", spec.id.clone()),
        ("NOMAD_SHORT_ALLOC_ID", spec.id.chars().take(8).collect()),
        (
            "NOMAD_ALLOC_NAME",
            format!("{}.{}[0]", spec.job_id, spec.task_group),
        ),
        ("NOMAD_ALLOC_INDEX", "0".into()),
        ("NOMAD_TASK_NAME", task.name.clone()),
        ("NOMAD_GROUP_NAME", spec.task_group.clone()),
        ("NOMAD_JOB_ID", spec.job_id.clone()),
        ("NOMAD_JOB_NAME", spec.job_id.clone()),
        ("NOMAD_NAMESPACE", spec.namespace.clone()),
        ("NOMAD_REGION", "global".into()),
        ("NOMAD_DC", "dc1".into()),
    ];
    env.extend(nomad.into_iter().map(|(k, v)| (k.to_owned(), v)));
    env.extend(task.env.clone());
    env
}

/// The variables that mark a process as a run of one task of one allocation: how the
/// leftovers of a run are told apart from unrelated processes.
pub(super) fn run_markers(spec: &AllocSpec, index: usize) -> [(&'static str, &str); 2] {
    [
        ("NOMAD_ALLOC_ID", spec.id.as_str()),
        ("NOMAD_TASK_NAME", spec.tasks[index].name.as_str()),
    ]
}
