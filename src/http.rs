//! The one HTTPS client every AWS call shares: rustls with the ring provider, so the static
//! musl build needs no C cross-compiler (aws-lc would). Built once per process.

use aws_smithy_http_client::{tls, Builder};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

pub fn client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}
