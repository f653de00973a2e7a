//! A small tokio HTTP service instrumented with metlog: attribute macros on
//! the handlers, the `log` bridge, the panic plugin, and a configuration
//! file (`examples/service.ini`) sending counters and timers to statsd and
//! everything else to syslog.
//!
//! ```text
//! export METLOG_STATSD_HOST=127.0.0.1 METLOG_STATSD_PORT=8125
//! export METLOG_SYSLOG_HOST=127.0.0.1 METLOG_SYSLOG_PORT=514
//! cargo run --example service -- examples/service.ini 127.0.0.1:8080
//! curl localhost:8080/hello; curl localhost:8080/fail; curl localhost:8080/panic
//! curl localhost:8080/quit    # flushes and exits
//! ```
//!
//! Routes: `/hello` (200), `/fail` (500: the handler returns `Err`),
//! `/panic` (the handler panics; the panic plugin reports it), `/quit`.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let config = args
        .next()
        .unwrap_or_else(|| "examples/service.ini".to_owned());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());

    let client = match metlog::config::from_file(&config, "metlog") {
        Ok(client) => client,
        Err(e) => {
            eprintln!("service: {e}");
            std::process::exit(1);
        }
    };
    metlog::set_global_client(client.clone()).expect("the only global client");
    let _flush_at_exit = client.flush_guard();
    metlog::bridge::log::install(client.clone(), log::LevelFilter::Info).expect("the only logger");
    metlog::plugin::panics::install(Some(client.clone()), Duration::from_secs(2));

    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("service: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    log::info!("listening on {addr}");
    println!(
        "listening on {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or(addr)
    );

    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Each connection runs on the runtime's worker threads; the macros
        // find the global client there.
        let handled = tokio::spawn(serve(stream)).await;
        match handled {
            Ok(true) => break,
            Ok(false) => {}
            Err(_) => log::error!("a request handler panicked"),
        }
    }
    log::info!("shutting down");
}

/// Serves one request; `true` means quit.
async fn serve(stream: TcpStream) -> bool {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let Ok(Some(request_line)) = lines.next_line().await else {
        return false;
    };
    // Skip the headers.
    while let Ok(Some(line)) = lines.next_line().await {
        if line.is_empty() {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let (status, body, quit) = route(&path).await;
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = write.write_all(response.as_bytes()).await;
    quit
}

#[metlog::incr("requests")]
async fn route(path: &str) -> (&'static str, String, bool) {
    match path {
        "/hello" => ("200 OK", hello().await, false),
        "/fail" => match fail().await {
            Ok(body) => ("200 OK", body, false),
            Err(e) => {
                log::warn!("request failed: {e}");
                ("500 Internal Server Error", e, false)
            }
        },
        "/panic" => ("200 OK", explode().await, false),
        "/quit" => ("200 OK", "bye\n".to_owned(), true),
        _ => ("404 Not Found", String::new(), false),
    }
}

#[metlog::timer("handlers.hello")]
async fn hello() -> String {
    tokio::time::sleep(Duration::from_millis(5)).await;
    "hello\n".to_owned()
}

#[metlog::timer("handlers.fail")]
async fn fail() -> Result<String, String> {
    Err("the database is down".to_owned())
}

#[metlog::timer("handlers.panic")]
async fn explode() -> String {
    panic!("handler exploded")
}
