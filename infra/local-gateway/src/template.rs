//! Reads what the local stack needs from `template.yaml`: the route of every function (HTTP
//! and WebSocket) and the table's definition.

use http::Method;
use serde_norway::Value;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template: {0}")]
    Io(#[from] std::io::Error),
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("the template is not as expected: {0}")]
    Shape(String),
}

/// One HTTP route and the function (the directory under `functions/`) that serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: String,
    pub method: Method,
    pub path: String,
}

/// One route of the WebSocket API and the function (the directory under `functions/`) its
/// integration invokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRoute {
    pub route_key: String,
    pub function: String,
}

/// The WebSocket API's Lambda `REQUEST` authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketAuthorizer {
    /// The directory under `functions/` of the function that decides.
    pub function: String,
    /// Where the credential is read from, e.g. `route.request.querystring.token`.
    pub identity_source: Vec<String>,
    /// The routes it guards.
    pub route_keys: Vec<String>,
}

/// What the pipe puts on the bus: its target's input template, `Source` and `DetailType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeTarget {
    /// The logical id of the bus.
    pub bus: String,
    pub input_template: String,
    pub source: String,
    pub detail_type: String,
}

/// A rule of the event bus: its pattern and the queues it delivers to.
#[derive(Debug, Clone, PartialEq)]
pub struct BusRule {
    pub id: String,
    /// The logical id of its bus.
    pub bus: String,
    pub pattern: serde_json::Value,
    pub targets: Vec<RuleTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTarget {
    /// The logical id of the queue.
    pub queue: String,
    /// The logical id of the queue that takes what the rule cannot deliver.
    pub dead_letter: Option<String>,
    pub retries: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

fn shape(msg: impl Into<String>) -> TemplateError {
    TemplateError::Shape(msg.into())
}

impl Template {
    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            root: serde_norway::from_str(yaml)?,
        })
    }

    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    /// `template.yaml` at the workspace root, wherever the caller runs from.
    pub fn load_default() -> Result<Self, TemplateError> {
        Self::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml"))
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources()
            .filter(move |(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
    }

    /// The properties of the function whose code is `functions/<name>`.
    pub fn function(&self, name: &str) -> Result<&Value, TemplateError> {
        let code = format!("functions/{name}");
        self.of_type("AWS::Serverless::Function")
            .filter_map(|(_, r)| r.get("Properties"))
            .find(|p| p.get("CodeUri").and_then(Value::as_str) == Some(code.as_str()))
            .ok_or_else(|| shape(format!("no function {name}")))
    }

    /// What every function gets (`Globals`), if the template sets anything.
    pub fn globals(&self) -> Option<&Value> {
        self.root.get("Globals")
    }

    /// Every `AWS::Serverless::Function` by its code directory name (`functions/<name>`).
    pub fn functions(&self) -> Result<Vec<String>, TemplateError> {
        self.of_type("AWS::Serverless::Function")
            .map(|(id, f)| {
                let uri = f
                    .get("Properties")
                    .and_then(|p| p.get("CodeUri"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape(format!("{id} has no CodeUri")))?;
                uri.strip_prefix("functions/")
                    .map(str::to_owned)
                    .ok_or_else(|| shape(format!("{id}: CodeUri {uri} is not under functions/")))
            })
            .collect()
    }

    /// Every `HttpApi` event of every function.
    pub fn routes(&self) -> Result<Vec<Route>, TemplateError> {
        let mut routes = Vec::new();
        for (id, f) in self.of_type("AWS::Serverless::Function") {
            let props = f
                .get("Properties")
                .ok_or_else(|| shape(format!("{id} has no Properties")))?;
            let function = props
                .get("CodeUri")
                .and_then(Value::as_str)
                .and_then(|u| u.strip_prefix("functions/"))
                .ok_or_else(|| shape(format!("{id}: CodeUri must be functions/<name>")))?;
            let events = props.get("Events").and_then(Value::as_mapping);
            for (_, event) in events.into_iter().flat_map(|m| m.iter()) {
                if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                let p = event
                    .get("Properties")
                    .ok_or_else(|| shape(format!("{id}: event without Properties")))?;
                let method = p
                    .get("Method")
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape(format!("{id}: no Method")))?;
                let path = p
                    .get("Path")
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape(format!("{id}: no Path")))?;
                routes.push(Route {
                    function: function.to_owned(),
                    method: method
                        .to_uppercase()
                        .parse()
                        .map_err(|_| shape(format!("{id}: bad method {method}")))?,
                    path: path.to_owned(),
                });
            }
        }
        Ok(routes)
    }

    /// The logical id of the one `AWS::ApiGatewayV2::Api` whose protocol is `WEBSOCKET`.
    pub fn socket_api_id(&self) -> Result<&str, TemplateError> {
        let mut apis = self.of_type("AWS::ApiGatewayV2::Api").filter(|(_, a)| {
            a.get("Properties")
                .and_then(|p| p.get("ProtocolType"))
                .and_then(Value::as_str)
                == Some("WEBSOCKET")
        });
        let (id, _) = apis.next().ok_or_else(|| shape("no WebSocket API"))?;
        if apis.next().is_some() {
            return Err(shape("more than one WebSocket API"));
        }
        Ok(id)
    }

    /// How the WebSocket API picks a message's route, e.g. `$request.body.action`.
    pub fn route_selection_expression(&self) -> Result<String, TemplateError> {
        self.resource_properties(self.socket_api_id()?)?
            .get("RouteSelectionExpression")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| shape("the WebSocket API has no RouteSelectionExpression"))
    }

    /// The `AWS::ApiGatewayV2::Route`s of the WebSocket API, by logical id.
    fn socket_route_resources(&self) -> Result<Vec<(&str, &Value)>, TemplateError> {
        let api = self.socket_api_id()?;
        let mut routes = Vec::new();
        for (id, route) in self.of_type("AWS::ApiGatewayV2::Route") {
            let props = route
                .get("Properties")
                .ok_or_else(|| shape(format!("{id} has no Properties")))?;
            if props.get("ApiId").and_then(referenced) == Some(api) {
                routes.push((id, props));
            }
        }
        Ok(routes)
    }

    /// Every route of the WebSocket API, resolved through its integration to the function
    /// it invokes.
    pub fn socket_routes(&self) -> Result<Vec<SocketRoute>, TemplateError> {
        self.socket_route_resources()?
            .into_iter()
            .map(|(id, props)| {
                let route_key = props
                    .get("RouteKey")
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape(format!("{id} has no RouteKey")))?;
                let target = props
                    .get("Target")
                    .ok_or_else(|| shape(format!("{id} has no Target")))?;
                let integration = integration_of(target)
                    .ok_or_else(|| shape(format!("{id}: Target is not integrations/<id>")))?;
                let uri = self
                    .resource_properties(integration)?
                    .get("IntegrationUri")
                    .ok_or_else(|| shape(format!("{integration} has no IntegrationUri")))?;
                Ok(SocketRoute {
                    route_key: route_key.to_owned(),
                    function: self.invoked_function(integration, uri)?,
                })
            })
            .collect()
    }

    /// The one authorizer of the WebSocket API and the routes that name it.
    pub fn socket_authorizer(&self) -> Result<SocketAuthorizer, TemplateError> {
        let api = self.socket_api_id()?;
        let mut authorizers = self
            .of_type("AWS::ApiGatewayV2::Authorizer")
            .filter(|(_, a)| {
                a.get("Properties")
                    .and_then(|p| p.get("ApiId"))
                    .and_then(referenced)
                    == Some(api)
            });
        let (id, authorizer) = authorizers
            .next()
            .ok_or_else(|| shape("the WebSocket API has no authorizer"))?;
        if authorizers.next().is_some() {
            return Err(shape("the WebSocket API has more than one authorizer"));
        }
        let props = authorizer
            .get("Properties")
            .ok_or_else(|| shape(format!("{id} has no Properties")))?;
        if props.get("AuthorizerType").and_then(Value::as_str) != Some("REQUEST") {
            return Err(shape(format!("{id} is not a REQUEST authorizer")));
        }
        let uri = props
            .get("AuthorizerUri")
            .ok_or_else(|| shape(format!("{id} has no AuthorizerUri")))?;
        let identity_source = props
            .get("IdentitySource")
            .and_then(Value::as_sequence)
            .ok_or_else(|| shape(format!("{id} has no IdentitySource list")))?
            .iter()
            .map(|s| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| shape(format!("{id}: an IdentitySource that is not a string")))
            })
            .collect::<Result<_, _>>()?;
        let mut route_keys = Vec::new();
        for (route, props) in self.socket_route_resources()? {
            if props.get("AuthorizerId").and_then(referenced) != Some(id) {
                continue;
            }
            if props.get("AuthorizationType").and_then(Value::as_str) != Some("CUSTOM") {
                return Err(shape(format!("{route} names {id} but is not CUSTOM")));
            }
            let key = props
                .get("RouteKey")
                .and_then(Value::as_str)
                .ok_or_else(|| shape(format!("{route} has no RouteKey")))?;
            route_keys.push(key.to_owned());
        }
        Ok(SocketAuthorizer {
            function: self.invoked_function(id, uri)?,
            identity_source,
            route_keys,
        })
    }

    /// The function (`functions/<name>`) a Lambda invocation URI of `owner` names:
    /// `!Sub "arn:…:lambda:path/2015-03-31/functions/${SomeFunction.Arn}/invocations"`.
    fn invoked_function(&self, owner: &str, uri: &Value) -> Result<String, TemplateError> {
        let function = intrinsic(uri, "Sub")
            .and_then(Value::as_str)
            .and_then(|s| {
                sub_references(s)
                    .into_iter()
                    .find_map(|r| r.strip_suffix(".Arn"))
            })
            .ok_or_else(|| {
                shape(format!(
                    "{owner}: the invocation URI names no ${{<function>.Arn}}"
                ))
            })?;
        let props = self.resource_properties(function)?;
        props
            .get("CodeUri")
            .and_then(Value::as_str)
            .and_then(|u| u.strip_prefix("functions/"))
            .map(str::to_owned)
            .ok_or_else(|| shape(format!("{function}: CodeUri must be functions/<name>")))
    }

    /// Every resource of this type, by logical id, in the template's order.
    pub fn resources_of_type<'a>(&'a self, kind: &'a str) -> Vec<(&'a str, &'a Value)> {
        self.of_type(kind).collect()
    }

    /// The template's `Parameters`, if it has any.
    pub fn parameters(&self) -> Option<&Value> {
        self.root.get("Parameters")
    }

    /// The `Properties` of the resource with this logical id.
    pub fn resource_properties(&self, id: &str) -> Result<&Value, TemplateError> {
        self.resources()
            .find(|(k, _)| *k == id)
            .and_then(|(_, r)| r.get("Properties"))
            .ok_or_else(|| shape(format!("no resource {id} with Properties")))
    }

    /// The `Properties` of the one `AWS::DynamoDB::Table`.
    pub fn table(&self) -> Result<&Value, TemplateError> {
        let mut tables = self.of_type("AWS::DynamoDB::Table");
        let (_, table) = tables
            .next()
            .ok_or_else(|| shape("no AWS::DynamoDB::Table"))?;
        table
            .get("Properties")
            .ok_or_else(|| shape("the table has no Properties"))
    }

    /// This template with a table that has no stream.
    pub fn without_stream(&self) -> Self {
        let mut root = self.root.clone();
        let tables = root
            .get_mut("Resources")
            .and_then(Value::as_mapping_mut)
            .into_iter()
            .flat_map(|m| m.values_mut())
            .filter(|r| r.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table"));
        for table in tables {
            if let Some(props) = table.get_mut("Properties").and_then(Value::as_mapping_mut) {
                props.remove("StreamSpecification");
            }
        }
        Self { root }
    }

    /// The `Properties` of the one `AWS::Pipes::Pipe`: the pipe the local gateway plays.
    pub fn pipe(&self) -> Result<&Value, TemplateError> {
        let mut pipes = self.of_type("AWS::Pipes::Pipe");
        let (_, pipe) = pipes.next().ok_or_else(|| shape("no AWS::Pipes::Pipe"))?;
        if pipes.next().is_some() {
            return Err(shape("more than one AWS::Pipes::Pipe"));
        }
        pipe.get("Properties")
            .ok_or_else(|| shape("the pipe has no Properties"))
    }

    /// The patterns of the pipe's `FilterCriteria`, as written.
    pub fn pipe_filter_patterns(&self) -> Result<Vec<&str>, TemplateError> {
        let filters = self
            .pipe()?
            .get("SourceParameters")
            .and_then(|p| p.get("FilterCriteria"))
            .and_then(|f| f.get("Filters"))
            .and_then(Value::as_sequence);
        filters
            .into_iter()
            .flatten()
            .map(|f| {
                f.get("Pattern")
                    .and_then(Value::as_str)
                    .ok_or_else(|| shape("a pipe filter without a Pattern string"))
            })
            .collect()
    }

    /// The pipe's target input: what it makes of a record before it puts it on the bus.
    pub fn pipe_target(&self) -> Result<PipeTarget, TemplateError> {
        let pipe = self.pipe()?;
        let bus = pipe
            .get("Target")
            .and_then(referenced)
            .ok_or_else(|| shape("the pipe's Target is not a reference"))?;
        let params = pipe
            .get("TargetParameters")
            .ok_or_else(|| shape("the pipe has no TargetParameters"))?;
        let bus_params = params
            .get("EventBridgeEventBusParameters")
            .ok_or_else(|| shape("the pipe has no EventBridgeEventBusParameters"))?;
        let field = |v: &Value, name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| shape(format!("the pipe's target has no {name}")))
        };
        Ok(PipeTarget {
            bus: bus.to_owned(),
            input_template: field(params, "InputTemplate")?,
            source: field(bus_params, "Source")?,
            detail_type: field(bus_params, "DetailType")?,
        })
    }

    /// Every `AWS::Events::Rule` on a bus of this template, with its pattern as JSON and the
    /// queues it targets.
    pub fn bus_rules(&self) -> Result<Vec<BusRule>, TemplateError> {
        self.of_type("AWS::Events::Rule")
            .map(|(id, rule)| {
                let props = rule
                    .get("Properties")
                    .ok_or_else(|| shape(format!("{id} has no Properties")))?;
                let bus = props
                    .get("EventBusName")
                    .and_then(referenced)
                    .ok_or_else(|| shape(format!("{id}: EventBusName is not a reference")))?;
                let pattern = props
                    .get("EventPattern")
                    .ok_or_else(|| shape(format!("{id} has no EventPattern")))?;
                let pattern = serde_json::to_value(pattern)
                    .map_err(|e| shape(format!("{id}: EventPattern: {e}")))?;
                let targets = props
                    .get("Targets")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let queue = t.get("Arn").and_then(referenced);
                        let dead_letter = t
                            .get("DeadLetterConfig")
                            .and_then(|d| d.get("Arn"))
                            .and_then(referenced);
                        Ok(RuleTarget {
                            queue: queue
                                .ok_or_else(|| shape(format!("{id}: a target without an Arn")))?
                                .to_owned(),
                            dead_letter: dead_letter.map(str::to_owned),
                            retries: t
                                .get("RetryPolicy")
                                .and_then(|r| r.get("MaximumRetryAttempts"))
                                .and_then(Value::as_u64),
                        })
                    })
                    .collect::<Result<_, TemplateError>>()?;
                Ok(BusRule {
                    id: id.to_owned(),
                    bus: bus.to_owned(),
                    pattern,
                    targets,
                })
            })
            .collect()
    }

    /// The function (`functions/<name>`) each queue feeds, by the queue's logical id: every
    /// SAM `SQS` event.
    pub fn queue_functions(&self) -> Result<Vec<(String, String)>, TemplateError> {
        let mut fed = Vec::new();
        for (id, f) in self.of_type("AWS::Serverless::Function") {
            let props = f.get("Properties");
            let function = props
                .and_then(|p| p.get("CodeUri"))
                .and_then(Value::as_str)
                .and_then(|u| u.strip_prefix("functions/"))
                .ok_or_else(|| shape(format!("{id}: CodeUri must be functions/<name>")))?;
            let events = props
                .and_then(|p| p.get("Events"))
                .and_then(Value::as_mapping);
            for event in events.into_iter().flat_map(|m| m.values()) {
                if event.get("Type").and_then(Value::as_str) != Some("SQS") {
                    continue;
                }
                let queue = event
                    .get("Properties")
                    .and_then(|p| p.get("Queue"))
                    .and_then(referenced)
                    .ok_or_else(|| shape(format!("{id}: an SQS event without a Queue")))?;
                fed.push((queue.to_owned(), function.to_owned()));
            }
        }
        Ok(fed)
    }

    /// What reads the table's stream: pipes, event source mappings and SAM `DynamoDB`
    /// events. DynamoDB serves at most two readers a shard before it throttles them.
    pub fn stream_readers(&self) -> usize {
        let is_stream = |v: Option<&Value>| {
            v.and_then(|v| intrinsic(v, "GetAtt"))
                .is_some_and(|target| format!("{target:?}").contains("StreamArn"))
        };
        let pipes = self
            .of_type("AWS::Pipes::Pipe")
            .filter(|(_, p)| is_stream(p.get("Properties").and_then(|p| p.get("Source"))))
            .count();
        let mappings = self
            .of_type("AWS::Lambda::EventSourceMapping")
            .filter(|(_, m)| is_stream(m.get("Properties").and_then(|p| p.get("EventSourceArn"))))
            .count();
        let sam = self
            .of_type("AWS::Serverless::Function")
            .flat_map(|(_, f)| {
                f.get("Properties")
                    .and_then(|p| p.get("Events"))
                    .and_then(Value::as_mapping)
                    .into_iter()
                    .flat_map(|m| m.values())
            })
            .filter(|e| e.get("Type").and_then(Value::as_str) == Some("DynamoDB"))
            .count();
        pipes + mappings + sam
    }
}

