//! Reads what the local stack needs from `template.yaml`: the route of every function (HTTP
//! and WebSocket) and the table's definition.

mod sockets;

pub use sockets::{SocketAuthorizer, SocketRoute};

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
mod tests;
