//! Assembling and running the pingora server for a validated config.

use std::sync::Arc;

use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::listening::Service;

use crate::config::Config;
use crate::proxy::HookfenceApp;

/// Runs hookfence until SIGTERM (graceful: pingora stops accepting and waits
/// `shutdown_grace` for in-flight deliveries) or SIGINT (immediate). Never returns.
pub fn run(config: Config) -> ! {
    let mut conf = ServerConf {
        threads: config.server.threads,
        grace_period_seconds: Some(config.server.shutdown_grace.as_secs()),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    // pingora keeps one pool per thread; a webhook proxy talks to few upstreams.
    conf.upstream_keepalive_pool_size = 128;
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let listen = config.server.listen.clone();
    let mut service = Service::new("hookfence".to_owned(), HookfenceApp::new(Arc::new(config)));
    for address in &listen {
        service.add_tcp(address);
        tracing::info!(%address, "listening");
    }
    server.add_service(service);
    server.run_forever()
}
