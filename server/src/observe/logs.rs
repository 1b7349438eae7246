//! The log format: human-readable text (the default) or one JSON object a line, each line
//! with the span of the request it belongs to (its request id, method and route template).

use serde::Deserialize;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;

/// The environment variable holding the log filter (`info` when unset or invalid).
pub const FILTER_ENV: &str = "CASEBOOK_LOG";

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line (`timestamp`, `level`, `fields`, `target`, `span`, `spans`).
    Json,
}

/// A formatting layer writing `format` lines to `writer` (filtering is left to the caller).
pub fn layer<S, W>(format: LogFormat, writer: W) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let base = tracing_subscriber::fmt::layer().with_writer(writer);
    match format {
        LogFormat::Text => base.boxed(),
        LogFormat::Json => base
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    }
}

/// The filter from [`FILTER_ENV`], or `info`.
pub fn filter_from_env() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env(FILTER_ENV)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
}

/// Install the process's subscriber: `format` lines on standard error, filtered by
/// [`FILTER_ENV`]. Fails if a subscriber is already installed.
pub fn init(format: LogFormat) -> crate::Result<()> {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry()
        .with(layer(format, std::io::stderr))
        .with(filter_from_env());
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|e| crate::Error::Config(format!("logging: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn json_lines_carry_the_request_span() {
        let buffer = Buffer::default();
        let subscriber =
            tracing_subscriber::registry().with(layer(LogFormat::Json, buffer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "abc-123", route = "/healthz");
            span.in_scope(|| tracing::info!(status = 200, "request finished"));
        });
        let bytes = buffer.0.lock().expect("buffer").clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(line["fields"]["message"], "request finished");
        assert_eq!(line["fields"]["status"], 200);
        assert_eq!(line["span"]["request_id"], "abc-123");
        assert_eq!(line["span"]["route"], "/healthz");
        assert_eq!(line["level"], "INFO");
    }
}
