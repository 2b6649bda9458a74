//! The span of each cached call (SPEC §12): `redcache.call` records the function and the
//! outcome; the key only when `trace` is enabled (keys may hold personal data); the body runs
//! inside it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use redcache::{Cache, cache};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[cache(key = "user:<id>", ttl = 60, skip(cache), cache = cache)]
async fn get_user(cache: &Cache, id: u64) -> String {
    tracing::info!("loading user");
    format!("user {id}")
}

/// A closed span: its name and the fields recorded on it.
#[derive(Debug, Clone)]
struct Closed {
    name: &'static str,
    fields: BTreeMap<String, String>,
}

/// What the capturing layer saw.
#[derive(Debug, Default)]
struct Seen {
    closed: Vec<Closed>,
    /// Each event's message and the name of the span it happened in.
    events: Vec<(String, Option<&'static str>)>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Seen>>);

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        ctx.span(id)
            .expect("new span")
            .extensions_mut()
            .insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let span = ctx.span(id).expect("recorded span");
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<Fields>() {
            values.record(fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let message = fields.0.remove("message").unwrap_or_default();
        let span = ctx.event_span(event).map(|span| span.name());
        self.0.lock().unwrap().events.push((message, span));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).expect("closed span");
        let fields = span.extensions_mut().remove::<Fields>().unwrap_or_default();
        self.0.lock().unwrap().closed.push(Closed {
            name: span.name(),
            fields: fields.0,
        });
    }
}

/// Held by each capture. tracing caches each callsite's interest globally, combined over every
/// live subscriber; a TRACE subscriber alive on another test thread can leave a callsite marked
/// "always enabled" for this thread's DEBUG subscriber too. One subscriber at a time keeps each
/// test's view its own.
static ONE_SUBSCRIBER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `calls` with a subscriber at `level` on this thread; returns what it saw.
async fn capture<F: std::future::Future<Output = ()>>(level: LevelFilter, calls: F) -> Seen {
    let _serial = ONE_SUBSCRIBER_AT_A_TIME.lock().await;
    let seen = Capture::default();
    let subscriber = tracing_subscriber::registry().with(seen.clone().with_filter(level));
    {
        let _guard = tracing::subscriber::set_default(subscriber);
        calls.await;
    }
    std::mem::take(&mut *seen.0.lock().unwrap())
}

fn call_spans(seen: &Seen) -> Vec<&Closed> {
    seen.closed
        .iter()
        .filter(|span| span.name == "redcache.call")
        .collect()
}

#[tokio::test]
async fn each_call_records_its_function_and_outcome_and_no_key_at_debug() {
    let cache = Cache::memory();
    let seen = capture(LevelFilter::DEBUG, async {
        assert_eq!(get_user(&cache, 7).await, "user 7");
        assert_eq!(get_user(&cache, 7).await, "user 7");
    })
    .await;

    let spans = call_spans(&seen);
    assert_eq!(spans.len(), 2, "{seen:?}");
    for span in &spans {
        assert_eq!(span.fields["function"], "tracing_spans::get_user");
        assert!(
            !span.fields.contains_key("key"),
            "no key below trace: {span:?}"
        );
    }
    assert_eq!(spans[0].fields["outcome"], "miss");
    assert_eq!(spans[1].fields["outcome"], "hit");
    // The body ran once, inside the call's span.
    assert_eq!(
        seen.events,
        [("loading user".to_owned(), Some("redcache.call"))]
    );
}

#[tokio::test]
async fn the_key_is_recorded_at_trace() {
    let cache = Cache::memory();
    let seen = capture(LevelFilter::TRACE, async {
        get_user(&cache, 8).await;
        get_user(&cache, 8).await;
    })
    .await;

    let spans = call_spans(&seen);
    assert_eq!(spans.len(), 2, "{seen:?}");
    for span in &spans {
        assert_eq!(span.fields["key"], "user:8");
    }
    assert_eq!(spans[0].fields["outcome"], "miss");
    assert_eq!(spans[1].fields["outcome"], "hit");
}

#[tokio::test]
async fn no_span_below_debug() {
    let cache = Cache::memory();
    let seen = capture(LevelFilter::INFO, async {
        get_user(&cache, 9).await;
    })
    .await;
    assert!(call_spans(&seen).is_empty(), "{seen:?}");
    // The body's own event is still seen, outside any span.
    assert_eq!(seen.events, [("loading user".to_owned(), None)]);
}
