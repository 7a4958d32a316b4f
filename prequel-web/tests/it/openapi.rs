//! `GET /api/openapi.json`: the document matches the router (every route, every method), every
//! operation declares its errors in the one error shape, and real answers fit their schemas.

use std::collections::{BTreeMap, BTreeSet};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::metrics::Engine;
use crate::support::TOKEN;

/// Routes of the router that are not part of the JSON API, and why: the status page and its
/// sign-in form answer HTML and redirects for browsers, not JSON for programs.
const NOT_IN_THE_DOCUMENT: &[&str] = &["/", "/session", "/session/logout"];

/// The methods probed on every route.
const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

async fn document(engine: &Engine) -> Value {
    let (status, content_type, text) = engine.send("GET", "/api/openapi.json", false, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(content_type, "application/json");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// The paths the router really has. axum does not list its routes, but its `Debug` output
/// names every path it holds (including merged routers); this reads them from there, so a
/// route added anywhere shows up. If axum changes that output, the first assertion says so.
fn router_paths(engine: &Engine) -> BTreeSet<String> {
    let debug = format!("{:?}", engine.router);
    let paths: BTreeSet<String> = debug
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && !s.contains("__private__axum"))
        .map(str::to_owned)
        .collect();
    assert!(
        paths.contains("/healthz") && paths.contains("/api/commands"),
        "cannot read the routes from axum's Debug output any more: {debug}"
    );
    paths
}

/// The methods a path answers, found by asking: anything but 405 means the method is routed.
async fn routed_methods(engine: &Engine, path: &str) -> BTreeSet<String> {
    let uri = path.replace("{id}", "k7mq2xw9ab3c");
    let mut methods = BTreeSet::new();
    for method in METHODS {
        let request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("request");
        // Only the status: the body of `/api/events` never ends.
        let response = engine
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        if response.status() != StatusCode::METHOD_NOT_ALLOWED {
            methods.insert(method.as_str().to_lowercase());
        }
    }
    methods
}

#[tokio::test]
async fn the_document_lists_every_route_of_the_router_with_its_methods() {
    let engine = Engine::new();
    let document = document(&engine).await;
    let documented: BTreeMap<String, BTreeSet<String>> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item")
                .keys()
                .filter(|k| METHODS.iter().any(|m| m.as_str().eq_ignore_ascii_case(k)))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect();
    let mut routed = BTreeMap::new();
    for path in router_paths(&engine) {
        if !NOT_IN_THE_DOCUMENT.contains(&path.as_str()) {
            let methods = routed_methods(&engine, &path).await;
            routed.insert(path, methods);
        }
    }
    assert_eq!(documented, routed);
}

#[tokio::test]
async fn every_operation_declares_its_errors_in_the_one_error_shape() {
    let engine = Engine::new();
    let document = document(&engine).await;
    let error_ref = json!({"$ref": "#/components/schemas/ErrorBody"});
    let mut errors_seen = 0;
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("a path item") {
            let at = format!("{} {path}", method.to_uppercase());
            let responses = operation["responses"].as_object().expect("responses");
            let declared: BTreeSet<u16> = responses
                .keys()
                .map(|s| s.parse().expect("numeric statuses only"))
                .collect();
            assert!(
                declared.iter().any(|s| (200..300).contains(s)),
                "{at} has no success"
            );
            for (status, response) in responses {
                if status.as_str() >= "400" {
                    errors_seen += 1;
                    assert_eq!(
                        response["content"],
                        json!({"application/json": {"schema": error_ref}}),
                        "{at} {status} is not the error shape"
                    );
                }
            }
            let mut must = BTreeSet::new();
            if operation.get("security").is_some() {
                must.insert(401);
            }
            if operation.get("requestBody").is_some() {
                must.extend([400, 413]);
            }
            // Path and query parameters can be malformed; the one header (`Last-Event-ID`) is
            // read leniently and never refused.
            let parameters = operation["parameters"].as_array().into_iter().flatten();
            if parameters
                .into_iter()
                .any(|p| p["in"] == "path" || p["in"] == "query")
            {
                must.insert(400);
            }
            if path.starts_with("/api/") && !path.ends_with(".json") {
                // Every API route reads the store.
                must.insert(503);
            }
            if path == "/readyz" {
                must.insert(503);
            }
            let missing: Vec<_> = must.difference(&declared).collect();
            assert!(missing.is_empty(), "{at} does not declare {missing:?}");
            // 405 belongs to the path, not to an operation: it is never declared.
            assert!(!declared.contains(&405), "{at} declares 405");
        }
    }
    assert!(errors_seen >= 15, "only {errors_seen} error responses");
    let detail = &document["components"]["schemas"]["ErrorDetail"];
    assert_eq!(detail["required"], json!(["code", "message"]));
}

#[tokio::test]
async fn the_document_needs_no_token_and_names_the_crate_version_and_the_bearer_scheme() {
    let engine = Engine::new();
    let document = document(&engine).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        json!({"type": "http", "scheme": "bearer",
               "description": "The admin token, kept in the server's <data dir>/admin-token; or, \
                               for `POST /api/commands` only, a personal API token (`pqt_…`) \
                               acting as its user."})
    );
    let events = &document["paths"]["/api/events"]["get"]["responses"]["200"]["content"];
    assert!(events.get("text/event-stream").is_some(), "{events}");
    let metrics = &document["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(metrics.get("text/plain").is_some(), "{metrics}");
}

