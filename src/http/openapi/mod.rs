//! The OpenAPI 3 document, generated from the route table: each API entry carries its
//! [`Operation`], and the errors that follow from its access and body are added here, so that
//! no operation can forget them. Shared schemas and error answers are in `components.rs`.

mod components;

use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use super::route::Route;
use super::table::ROUTES;
use crate::domain::Role;

/// How one JSON endpoint is described: what it is, who may call it, what it takes and
/// answers, and the failures peculiar to it.
#[derive(Clone, Copy, Debug)]
pub struct Operation {
    pub id: &'static str,
    pub summary: &'static str,
    pub description: Option<&'static str>,
    pub tag: Tag,
    pub access: Access,
    pub params: &'static [Param],
    pub body: Body,
    pub success: Success,
    /// Failures beyond those [`Access`], [`Body`] and the server itself add.
    pub failures: &'static [Failure],
    /// Whether it can answer 500 and 503 (false only for answers held in memory).
    pub server_errors: bool,
}

impl Operation {
    /// An operation without parameters, body or failures of its own.
    pub const fn new(
        id: &'static str,
        summary: &'static str,
        tag: Tag,
        access: Access,
        success: Success,
    ) -> Operation {
        Operation {
            id,
            summary,
            description: None,
            tag,
            access,
            params: &[],
            body: Body::None,
            success,
            failures: &[],
            server_errors: true,
        }
    }

    /// With a longer description.
    pub const fn described(self, description: &'static str) -> Operation {
        Operation {
            description: Some(description),
            ..self
        }
    }

    /// With path or query parameters.
    pub const fn params(self, params: &'static [Param]) -> Operation {
        Operation { params, ..self }
    }

    /// With a JSON body.
    pub const fn body(self, body: Body) -> Operation {
        Operation { body, ..self }
    }

    /// With failures of its own.
    pub const fn failing(self, failures: &'static [Failure]) -> Operation {
        Operation { failures, ..self }
    }

    /// Answered from memory: no 500 or 503.
    pub const fn infallible(self) -> Operation {
        Operation {
            server_errors: false,
            ..self
        }
    }
}

/// The document's groups of operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tag {
    Customers,
    Subscriptions,
    Admin,
    Staff,
    Operations,
}

impl Tag {
    const ALL: [Tag; 5] = [
        Tag::Customers,
        Tag::Subscriptions,
        Tag::Admin,
        Tag::Staff,
        Tag::Operations,
    ];

    fn name(self) -> &'static str {
        match self {
            Tag::Customers => "customers",
            Tag::Subscriptions => "subscriptions",
            Tag::Admin => "admin",
            Tag::Staff => "staff",
            Tag::Operations => "operations",
        }
    }
}

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// A customer's session token (400 for a malformed header, 401 without a live token).
    Customer,
    /// The admin token, or a staff session of at least this role that has passed its second
    /// factor (400 for a malformed header, 401 without a live token, 403 for a lesser role).
    Admin(Role),
    /// A staff session, also one that may only enroll a second factor (401 without one, 403
    /// for the admin token, which is no staff member).
    Staff,
    /// The admin token or a loopback peer; anyone else gets the 404 of an unknown route.
    OperatorOrAdmin,
}

/// A path or query parameter.
#[derive(Clone, Copy, Debug)]
pub enum Param {
    /// The path's `{name}` segment.
    Path {
        name: &'static str,
        description: &'static str,
    },
    /// An optional text query parameter.
    Text {
        name: &'static str,
        description: &'static str,
        max_length: u32,
    },
    /// An optional integer query parameter.
    Integer {
        name: &'static str,
        minimum: u32,
        maximum: Option<u32>,
        default: u32,
    },
    /// A required `true` / `false` query parameter.
    Flag {
        name: &'static str,
        description: &'static str,
    },
    /// An optional integer query parameter from 1, with no default: where a page starts.
    Cursor {
        name: &'static str,
        description: &'static str,
    },
}

