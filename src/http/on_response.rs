//! The future the access log and the request metrics share: it passes the
//! inner service's response to a hook, once, when it is ready. Each layer
//! keeps what it read from the request in its hook; neither boxes anything.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::Response;
use pin_project_lite::pin_project;

/// What a layer does with the response, given what it kept of the request.
pub trait ResponseHook {
    fn on_response<B>(&self, response: &Response<B>);
}

pin_project! {
    /// Wraps a service's future; see the module docs. An error (no response)
    /// reaches no hook.
    pub struct OnResponse<F, H> {
        #[pin]
        inner: F,
        hook: H,
    }
}

impl<F, H> OnResponse<F, H> {
    pub fn new(inner: F, hook: H) -> Self {
        Self { inner, hook }
    }
}

impl<F, H, ResBody, E> Future for OnResponse<F, H>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    H: ResponseHook,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Ok(response) = &result {
            this.hook.on_response(response);
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::future::ready;

    use axum::http::StatusCode;

    use super::*;

    struct Seen<'a>(&'a Cell<Option<StatusCode>>);

    impl ResponseHook for Seen<'_> {
        fn on_response<B>(&self, response: &Response<B>) {
            self.0.set(Some(response.status()));
        }
    }

    #[tokio::test]
    async fn the_hook_sees_the_response_and_the_caller_gets_it_unchanged() {
        let seen = Cell::new(None);
        let mut response = Response::new(());
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        let result: Result<_, ()> = OnResponse::new(ready(Ok(response)), Seen(&seen)).await;
        assert_eq!(result.map(|r| r.status()), Ok(StatusCode::IM_A_TEAPOT));
        assert_eq!(seen.get(), Some(StatusCode::IM_A_TEAPOT));
    }

    #[tokio::test]
    async fn an_error_reaches_no_hook() {
        let seen = Cell::new(None);
        let result: Result<Response<()>, &str> =
            OnResponse::new(ready(Err("broken")), Seen(&seen)).await;
        assert!(result.is_err());
        assert_eq!(seen.get(), None);
    }
}
