//! Compiles the protos in pure Rust (protox, no system protoc): tonic/prost code for the
//! services, and an encoded descriptor set that keeps the custom options (`google.api.http`,
//! `cloudsigma.v1.access`) for server reflection, the REST routes and the access rules.

use std::{env, fs, path::PathBuf};

const PROTOS: &[&str] = &[
    "cloudsigma/v1/access.proto",
    "cloudsigma/v1/health.proto",
    "cloudsigma/v1/auth.proto",
    "cloudsigma/v1/api_keys.proto",
    "cloudsigma/v1/usage.proto",
    "cloudsigma/v1/audit.proto",
    // Envoy's external authorization service (a wire-compatible subset), for the gateway check.
    "envoy/service/auth/v3/external_auth.proto",
    // Not used by our messages; compiled in so that reflection clients can decode the
    // ErrorInfo and RetryInfo details of error statuses.
    "google/rpc/error_details.proto",
];

// Messages that carry a password, a token or a key get no derived `Debug`, so they cannot end
// up in a log line by accident.
const SECRET_MESSAGES: &[&str] = &[
    ".cloudsigma.v1.SignUpRequest",
    ".cloudsigma.v1.SignInRequest",
    ".cloudsigma.v1.SignInResponse",
    ".cloudsigma.v1.RefreshTokenRequest",
    ".cloudsigma.v1.RefreshTokenResponse",
    ".cloudsigma.v1.CreateApiKeyResponse",
    ".cloudsigma.v1.AuthenticateRequest",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);

    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(PROTOS)?;
    // `encode_file_descriptor_set` keeps extension options that a decode into prost_types
    // would drop; this is the set served by reflection and read by the REST layer.
    fs::write(
        out_dir.join("cloudsigma_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .skip_debug(SECRET_MESSAGES.iter().copied())
        .generate_default_stubs(true)
        .include_file("protos.rs")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
