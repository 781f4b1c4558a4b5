//! The WebSocket API of the template: its routes, each to the function its integration
//! invokes, the route selection, and the `$connect` authorizer.

use super::{Template, TemplateError, intrinsic, referenced, shape, sub_references};
use serde_norway::Value;

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

impl Template {
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