/// The request body: a JSON object of a component schema.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    None,
    Required(&'static str),
    /// No body at all is accepted too.
    Optional(&'static str),
    /// An HTML form (`application/x-www-form-urlencoded` or `multipart/form-data`).
    Form(&'static str),
    /// A CSV file (`text/csv`), described in words.
    Csv(&'static str),
}

/// The success answer.
#[derive(Clone, Copy, Debug)]
pub struct Success {
    pub status: u16,
    pub description: &'static str,
    pub content: Content,
    /// A `Cache-Control` value the answer always carries.
    pub cache_control: Option<&'static str>,
}

impl Success {
    /// `200` with JSON.
    pub const fn ok(description: &'static str, content: Content) -> Success {
        Success {
            status: 200,
            description,
            content,
            cache_control: None,
        }
    }

    /// `201` with JSON.
    pub const fn created(description: &'static str, content: Content) -> Success {
        Success {
            status: 201,
            ..Success::ok(description, content)
        }
    }

    /// Always with this `Cache-Control` header.
    pub const fn cached(self, cache_control: &'static str) -> Success {
        Success {
            cache_control: Some(cache_control),
            ..self
        }
    }
}

/// What a success answer carries.
#[derive(Clone, Copy, Debug)]
pub enum Content {
    /// A component schema.
    Schema(&'static str),
    /// `{"result": "<value>"}`.
    Result(&'static str),
    /// Any JSON object.
    AnyObject,
    /// Text of this media type.
    Text(&'static str),
}

/// An error answer, named as in the document's `components/responses`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    BadRequest,
    Unauthenticated,
    InvalidCredentials,
    /// 403: the caller's role lacks the right, or their session may only enroll a second factor.
    Forbidden,
    /// 403: the session is not recently authenticated (`auth.reauth_seconds`).
    ReauthenticationRequired,
    NotFound,
    Conflict,
    /// 409 `last_owner`: the change would leave the shop without an owner.
    LastOwner,
    TooLarge,
    NotJson,
    Invalid,
    /// 422 of `POST /admin/import`: every problem of the file by line and column (or, for its
    /// query, the usual validation answer).
    ImportRefused,
    Throttled,
    Internal,
    Overloaded,
    /// `/healthz`'s 503: the database does not answer or takes no writes.
    Unhealthy,
}

impl Failure {
    fn status(self) -> u16 {
        match self {
            Failure::BadRequest => 400,
            Failure::Unauthenticated | Failure::InvalidCredentials => 401,
            Failure::ReauthenticationRequired | Failure::Forbidden => 403,
            Failure::NotFound => 404,
            Failure::Conflict | Failure::LastOwner => 409,
            Failure::TooLarge => 413,
            Failure::NotJson => 415,
            Failure::Invalid | Failure::ImportRefused => 422,
            Failure::Throttled => 429,
            Failure::Internal => 500,
            Failure::Overloaded | Failure::Unhealthy => 503,
        }
    }
}

/// The document as served and as `customer-area openapi` prints it.
pub fn document_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = serde_json::to_string_pretty(&document()).expect("JSON values serialize");
        text.push('\n');
        text
    })
}

/// The whole document, generated from the route table.
pub fn document() -> Value {
    document_of(ROUTES)
}

/// The document of the API entries of `routes` (pages are not part of the API).
fn document_of(routes: &[Route]) -> Value {
    let mut paths = Map::new();
    for route in routes {
        if let Some(operation) = route.operation() {
            let item = paths.entry(route.path).or_insert_with(|| json!({}));
            item[route.verb.as_str().to_ascii_lowercase()] = operation_object(operation);
        }
    }
    let tags: Vec<Value> = Tag::ALL
        .iter()
        .map(|t| json!({ "name": t.name() }))
        .collect();
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "customer-area",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The customer area of a retailer's web shop. JSON in and out; every error is `{\"error\", \"message\", \"fields\"?}`. Every response carries `X-Content-Type-Options: nosniff`; everything but public data is `Cache-Control: no-store`. An unknown route answers 404 `not_found`, a known route with another method 405 `method_not_allowed`. `/admin` takes the admin token (`admin.api_token`, every right; refused while unset) or a staff session token (`POST /admin/staff/login`); each operation says the least role it needs (`x-required-role`: `support` or `owner`). A role's missing right is 403 `forbidden`.",
            "license": { "name": "MIT" },
        },
        "servers": [{ "url": "/" }],
        "tags": tags,
        "paths": paths,
        "components": components::all(),
    })
}

fn operation_object(op: &Operation) -> Value {
    let security = match op.access {
        Access::Public => json!([]),
        Access::Customer => json!([{ "CustomerToken": [] }]),
        Access::Admin(_) => json!([{ "AdminToken": [] }, { "StaffToken": [] }]),
        Access::Staff => json!([{ "StaffToken": [] }]),
        Access::OperatorOrAdmin => json!([{}, { "AdminToken": [] }]),
    };
    let mut object = json!({
        "operationId": op.id,
        "summary": op.summary,
        "tags": [op.tag.name()],
        "security": security,
        "responses": responses(op),
    });
    let mut description = op.description.map(str::to_owned);
    if let Access::Admin(role) = op.access {
        // Said twice: as a line people read, and as an extension tools can.
        object["x-required-role"] = json!(role.as_str());
        let line = format!("Needs the admin token or a staff session of role `{role}` or above.");
        description = Some(match description {
            Some(text) => format!("{text}\n\n{line}"),
            None => line,
        });
    }
    if let Access::Staff = op.access {
        object["x-required-role"] = json!("staff");
    }
    if let Some(description) = description {
        object["description"] = json!(description);
    }
    if !op.params.is_empty() {
        object["parameters"] = op.params.iter().map(param_object).collect();
    }
    let (schema, required) = match op.body {
        Body::None => return object,
        Body::Required(schema) => (schema, true),
        Body::Optional(schema) => (schema, false),
        Body::Csv(description) => {
            object["requestBody"] = json!({
                "required": true,
                "description": description,
                "content": { "text/csv": { "schema": { "type": "string" } } },
            });
            return object;
        }
        Body::Form(schema) => {
            let form = json!({ "schema": schema_ref(schema) });
            object["requestBody"] = json!({
                "required": true,
                "content": {
                    "application/x-www-form-urlencoded": form,
                    "multipart/form-data": form,
                },
            });
            return object;
        }
    };
    object["requestBody"] = json!({
        "required": required,
        "content": { "application/json": { "schema": schema_ref(schema) } },
    });
    object
}

