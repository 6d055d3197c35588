use super::*;
use crate::fake::Fake;
use crate::http::Action;

fn get(host: &Fake, method: &str, path: &str) -> crate::http::Response {
    let req = Request {
        method: method.into(),
        path: path.into(),
        ..Default::default()
    };
    match crate::handle(host, &req) {
        Action::Respond(response) => response,
        other => panic!("{other:?}"),
    }
}

#[test]
fn index_and_assets_carry_the_policy_and_their_type() {
    let host = Fake::default();
    let index = get(&host, "GET", "/ui/");
    assert_eq!(index.status, 200);
    assert_eq!(index.header("content-type"), Some(HTML));
    assert_eq!(
        index.header("content-security-policy"),
        Some(CONTENT_SECURITY_POLICY)
    );
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    assert!(index.header("access-control-allow-origin").is_none());
    let script = get(&host, "GET", "/ui/app.js");
    assert_eq!(script.header("content-type"), Some(JS));
    assert_eq!(get(&host, "GET", "/ui/nope.js").status, 404);
    assert_eq!(get(&host, "POST", "/ui/").status, 405);
    let bare = get(&host, "GET", "/ui");
    assert_eq!((bare.status, bare.header("location")), (301, Some("/ui/")));
}

#[test]
fn the_root_goes_to_the_ui_as_nomads_does() {
    let host = Fake::default();
    for ui in [true, false] {
        host.roles.borrow_mut().ui = ui;
        let root = get(&host, "GET", "/");
        assert_eq!((root.status, root.header("location")), (307, Some("/ui/")));
        assert_eq!(root.header("content-type"), Some(HTML));
        assert_eq!(root.body, b"<a href=\"/ui/\">Temporary Redirect</a>.\n\n");
    }
    let post = get(&host, "POST", "/");
    assert_eq!((post.status, post.header("location")), (307, Some("/ui/")));
    assert!(post.header("content-type").is_none() && post.body.is_empty());
    let req = Request {
        method: "GET".into(),
        path: "/".into(),
        query: "a=1&b=\u{e9}".into(),
        ..Default::default()
    };
    let Action::Respond(query) = crate::handle(&host, &req) else {
        panic!("not a response");
    };
    assert_eq!(query.header("location"), Some("/ui/?a=1&b=%c3%a9"));
    assert_eq!(
        query.body,
        b"<a href=\"/ui/?a=1&amp;b=%c3%a9\">Temporary Redirect</a>.\n\n"
    );
    // No host may smuggle a line break into the header (the fuzzer's find).
    let req = Request {
        query: "a\r\nSet-Cookie: x=1\x7f".into(),
        ..req
    };
    let Action::Respond(query) = crate::handle(&host, &req) else {
        panic!("not a response");
    };
    assert_eq!(
        query.header("location"),
        Some("/ui/?a%0d%0aSet-Cookie: x=1%7f")
    );
}

#[test]
fn a_disabled_ui_is_404_everywhere() {
    let host = Fake::default();
    host.roles.borrow_mut().ui = false;
    for path in ["/ui/", "/ui", "/ui/app.js"] {
        let response = get(&host, "GET", path);
        assert_eq!(response.status, 404, "{path}");
        assert_eq!(response.body, DISABLED.as_bytes());
    }
}

#[test]
fn the_page_has_no_inline_script_or_style_and_names_only_embedded_files() {
    for asset in ASSETS {
        let text = std::str::from_utf8(asset.body).unwrap();
        for banned in [
            "<script>",
            "style=",
            "<style",
            "innerHTML",
            "eval(",
            "http://",
            "https://",
        ] {
            // SVG's namespace URI is not a fetch.
            if asset.name == "favicon.svg" && banned == "http://" {
                continue;
            }
            assert!(!text.contains(banned), "{} contains {banned}", asset.name);
        }
    }
    let index = std::str::from_utf8(ASSETS[0].body).unwrap();
    for reference in index
        .split("src=\"")
        .skip(1)
        .chain(index.split("href=\"").skip(1))
    {
        let name = &reference[..reference.find('"').unwrap()];
        if let Some(name) = name.strip_prefix("/ui/") {
            assert!(ASSETS.iter().any(|a| a.name == name), "{name}");
        }
    }
    for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
        let text = std::str::from_utf8(asset.body).unwrap();
        for import in text.split("from './").skip(1) {
            let name = &import[..import.find('\'').unwrap()];
            assert!(
                ASSETS.iter().any(|a| a.name == name),
                "{name} in {}",
                asset.name
            );
        }
    }
}

fn get_with(host: &Fake, path: &str, headers: &[(&str, &str)]) -> crate::http::Response {
    let req = Request {
        method: "GET".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    match crate::handle(host, &req) {
        Action::Respond(response) => response,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_page_names_versioned_files_cached_for_good_and_revalidates_itself() {
    let host = Fake::default();
    let index = get(&host, "GET", "/ui/");
    assert_eq!(index.header("cache-control"), Some(REVALIDATE));
    let text = String::from_utf8(index.body.clone()).unwrap();
    let script = format!("/ui/{}/app.js", version());
    assert!(text.contains(&format!("src=\"{script}\"")), "{text}");
    let app = get(&host, "GET", &script);
    assert_eq!(app.status, 200);
    assert_eq!(app.header("cache-control"), Some(IMMUTABLE));
    assert_eq!(app.body, get(&host, "GET", "/ui/app.js").body);
    // Another version's names are not this UI's.
    assert_eq!(get(&host, "GET", "/ui/0123456789ab/app.js").status, 404);

    // The page and every file carry an ETag; asking with it again is a 304 without a body.
    for path in ["/ui/", script.as_str(), "/ui/style.css"] {
        let first = get(&host, "GET", path);
        let etag = first.header("etag").unwrap().to_string();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
        for asked in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"x\", {etag}"),
            "*".into(),
        ] {
            let again = get_with(&host, path, &[("if-none-match", &asked)]);
            assert_eq!((again.status, again.body.len()), (304, 0), "{path} {asked}");
            assert_eq!(again.header("etag"), Some(etag.as_str()));
        }
        let other = get_with(&host, path, &[("if-none-match", "\"stale\"")]);
        assert_eq!((other.status, other.body), (200, first.body));
    }
}
