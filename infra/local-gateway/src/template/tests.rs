use super::*;

#[test]
fn the_table_stream_has_one_reader_the_pipe_and_room_for_one_more() {
    let template = Template::load_default().unwrap();
    assert_eq!(template.stream_readers(), 1);
    assert!(format!("{:?}", template.pipe().unwrap().get("Source")).contains("Table.StreamArn"));
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
