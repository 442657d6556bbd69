//! A TCP proxy between api-app and PostgreSQL that a test can take down, freeze and bring back,
//! to stage the database going away, hanging, or appearing late. Loopback only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The proxy. Dropping it closes everything.
#[derive(Debug)]
pub struct Proxy {
    pub port: u16,
    upstream: SocketAddr,
    frozen: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy to `upstream` on a free port, forwarding at once.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = Self {
            port,
            upstream,
            frozen: Arc::new(AtomicBool::new(false)),
            accepting: None,
        };
        proxy.accepting = Some(tokio::spawn(accept(
            listener,
            upstream,
            proxy.frozen.clone(),
        )));
        proxy
    }

    /// A proxy that is down from the start: its port refuses connections until [`Proxy::up`].
    pub async fn start_down(upstream: SocketAddr) -> Self {
        let mut proxy = Self::start(upstream).await;
        proxy.down();
        proxy
    }

    /// The database "stops": open connections are closed and new ones refused.
    pub fn down(&mut self) {
        if let Some(task) = self.accepting.take() {
            task.abort();
        }
    }

    /// The database "hangs": connections stay open but nothing more gets through either way.
    pub fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }

    /// New connections are forwarded again; those taken while frozen stay silent for good, as a
    /// proxy or load balancer that lost its backend leaves them.
    pub fn thaw(&self) {
        self.frozen.store(false, Ordering::SeqCst);
    }

    /// The database is back, on the same port.
    pub async fn up(&mut self) {
        self.down();
        self.frozen.store(false, Ordering::SeqCst);
        let listener = bind_again(self.port).await;
        self.accepting = Some(tokio::spawn(accept(
            listener,
            self.upstream,
            self.frozen.clone(),
        )));
    }

    /// A libpq URL through this proxy, for `user` and `dbname`.
    pub fn url(&self, user: &str, dbname: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{dbname}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.down();
    }
}

async fn bind_again(port: u16) -> TcpListener {
    // The old listener closes when its task is aborted, which takes a moment.
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
            return listener;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("port {port} could not be bound again");
}

/// Accepts until aborted; aborting drops the `JoinSet`, which closes every connection.
async fn accept(listener: TcpListener, upstream: SocketAddr, frozen: Arc<AtomicBool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let frozen = frozen.clone();
        connections.spawn(async move {
            if frozen.load(Ordering::SeqCst) {
                // Accept, then never answer: the client's connect timeout must fire.
                let _held = client;
                std::future::pending::<()>().await;
                return;
            }
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::join!(
                pipe(client_read, server_write, frozen.clone()),
                pipe(server_read, client_write, frozen)
            );
        });
    }
}

async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, frozen: Arc<AtomicBool>) {
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.load(Ordering::SeqCst) {
            // Hold both sockets open and forward nothing, like a peer that stopped answering.
            let _held = (from, to);
            std::future::pending::<()>().await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
