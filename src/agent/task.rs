//! How the agent starts its tasks (connections, refreshes, retries): one
//! `spawn` that boxes each future first.

/// `tokio::spawn` of `task` boxed first. tokio moves a task's future
/// through several frames on its way to the heap, and the spawning frame
/// holds those copies: a connection's 9 kB future made the accept loop's
/// frame ~36 kB deep, below which every task then ran, and a stack keeps
/// the deepest pages it ever touched resident.
pub fn spawn<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(Box::pin(task))
}