#[tokio::test]
async fn real_answers_fit_their_documented_schemas() {
    let engine = Engine::new();
    let document = document(&engine).await;
    let scheduled = engine
        .words("schedule tomorrow 2pm 90m python for Ada Lovelace")
        .await;
    let cancelled = engine.words("schedule tomorrow 4pm 1h python").await;
    engine.words(&format!("cancel {cancelled}")).await;
    let (_, _, made) = engine
        .send("POST", "/api/tokens", true, Some(json!({"user": "bob"})))
        .await;
    let made: Value = serde_json::from_str(&made).expect("JSON");
    let token_id = made["api_token"]["id"].as_str().expect("a token id");
    let mut checked = 0;
    for (method, uri, body, status) in [
        (
            "POST",
            "/api/commands",
            Some(json!({"text": "now 30m python", "user": "alice"})),
            200,
        ),
        ("POST", "/api/commands", Some(json!({"text": "list"})), 200),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("status {scheduled}")})),
            200,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("creds {scheduled}"), "user": "alice"})),
            200,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": "challenges"})),
            200,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": "tz Europe/Berlin"})),
            200,
        ),
        ("POST", "/api/commands", Some(json!({"text": "help"})), 200),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("extend {scheduled} 30m")})),
            200,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("destroy {scheduled}")})),
            200,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": "schedule 9am 90m cobol"})),
            400,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("cancel {cancelled}")})),
            409,
        ),
        ("POST", "/api/commands", Some(json!({"words": "help"})), 400),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("note {scheduled} strong on SQL")})),
            200,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("score {scheduled} yes clean code")})),
            200,
        ),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("score {scheduled} no")})),
            200,
        ),
        ("GET", "/api/interviews?all=true", None, 200),
        ("GET", "/api/interviews?limit=1", None, 200),
        ("GET", "/api/interviews?limit=0", None, 400),
        ("GET", &format!("/api/interviews/{scheduled}"), None, 200),
        ("GET", "/api/interviews/zzzz0000", None, 404),
        ("GET", "/api/interviews/0", None, 400),
        (
            "GET",
            &format!("/api/interviews/{scheduled}/report"),
            None,
            200,
        ),
        ("GET", "/api/interviews/zzzz0000/report", None, 404),
        (
            "POST",
            "/api/commands",
            Some(json!({"text": format!("report {scheduled}")})),
            200,
        ),
        ("GET", "/healthz", None, 200),
        ("GET", "/readyz", None, 503),
        ("POST", "/api/tokens", Some(json!({"user": "alice"})), 201),
        ("POST", "/api/tokens", Some(json!({"user": "a b"})), 400),
        ("GET", "/api/tokens", None, 200),
        ("DELETE", &format!("/api/tokens/{token_id}"), None, 200),
        ("DELETE", "/api/tokens/aaaaaaaaaaaa", None, 404),
        ("DELETE", "/api/tokens/A", None, 400),
    ] {
        let (got, content_type, text) = engine.send(method, uri, true, body).await;
        assert_eq!(got.as_u16(), status, "{method} {uri}: {text}");
        let path = uri.split('?').next().unwrap_or(uri);
        let template = if path.starts_with("/api/interviews/") && path.ends_with("/report") {
            "/api/interviews/{id}/report"
        } else if path.starts_with("/api/interviews/") {
            "/api/interviews/{id}"
        } else if path.starts_with("/api/tokens/") {
            "/api/tokens/{id}"
        } else {
            path
        };
        let response =
            &document["paths"][template][method.to_lowercase()]["responses"][status.to_string()];
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{method} {template} {status} is not documented"
        );
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let answer: Value = serde_json::from_str(&text).expect("JSON");
        if let Err(problem) = validate(&document, schema, &answer) {
            panic!("{method} {uri} → {status} does not fit its schema: {problem}\n{text}");
        }
        checked += 1;
    }
    assert_eq!(checked, 32);
}

/// Checks `value` against `schema`, for the part of JSON Schema the generated document uses:
/// `$ref`, `type` (one or several), `enum`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `oneOf` (exactly one must match).
fn validate(document: &Value, schema: &Value, value: &Value) -> Result<(), String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .ok_or_else(|| format!("unknown $ref {reference}"))?;
        return validate(document, &document["components"]["schemas"][name], value);
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let fits = options
            .iter()
            .filter(|option| validate(document, option, value).is_ok())
            .count();
        return match fits {
            1 => Ok(()),
            n => Err(format!("{value} fits {n} of the oneOf alternatives, not 1")),
        };
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(one) => vec![one.as_str()],
        Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let type_fits = types.is_empty()
        || types.contains(&kind)
        || (kind == "integer" && types.contains(&"number"));
    if !type_fits {
        return Err(format!("{value} is a {kind}, not {types:?}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        return Err(format!("{value} is not one of {allowed:?}"));
    }
    if let Value::Object(map) = value {
        for key in schema["required"].as_array().into_iter().flatten() {
            let key = key.as_str().unwrap_or_default();
            if !map.contains_key(key) {
                return Err(format!("`{key}` is missing from {value}"));
            }
        }
        let properties = schema["properties"].as_object();
        for (key, item) in map {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => {
                    validate(document, property, item).map_err(|e| format!("{key}: {e}"))?
                }
                None if schema["additionalProperties"] == json!(false) || properties.is_some() => {
                    // The API's objects have exactly their documented keys.
                    return Err(format!("`{key}` is not documented"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for item in items {
            validate(document, item_schema, item)?;
        }
    }
    Ok(())
}