fn responses(op: &Operation) -> Value {
    let mut failures: Vec<Failure> = Vec::new();
    failures.extend(match op.access {
        Access::Public => &[][..],
        Access::Customer => &[Failure::BadRequest, Failure::Unauthenticated],
        // Wrong admin tokens are throttled per client.
        Access::Admin(_) | Access::Staff => &[
            Failure::BadRequest,
            Failure::Unauthenticated,
            Failure::Forbidden,
            Failure::Throttled,
        ],
        Access::OperatorOrAdmin => &[Failure::BadRequest, Failure::NotFound],
    });
    if !matches!(op.body, Body::None) {
        failures.extend([
            Failure::BadRequest,
            Failure::TooLarge,
            Failure::NotJson,
            Failure::Invalid,
        ]);
    }
    if op.server_errors {
        failures.extend([Failure::Internal, Failure::Overloaded]);
    }
    failures.extend(op.failures);
    let mut responses = Map::new();
    for failure in failures {
        let reference = format!("#/components/responses/{failure:?}");
        responses.insert(failure.status().to_string(), json!({ "$ref": reference }));
    }
    let success = &op.success;
    let content = match success.content {
        Content::Schema(name) => json!({ "application/json": { "schema": schema_ref(name) } }),
        Content::Result(value) => json!({ "application/json": { "schema": {
            "type": "object",
            "additionalProperties": false,
            "properties": { "result": { "type": "string", "enum": [value] } },
            "required": ["result"],
        } } }),
        Content::AnyObject => json!({ "application/json": { "schema": { "type": "object" } } }),
        Content::Text(media) => json!({ media: { "schema": { "type": "string" } } }),
    };
    let mut answer = json!({ "description": success.description, "content": content });
    if let Some(value) = success.cache_control {
        answer["headers"] = json!({ "Cache-Control": {
            "description": format!("`{value}`."),
            "schema": { "type": "string" },
        } });
    }
    responses.insert(success.status.to_string(), answer);
    Value::Object(responses)
}

fn param_object(param: &Param) -> Value {
    match *param {
        Param::Path { name, description } => json!({
            "name": name, "in": "path", "required": true,
            "schema": { "type": "string" }, "description": description,
        }),
        Param::Text {
            name,
            description,
            max_length,
        } => json!({
            "name": name, "in": "query",
            "schema": { "type": "string", "maxLength": max_length }, "description": description,
        }),
        Param::Integer {
            name,
            minimum,
            maximum,
            default,
        } => {
            let mut schema = json!({ "type": "integer", "minimum": minimum, "default": default });
            if let Some(maximum) = maximum {
                schema["maximum"] = json!(maximum);
            }
            json!({ "name": name, "in": "query", "schema": schema })
        }
        Param::Flag { name, description } => json!({
            "name": name, "in": "query", "required": true,
            "schema": { "type": "boolean" }, "description": description,
        }),
        Param::Cursor { name, description } => json!({
            "name": name, "in": "query",
            "schema": { "type": "integer", "minimum": 1 }, "description": description,
        }),
    }
}

fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::route::Verb;

    #[test]
    fn pages_are_left_out_of_the_document() {
        let routes = [Route::page("/account"), crate::http::table::HEALTHZ];
        let doc = document_of(&routes);
        let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
        assert_eq!(paths, ["/healthz"]);
    }

    #[test]
    fn access_and_body_add_their_failures() {
        let op = Operation::new(
            "x",
            "X",
            Tag::Admin,
            Access::Admin(Role::Owner),
            Success::ok("Done.", Content::Result("done")),
        )
        .body(Body::Required("Login"));
        let doc = document_of(&[Route::api(Verb::Put, "/x", op)]);
        let responses = doc["paths"]["/x"]["put"]["responses"].as_object().unwrap();
        let statuses: Vec<&str> = responses.keys().map(String::as_str).collect();
        assert_eq!(
            statuses,
            [
                "200", "400", "401", "403", "413", "415", "422", "429", "500", "503"
            ]
        );
        assert_eq!(
            responses["401"]["$ref"],
            "#/components/responses/Unauthenticated"
        );
    }
}