/// The argument of the intrinsic function `name` (`Ref`, `Sub`, `GetAtt`, …) when `v` is
/// a call of it, in the short form (`!Sub x`) or the long one (`{"Fn::Sub": x}`).
pub fn intrinsic<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == name => Some(&t.value),
        Value::Mapping(m) if m.len() == 1 => {
            let long = if name == "Ref" {
                name.to_owned()
            } else {
                format!("Fn::{name}")
            };
            m.get(long.as_str())
        }
        _ => None,
    }
}

/// The logical id `v` refers to with `!Ref id` or `!GetAtt id.Attribute` (either form).
pub fn referenced(v: &Value) -> Option<&str> {
    if let Some(id) = intrinsic(v, "Ref").and_then(Value::as_str) {
        return Some(id);
    }
    match intrinsic(v, "GetAtt")? {
        Value::String(s) => s.split('.').next(),
        Value::Sequence(parts) => parts.first().and_then(Value::as_str),
        _ => None,
    }
}

/// The names a `!Sub` string substitutes (`${Name}`, `${Name.Attribute}`), not the
/// pseudo parameters (`${AWS::Region}`) nor the literals (`${!Literal}`).
pub fn sub_references(s: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') && !name.starts_with("AWS::") {
            names.push(name);
        }
        rest = &after[end + 1..];
    }
    names
}

