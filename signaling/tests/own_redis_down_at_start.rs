//! `teleconsult serve --redis URL` with nothing answering there refuses to
//! start: exit status not 0, and an error naming Redis and its host:port;
//! a bad `--advertise`, or none on a node listening on every address, is
//! refused before anything starts. Without
//! `--redis` nothing about Redis is asked.

mod common;

use common::cluster::free_port;
use common::{Cli, stderr};

#[test]
fn serve_refuses_to_start_when_redis_does_not_answer() {
    let cli = Cli::new();
    let port = free_port();
    let redis = format!("redis://127.0.0.1:{port}");
    let out = cli.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--insecure-http",
        "--no-relay",
        "--redis",
        &redis,
        "--node-id",
        "tc-a",
    ]);
    assert!(!out.status.success(), "serve started without its Redis");
    let err = stderr(&out);
    assert!(err.contains("Redis"), "names Redis: {err}");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "names its host:port: {err}"
    );
    assert!(err.contains("--redis"), "names the setting: {err}");
}

#[test]
fn serve_refuses_a_bad_advertised_address() {
    let cli = Cli::new();
    for bad in ["10.0.0.5:8443", "ftp://x", "https://"] {
        let out = cli.run(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--insecure-http",
            "--no-relay",
            "--advertise",
            bad,
        ]);
        assert!(!out.status.success(), "{bad} accepted");
        let err = stderr(&out);
        assert!(err.contains("--advertise"), "{bad}: {err}");
    }
}

#[tokio::test]
async fn the_library_names_redis_in_its_error() {
    let port = free_port();
    let url = signaling::node::RedisUrl::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    let node = signaling::node::NodeId::new("tc-a").unwrap();
    let link = signaling::cluster::NodeLink {
        secret: ownership::ClusterSecret::new(vec![1; 32]).unwrap(),
        tls: signaling::cluster::forward::peer_tls(None).unwrap(),
    };
    let e = signaling::cluster::Cluster::start(&url, &node, "http://127.0.0.1:1", link)
        .await
        .expect_err("nothing answers there");
    assert!(matches!(e, signaling::Error::Redis(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("Redis") && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );
}

#[test]
fn serve_on_every_address_with_redis_needs_an_advertised_address() {
    let cli = Cli::new();
    let redis = format!("redis://127.0.0.1:{}", free_port());
    let out = cli.run(&[
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--no-relay",
        "--redis",
        &redis,
    ]);
    assert!(!out.status.success(), "started with nothing to advertise");
    let err = stderr(&out);
    assert!(
        err.contains("--advertise") && err.contains("0.0.0.0"),
        "{err}"
    );
}
