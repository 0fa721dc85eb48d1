//! Timeouts that cost nothing when the operation is ready at once.
//!
//! Most writes complete on their first poll, and so does reading a body that
//! came with its head. `tokio::time::timeout` reads the clock and sets up a
//! timer entry before polling; here the operation is polled once first, and
//! the timer exists only if it has to wait.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// `operation`'s output, or `None` if it did not finish within `timeout`
/// (counted from its first wait).
pub async fn within<F: Future>(timeout: Duration, operation: F) -> Option<F::Output> {
    let mut operation = pin!(operation);
    if let Poll::Ready(output) = poll_fn(|cx| Poll::Ready(operation.as_mut().poll(cx))).await {
        return Some(output);
    }
    tokio::time::timeout(timeout, operation).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ready_at_once_or_waiting_within_the_timeout_is_an_answer() {
        assert_eq!(within(Duration::ZERO, async { 7 }).await, Some(7));
        let soon = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            8
        };
        assert_eq!(within(Duration::from_secs(5), soon).await, Some(8));
    }

    #[tokio::test]
    async fn waiting_past_the_timeout_is_none() {
        let never = std::future::pending::<()>();
        assert_eq!(within(Duration::from_millis(10), never).await, None);
    }
}
