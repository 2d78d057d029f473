//! The compiled protos as a descriptor pool: the source of the REST routes (`google.api.http`)
//! and of each RPC's access rule (`cloudsigma.v1.access`), and what reflection serves.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, MethodDescriptor};
use prost_types::FileDescriptorProto;

use crate::proto::{DESCRIPTOR_SET, cloudsigma::v1::Access};

/// The package whose services are ours (and get REST routes and access rules).
pub const PACKAGE: &str = "cloudsigma.v1";

pub fn pool() -> DescriptorPool {
    // The set is compiled into the binary by build.rs; failing to decode it is a build bug.
    DescriptorPool::decode(DESCRIPTOR_SET).expect("the embedded descriptor set decodes")
}

/// Every RPC of our package.
pub fn methods(pool: &DescriptorPool) -> impl Iterator<Item = MethodDescriptor> + '_ {
    pool.services()
        .filter(|s| s.package_name() == PACKAGE)
        .flat_map(|s| s.methods().collect::<Vec<_>>())
}

/// The gRPC path of an RPC, e.g. `/cloudsigma.v1.AuthService/SignIn`.
pub fn grpc_path(method: &MethodDescriptor) -> String {
    format!("/{}/{}", method.parent_service().full_name(), method.name())
}

/// The access rule of every RPC of our package, keyed by gRPC path. An RPC without the option
/// is `ACCESS_UNSPECIFIED`, which the authentication layer refuses.
pub fn access_rules(pool: &DescriptorPool) -> HashMap<String, Access> {
    let extension = pool
        .get_extension_by_name("cloudsigma.v1.access")
        .expect("access.proto is compiled in");
    methods(pool)
        .map(|method| {
            let options = method.options();
            let access = options
                .get_extension(&extension)
                .as_enum_number()
                .and_then(|n| Access::try_from(n).ok())
                .unwrap_or(Access::Unspecified);
            (grpc_path(&method), access)
        })
        .collect()
}

/// The leading comment of the element at `path`, as written in the proto (build.rs keeps
/// source info), e.g. for `MethodDescriptor::path` in its file.
pub fn comments(file: &FileDescriptorProto, path: &[i32]) -> Option<String> {
    let location = file
        .source_code_info
        .as_ref()?
        .location
        .iter()
        .find(|location| location.path == path)?;
    let text = location.leading_comments.as_deref()?;
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect();
    let text = lines.join("\n").trim().to_owned();
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_declares_who_may_call_it() {
        let pool = pool();
        let rules = access_rules(&pool);
        assert!(rules.len() >= 12);
        for (path, access) in &rules {
            assert_ne!(*access, Access::Unspecified, "{path} has no access option");
        }
        assert_eq!(
            rules["/cloudsigma.v1.AuthService/Authenticate"],
            Access::Internal
        );
        assert_eq!(
            rules["/cloudsigma.v1.UsageService/GetUsage"],
            Access::JwtOrApiKey
        );
    }
}
