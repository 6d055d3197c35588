//! A core that traps while it is being instantiated, before any request: it exports
//! `_initialize`, which `wit-component` makes the component run at instantiation, and that
//! function traps. A swap to it must be rejected with the old core still serving.
//!
//! It is a crate of its own, not a feature of the faulty core: cargo unifies a package's
//! features within one build, and `host/build.rs` builds every test core in one cargo run.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "core",
        path: "../../../wit",
    });

    use caravan::client::policy::CompiledPolicy;
    use exports::caravan::client::handler::{
        Action, Guest, GuestBodyStream, Request, Response, Step,
    };

    struct StartTrap;

    export!(StartTrap);

    /// Never reached; the type exists because the world exports it.
    struct NoStream;

    impl GuestBodyStream for NoStream {
        fn next(&self, _now_ms: u64) -> Step {
            Step::End
        }
    }

    impl Guest for StartTrap {
        type BodyStream = NoStream;

        fn compile_policy(_name: String, _text: String) -> Result<CompiledPolicy, String> {
            Err("never reached".into())
        }

        fn handle(_req: Request) -> Action {
            Action::Respond(Response {
                status: 200,
                headers: Vec::new(),
                body: b"never reached".to_vec(),
            })
        }

        fn version() -> String {
            "start-trap/0".into()
        }
    }

    /// Run by the component at instantiation; traps at once.
    #[unsafe(no_mangle)]
    extern "C" fn _initialize() {
        core::arch::wasm32::unreachable()
    }
}
