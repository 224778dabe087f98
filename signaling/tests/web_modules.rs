//! The call page's modules are all served: from `/join`, every module it
//! loads and every module those import (and the hashing worker exchange.js
//! starts) answers 200 with a JavaScript type, under a policy that lets the
//! viewer show a shared image or PDF from a `blob:` URL, and nothing more:
//! scripts and connections stay on this origin.

mod common;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::server::*;
use tower::ServiceExt;

/// The paths of the modules `source` names: `from "/x.js"`, `src="/x.js"`
/// and `new URL("./x.js", import.meta.url)`.
fn referenced(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (open, prefix) in [("from \"/", "/"), ("src=\"/", "/"), ("new URL(\"./", "/")] {
        for part in source.split(open).skip(1) {
            if let Some(name) = part.split('"').next()
                && name.ends_with(".js")
            {
                out.push(format!("{prefix}{name}"));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_module_of_the_call_page_is_served_under_the_policy() {
    let server = TestServer::start().await;
    let get = |path: String| {
        let app = server.app();
        async move {
            let res = app
                .oneshot(Request::get(&path).body(Body::empty()).expect("request"))
                .await
                .expect("infallible");
            let status = res.status();
            let h = res.headers().clone();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX)
                .await
                .expect("body");
            (status, h, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let (status, h, html) = get("/join".into()).await;
    assert_eq!(status, StatusCode::OK);
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().expect("ascii");
    for directive in [
        "img-src 'self' data: blob:",
        "frame-src 'self' blob:",
        "script-src 'self';",
        "connect-src 'self';",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    let mut todo = referenced(&html);
    let mut seen = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (status, h, source) = get(path.clone()).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(
            h[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8",
            "{path}"
        );
        todo.extend(referenced(&source));
    }
    for module in [
        "/app.js",
        "/sharing.js",
        "/exchange.js",
        "/viewer.js",
        "/hash-worker.js",
        "/i18n.js",
    ] {
        assert!(seen.contains(module), "{module} among {seen:?}");
    }
}
