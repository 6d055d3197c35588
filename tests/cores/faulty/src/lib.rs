//! A core that misbehaves on request, so tests can prove the host survives it:
//! `/panic` panics, `/loop` never returns, `/grow` allocates without bound; `/leave?M` leaves
//! a marker derived from `M` in its static data, its heap and a freshly grown page, and
//! `/look?M` counts that marker's copies in its whole linear memory (1, its own needle, in a
//! fresh instance); every other path answers 200 `ok`. It implements the same world as the
//! real core.

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

    /// What `/leave` writes: at most 64 bytes the request does not contain as such.
    static mut LEFT: [u8; 64] = [0; 64];

    fn marker(query: &str) -> Vec<u8> {
        query.bytes().take(64).map(|b| b ^ 0x5a).collect()
    }

    fn text(body: &str) -> Action {
        Action::Respond(Response {
            status: 200,
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        })
    }

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
                "/leave" => {
                    let marker = marker(&req.query);
                    // SAFETY: one call at a time per instance; nothing else uses LEFT.
                    unsafe {
                        let left = &mut *core::ptr::addr_of_mut!(LEFT);
                        let n = marker.len().min(left.len());
                        left[..n].copy_from_slice(&marker[..n]);
                    }
                    std::mem::forget(marker.clone());
                    let page = core::arch::wasm32::memory_grow(0, 1);
                    if page != usize::MAX {
                        // SAFETY: the page was just added to this instance's memory.
                        unsafe {
                            let at = (page * 65_536) as *mut u8;
                            core::ptr::copy_nonoverlapping(marker.as_ptr(), at, marker.len());
                        }
                    }
                    text("left")
                }
                "/look" => {
                    let needle = marker(&req.query);
                    let size = core::arch::wasm32::memory_size(0) * 65_536;
                    // SAFETY: all of [16, size) is this instance's linear memory.
                    let memory = unsafe { core::slice::from_raw_parts(16 as *const u8, size - 16) };
                    let copies = memory
                        .windows(needle.len())
                        .filter(|w| *w == needle.as_slice())
                        .count();
                    text(&copies.to_string())
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
