//! Any text into the policy compiler (HCL and JSON), and what compiles into ACL evaluation.

#![no_main]

use arbitrary::Arbitrary;
use caravan_core::acl::{Acl, Requirement, compile};
use caravan_core::host::Disposition;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    policies: Vec<String>,
    namespaces: Vec<String>,
}

const REQUIREMENTS: &[Requirement] = &[
    Requirement::Namespace(&["read-fs"]),
    Requirement::Namespace(&["read-logs", "read-fs"]),
    Requirement::Namespace(&["read-job"]),
    Requirement::Namespace(&["submit-job", "gc-allocation"]),
    Requirement::Namespace(&["alloc-lifecycle"]),
    Requirement::Namespace(&["alloc-exec"]),
    Requirement::NodeRead,
    Requirement::NodeWrite,
    Requirement::AgentRead,
];

fuzz_target!(|input: Input| {
    let mut compiled = Vec::new();
    for (i, text) in input.policies.iter().take(4).enumerate() {
        let name = format!("p{i}");
        let result = compile(&name, text);
        // Deterministic: the same text compiles to the same policy (or the same error).
        assert_eq!(result, compile(&name, text));
        match result {
            Ok(policy) => {
                assert_eq!(policy.name, name);
                for rule in &policy.namespaces {
                    assert!(!rule.pattern.is_empty() && rule.pattern.len() <= 128);
                }
                compiled.push(policy);
            }
            Err(message) => assert!(!message.is_empty()),
        }
    }
    let acl = Acl::from_policies(&compiled);
    let nothing = Acl::from_policies(&[]);
    let management = Acl::management();
    assert!(!acl.is_management());
    let namespaces = input
        .namespaces
        .iter()
        .take(4)
        .map(String::as_str)
        .chain(["default", ""]);
    for namespace in namespaces {
        for &requirement in REQUIREMENTS {
            let allowed = acl.allows(requirement, namespace);
            assert!(management.allows(requirement, namespace));
            assert!(!nothing.allows(requirement, namespace));
            // Node and agent rights are the most any policy grants.
            let most = |pick: fn(&caravan_core::host::CompiledPolicy) -> Option<Disposition>| {
                compiled.iter().filter_map(pick).max()
            };
            match requirement {
                Requirement::NodeRead => assert_eq!(
                    allowed,
                    most(|p| p.node).is_some_and(|d| d >= Disposition::Read)
                ),
                Requirement::NodeWrite => {
                    assert_eq!(allowed, most(|p| p.node) == Some(Disposition::Write))
                }
                Requirement::AgentRead => assert_eq!(
                    allowed,
                    most(|p| p.agent).is_some_and(|d| d >= Disposition::Read)
                ),
                Requirement::Namespace(any_of) => {
                    if allowed {
                        // Some policy granted one of the capabilities somewhere.
                        assert!(compiled.iter().any(|p| {
                            p.namespaces.iter().any(|r| {
                                r.capabilities.iter().any(|c| any_of.contains(&c.as_str()))
                            })
                        }));
                    }
                }
            }
        }
    }
});
