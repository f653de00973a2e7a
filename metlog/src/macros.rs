//! Format-style logging macros: `metlog::info!("x = {}", x)`.

/// Logs a formatted `oldstyle` message at [`Severity::Debug`](crate::Severity::Debug).
///
/// Like [`info!`](crate::info!): give a client first, or use the current one.
#[macro_export]
macro_rules! debug {
    ($($args:tt)+) => { $crate::__log_at!($crate::Severity::Debug, $($args)+) };
}

/// Logs a formatted `oldstyle` message at
/// [`Severity::Informational`](crate::Severity::Informational).
///
/// With a format string first, the message goes to the current client
/// (thread-local scope, then global); formatting is skipped when there is
/// none. With a client expression first, it goes to that client.
///
/// ```
/// # let capture = metlog::sender::CaptureSender::new();
/// # let client = metlog::Client::builder("app").sender(capture.clone()).build();
/// let user = "ada";
/// metlog::info!(client, "user {user} logged in after {} tries", 2);
/// metlog::with_client(&client, || metlog::info!("via the current client"));
/// metlog::info!("no current client here: nothing is formatted or sent");
/// # let payloads: Vec<_> = capture.messages().into_iter().map(|m| m.payload.to_string()).collect();
/// # assert_eq!(payloads, ["user ada logged in after 2 tries", "via the current client"]);
/// ```
#[macro_export]
macro_rules! info {
    ($($args:tt)+) => { $crate::__log_at!($crate::Severity::Informational, $($args)+) };
}

/// Logs a formatted `oldstyle` message at [`Severity::Warning`](crate::Severity::Warning).
///
/// Like [`info!`](crate::info!): give a client first, or use the current one.
#[macro_export]
macro_rules! warn {
    ($($args:tt)+) => { $crate::__log_at!($crate::Severity::Warning, $($args)+) };
}

/// Logs a formatted `oldstyle` message at [`Severity::Error`](crate::Severity::Error).
///
/// Like [`info!`](crate::info!): give a client first, or use the current one.
#[macro_export]
macro_rules! error {
    ($($args:tt)+) => { $crate::__log_at!($crate::Severity::Error, $($args)+) };
}

/// Logs a formatted `oldstyle` message at [`Severity::Critical`](crate::Severity::Critical).
///
/// Like [`info!`](crate::info!): give a client first, or use the current one.
#[macro_export]
macro_rules! critical {
    ($($args:tt)+) => { $crate::__log_at!($crate::Severity::Critical, $($args)+) };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __log_at {
    ($severity:expr, $fmt:literal $($args:tt)*) => {
        $crate::__private::log_current($severity, |__metlog_client| {
            __metlog_client.log_fmt($severity, ::core::format_args!($fmt $($args)*))
        })
    };
    ($severity:expr, $client:expr, $($args:tt)+) => {
        $crate::Client::log_fmt(&$client, $severity, ::core::format_args!($($args)+))
    };
}
