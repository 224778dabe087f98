//! The browser app, embedded in the binary so one file runs everything.

use axum::http::header;
use axum::response::IntoResponse;

macro_rules! asset {
    ($name:ident, $file:literal, $mime:literal) => {
        pub async fn $name() -> impl IntoResponse {
            (
                [
                    (header::CONTENT_TYPE, $mime),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                include_str!(concat!("../../web-client/", $file)),
            )
        }
    };
}

asset!(index, "index.html", "text/html; charset=utf-8");
asset!(join, "join.html", "text/html; charset=utf-8");
asset!(app_js, "app.js", "text/javascript; charset=utf-8");
asset!(i18n_js, "i18n.js", "text/javascript; charset=utf-8");
asset!(precall_js, "precall.js", "text/javascript; charset=utf-8");
asset!(quality_js, "quality.js", "text/javascript; charset=utf-8");
asset!(exchange_js, "exchange.js", "text/javascript; charset=utf-8");
asset!(sharing_js, "sharing.js", "text/javascript; charset=utf-8");
asset!(viewer_js, "viewer.js", "text/javascript; charset=utf-8");
asset!(
    hash_worker_js,
    "hash-worker.js",
    "text/javascript; charset=utf-8"
);
asset!(style, "style.css", "text/css; charset=utf-8");
asset!(pro, "pro.html", "text/html; charset=utf-8");
asset!(pro_js, "pro.js", "text/javascript; charset=utf-8");
asset!(request_js, "request.js", "text/javascript; charset=utf-8");