/// The integration a route's `Target` names: `integrations/<id>`, written
/// `!Sub "integrations/${Id}"` or `!Join ["/", [integrations, !Ref Id]]`.
fn integration_of(target: &Value) -> Option<&str> {
    if let Some(s) = intrinsic(target, "Sub").and_then(Value::as_str) {
        let id = s.strip_prefix("integrations/${")?.strip_suffix('}')?;
        return Some(id);
    }
    let join = intrinsic(target, "Join")?.as_sequence()?;
    let (separator, parts) = (join.first()?.as_str()?, join.get(1)?.as_sequence()?);
    match (separator, parts.as_slice()) {
        ("/", [prefix, id]) if prefix.as_str() == Some("integrations") => referenced(id),
        _ => None,
    }
}

impl Route {
    /// The path parameters when `method` and `path` match this route.
    pub fn matches(&self, method: &Method, path: &str) -> Option<Vec<(String, String)>> {
        if method != self.method {
            return None;
        }
        let pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        if pattern.len() != actual.len() {
            return None;
        }
        let mut params = Vec::new();
        for (p, a) in pattern.iter().zip(&actual) {
            match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) if !a.is_empty() => params.push((name.to_owned(), (*a).to_owned())),
                Some(_) => return None,
                None if p == a => {}
                None => return None,
            }
        }
        Some(params)
    }

    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_stream_has_one_reader_the_pipe_and_room_for_one_more() {
        let template = Template::load_default().unwrap();
        assert_eq!(template.stream_readers(), 1);
        assert!(
            format!("{:?}", template.pipe().unwrap().get("Source")).contains("Table.StreamArn")
        );
        let spec = template.table().unwrap().get("StreamSpecification");
        assert_eq!(
            spec.and_then(|s| s.get("StreamViewType"))
                .and_then(Value::as_str),
            Some("NEW_AND_OLD_IMAGES")
        );
        let more = Template::parse(
            "Resources:\n  P:\n    Type: AWS::Pipes::Pipe\n    Properties:\n      Source: !GetAtt Table.StreamArn\n  M:\n    Type: AWS::Lambda::EventSourceMapping\n    Properties:\n      EventSourceArn: {'Fn::GetAtt': [Table, StreamArn]}\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        S:\n          Type: DynamoDB\n",
        )
        .unwrap();
        assert_eq!(more.stream_readers(), 3);
        let without = template.without_stream();
        assert!(
            without
                .table()
                .unwrap()
                .get("StreamSpecification")
                .is_none()
        );
        assert!(without.table().unwrap().get("KeySchema").is_some());
    }

    #[test]
    fn the_socket_routes_are_the_five_each_to_its_function() {
        let template = Template::load_default().unwrap();
        let mut routes: Vec<(String, String)> = template
            .socket_routes()
            .unwrap()
            .into_iter()
            .map(|r| (r.route_key, r.function))
            .collect();
        routes.sort();
        let wanted = [
            ("$connect", "ws-connect"),
            ("$default", "ws-default"),
            ("$disconnect", "ws-disconnect"),
            ("ping", "ws-ping"),
            ("sync", "ws-sync"),
        ]
        .map(|(k, f)| (k.to_owned(), f.to_owned()));
        assert_eq!(routes, wanted);
        assert_eq!(
            template.route_selection_expression().unwrap(),
            "$request.body.action"
        );
        // Every one of them is a function of the template.
        let functions = template.functions().unwrap();
        assert!(routes.iter().all(|(_, f)| functions.contains(f)));
    }

    #[test]
    fn the_socket_authorizer_guards_only_connect_and_reads_the_token_parameter() {
        let template = Template::load_default().unwrap();
        assert_eq!(
            template.socket_authorizer().unwrap(),
            SocketAuthorizer {
                function: "ws-authorize".into(),
                identity_source: vec!["route.request.querystring.token".into()],
                route_keys: vec!["$connect".into()],
            }
        );
    }

    #[test]
    fn socket_routes_resolve_either_way_of_writing_a_target() {
        let template = Template::parse(
            r#"
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.kind
  Other:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Elsewhere
      RouteKey: ignored
  A:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      RouteKey: a
      Target: !Join ["/", [integrations, !Ref AIntegration]]
  AIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AFunction.Arn}/invocations"
  AFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/a
  B:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: {Ref: Api}
      RouteKey: b
      Target: {"Fn::Sub": "integrations/${BIntegration}"}
  BIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${AFunction.Arn}/invocations"
"#,
        )
        .unwrap();
        assert_eq!(
            template.socket_routes().unwrap(),
            [
                SocketRoute {
                    route_key: "a".into(),
                    function: "a".into()
                },
                SocketRoute {
                    route_key: "b".into(),
                    function: "a".into()
                },
            ]
        );
        assert_eq!(
            template.route_selection_expression().unwrap(),
            "$request.body.kind"
        );
        assert!(template.socket_authorizer().is_err());
        assert_eq!(
            sub_references("${!Literal}/${AWS::Region}/${Api}/${Fn.Arn}"),
            ["Api", "Fn.Arn"]
        );
    }

    #[test]
    fn routes_match_literals_and_capture_parameters() {
        let route = Route {
            function: "withdraw".into(),
            method: Method::POST,
            path: "/jobs/{job_id}/applications/{application_id}/withdraw".into(),
        };
        assert_eq!(
            route.matches(&Method::POST, "/jobs/J/applications/A/withdraw"),
            Some(vec![
                ("job_id".into(), "J".into()),
                ("application_id".into(), "A".into())
            ])
        );
        assert_eq!(
            route.matches(&Method::GET, "/jobs/J/applications/A/withdraw"),
            None
        );
        assert_eq!(route.matches(&Method::POST, "/jobs/J/applications/A"), None);
        assert_eq!(
            route.matches(&Method::POST, "/jobs//applications/A/withdraw"),
            None
        );
    }
}
