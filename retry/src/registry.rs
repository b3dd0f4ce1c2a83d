//! [`StaticPolicy::named`]: process-lifetime policies kept by name, as
//! resilience4j's `RetryRegistry` keeps its retries, so that asking for
//! one again never makes (and leaks) another.

use crate::config::Config;
use crate::policy::{Policy, Shared};
use crate::static_policy::StaticPolicy;
use ballast_core::ConfigError;
use std::any::Any;
use std::sync::Mutex;

/// One named policy: its `&'static Shared<C>`, as `Any` so policies of
/// every classifier type share the list.
struct Entry {
    name: Box<str>,
    shared: &'static (dyn Any + Send + Sync),
}

/// Every named policy made so far. A plain list: names are few (one per
/// dependency) and looked up only when a policy is asked for, never on a
/// call.
static NAMED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

impl<C: Send + Sync + 'static> StaticPolicy<C> {
    /// The process-lifetime policy named `name`: made from `config` and
    /// `classifier` (and leaked, as [`Policy::leak`] does) the first time
    /// the name is asked for; the same policy every later time, with the
    /// same budget and counts, wherever in the process it is asked for.
    ///
    /// Use it for the policy of a dependency the process calls for as long
    /// as it runs (the common case): its layer's calls hold a plain
    /// reference to the policy and pay no reference count, the fastest
    /// success path (see the crate's "Cost" section), and code that builds
    /// its client more than once (per connection, per test, per reload)
    /// shares one policy instead of leaking one per build. The memory of
    /// the policies made (one per name) is never freed.
    ///
    /// Asking again for a name with a different config, or a classifier
    /// of another type, is a [`ConfigError`] (field `name`), never a
    /// silently different policy. The classifier passed again is dropped
    /// unused.
    ///
    /// ```
    /// use ballast_retry::{Config, RetryErrors, StaticPolicy};
    /// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), ballast_retry::BoxError> {
    /// let policy = StaticPolicy::named("inventory", Config::default(), RetryErrors)?;
    /// let service = service_fn(|x: u32| async move { Ok::<_, std::io::Error>(x + 1) });
    /// let mut client = ServiceBuilder::new().layer(policy.layer()).service(service);
    /// assert_eq!(client.ready().await?.call(1).await?, 2);
    ///
    /// // Asked for again (another client, a reload): the same policy.
    /// let again = StaticPolicy::named("inventory", Config::default(), RetryErrors)?;
    /// assert_eq!(again.metrics().calls, 1);
    /// assert_eq!(again.name(), Some("inventory"));
    ///
    /// // The same name with other settings is refused.
    /// let other = Config::builder().max_attempts(5).build()?;
    /// assert!(StaticPolicy::named("inventory", other, RetryErrors).is_err());
    /// # Ok(()) }
    /// ```
    pub fn named(name: &str, config: Config, classifier: C) -> Result<Self, ConfigError> {
        // A poisoned lock only means another thread panicked while asking;
        // the list itself is always whole (entries are pushed complete).
        let mut named = NAMED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = named.iter().find(|e| &*e.name == name) {
            let Some(shared) = entry.shared.downcast_ref::<Shared<C>>() else {
                return Err(ConfigError::new(
                    "retry policy",
                    "name",
                    format!("{name:?} names a policy with a classifier of another type"),
                ));
            };
            if shared.config != config {
                return Err(ConfigError::new(
                    "retry policy",
                    "name",
                    format!(
                        "{name:?} names a policy with other settings ({:?}); \
                         give a policy with these settings another name",
                        shared.config
                    ),
                ));
            }
            return Ok(StaticPolicy { shared });
        }
        let policy = Policy::new_named(config, classifier, name).leak();
        named.push(Entry {
            name: name.into(),
            shared: policy.shared,
        });
        Ok(policy)
    }
}
