//! A core that misbehaves on request, so tests can prove the host survives it:
//! `/panic` panics, `/loop` never returns, `/grow` allocates without bound; every other
//! path answers 200 `ok`. It implements the same world as the real core.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        world: "core",
        path: "../../../wit",
    });

    use caravan::client::log;
    use caravan::client::policy::CompiledPolicy;
    use exports::caravan::client::handler::{
        Action, Guest, GuestBodyStream, Request, Response, Step,
    };

    struct Faulty;

    export!(Faulty);

    /// The faulty core never streams; the type exists because the world exports it.
    struct NoStream;

    impl GuestBodyStream for NoStream {
        fn next(&self, _now_ms: u64) -> Step {
            Step::End
        }
    }

    impl Guest for Faulty {
        type BodyStream = NoStream;

        fn handle(req: Request) -> Action {
            std::panic::set_hook(Box::new(|info| {
                log::write(log::Level::Error, &format!("core panicked: {info}"));
            }));
            match req.path.as_str() {
                "/panic" => panic!("deliberate panic for {}", req.path),
                "/loop" => loop {
                    std::hint::spin_loop();
                },
                "/grow" => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1; 1 << 20]);
                    }
                }
                _ => Action::Respond(Response {
                    status: 200,
                    headers: Vec::new(),
                    body: b"ok".to_vec(),
                }),
            }
        }

        fn version() -> String {
            "faulty/0".into()
        }

        fn compile_policy(_name: String, _text: String) -> Result<CompiledPolicy, String> {
            Err("the faulty core compiles no policies".into())
        }
    }
}
