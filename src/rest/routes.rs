//! The REST route table, built from the `google.api.http` annotations of our RPCs. A REST
//! path is written in the protos and nowhere else.

use http::Method;
use prost_reflect::{DescriptorPool, DynamicMessage, FieldDescriptor, MethodDescriptor, Value};

use crate::descriptors;

/// One annotated RPC.
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    /// The path template as written in the proto (its `google.api.http` rule).
    pub template: String,
    segments: Vec<Segment>,
    pub rpc: MethodDescriptor,
    pub grpc_path: String,
    pub body: BodyRule,
    /// `response_body`: the response field that is the REST body, instead of the whole message.
    pub response_body: Option<FieldDescriptor>,
}

#[derive(Debug, Clone)]
enum Segment {
    Literal(String),
    Variable(FieldDescriptor),
}

/// Where the request body goes.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body: fields come from the path and the query string.
    None,
    /// `body: "*"`: the body is the request message (less the path variables).
    Whole,
    /// `body: "field"`: the body is that field.
    Field(FieldDescriptor),
}

/// The outcome of looking a request up.
pub enum Lookup<'a> {
    Found(&'a Route, Vec<(FieldDescriptor, String)>),
    /// The path exists with other methods.
    WrongMethod(Vec<Method>),
    NotFound,
}

#[derive(Debug, Clone)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    pub fn from_pool(pool: &DescriptorPool) -> Result<Self, String> {
        let http = pool
            .get_extension_by_name("google.api.http")
            .ok_or("google/api/annotations.proto is not compiled in")?;
        let mut routes = Vec::new();
        for rpc in descriptors::methods(pool) {
            let options = rpc.options();
            if !options.has_extension(&http) {
                continue;
            }
            let rule = options.get_extension(&http);
            let rule = rule
                .as_message()
                .ok_or("google.api.http is not a message")?;
            routes.push(Route::from_rule(rpc, rule)?);
        }
        Ok(Self { routes })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let parts: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let mut allowed = Vec::new();
        for route in &self.routes {
            let Some(vars) = route.match_path(&parts) else {
                continue;
            };
            if route.method == *method {
                return Lookup::Found(route, vars);
            }
            allowed.push(route.method.clone());
        }
        if allowed.is_empty() {
            Lookup::NotFound
        } else {
            Lookup::WrongMethod(allowed)
        }
    }
}

impl Route {
    fn from_rule(rpc: MethodDescriptor, rule: &DynamicMessage) -> Result<Self, String> {
        let text = |name: &str| -> String {
            match rule.get_field_by_name(name).as_deref() {
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            }
        };
        let (method, template) = [
            ("get", Method::GET),
            ("put", Method::PUT),
            ("post", Method::POST),
            ("delete", Method::DELETE),
            ("patch", Method::PATCH),
        ]
        .into_iter()
        .find(|(name, _)| rule.has_field_by_name(name))
        .map(|(name, method)| (method, text(name)))
        .ok_or_else(|| format!("{}: unsupported google.api.http pattern", rpc.full_name()))?;

        let input = rpc.input();
        let field = |name: &str| {
            input
                .get_field_by_name(name)
                .ok_or_else(|| format!("{}: no field {name}", rpc.full_name()))
        };
        let segments = template
            .strip_prefix('/')
            .ok_or_else(|| format!("{}: path must start with /", rpc.full_name()))?
            .split('/')
            .map(
                |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) => field(name).map(Segment::Variable),
                    None => Ok(Segment::Literal(part.to_owned())),
                },
            )
            .collect::<Result<Vec<_>, _>>()?;
        let body = match text("body").as_str() {
            "" => BodyRule::None,
            "*" => BodyRule::Whole,
            name => BodyRule::Field(field(name)?),
        };
        let response_body = match text("response_body").as_str() {
            "" => None,
            name => Some(
                rpc.output()
                    .get_field_by_name(name)
                    .ok_or_else(|| format!("{}: no response field {name}", rpc.full_name()))?,
            ),
        };
        Ok(Self {
            method,
            template,
            segments,
            grpc_path: descriptors::grpc_path(&rpc),
            rpc,
            body,
            response_body,
        })
    }

    /// The request fields bound by the path template, in template order.
    pub fn path_fields(&self) -> Vec<FieldDescriptor> {
        self.segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Variable(field) => Some(field.clone()),
                Segment::Literal(_) => None,
            })
            .collect()
    }

    /// The path variables when `parts` matches the template.
    fn match_path(&self, parts: &[&str]) -> Option<Vec<(FieldDescriptor, String)>> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut vars = Vec::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(literal) if literal == part => {}
                Segment::Literal(_) => return None,
                Segment::Variable(_) if part.is_empty() => return None,
                Segment::Variable(field) => vars.push((field.clone(), (*part).to_owned())),
            }
        }
        Some(vars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concrete(template: &str) -> String {
        template
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "csk_live_0123abcd"
                } else {
                    part
                }
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    #[test]
    fn every_annotated_rpc_is_found_by_its_own_path_and_method() {
        let routes = Routes::from_pool(&descriptors::pool()).unwrap();
        assert!(routes.iter().count() >= 11);
        for route in routes.iter() {
            let path = concrete(&route.template);
            match routes.lookup(&route.method, &path) {
                Lookup::Found(found, vars) => {
                    assert_eq!(found.grpc_path, route.grpc_path);
                    assert_eq!(vars.len(), route.template.matches('{').count());
                }
                _ => panic!("{} {} is not routed", route.method, route.template),
            }
            assert!(matches!(
                routes.lookup(&Method::PUT, &path),
                Lookup::WrongMethod(_)
            ));
            assert!(matches!(
                routes.lookup(&route.method, &format!("/nothing{path}")),
                Lookup::NotFound
            ));
        }
    }
}
