use super::*;

#[test]
fn documents_exactly_the_routes_served() {
    let documented = operations(&document());
    let mut served: Vec<(String, String)> = super::super::routes()
        .into_iter()
        .filter(|r| r.documented())
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    served.sort();
    assert_eq!(documented, served);
}

#[test]
fn every_reference_resolves() {
    let doc = document();
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for piece in text.split("#/components/schemas/").skip(1) {
        let name: String = piece
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(schemas.contains_key(&name), "missing schema {name}");
    }
}

#[test]
fn every_operation_declares_its_path_parameters_and_a_success() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let template: Vec<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, template, "{method} {path}");
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{method} {path} has no success response"
            );
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
        }
    }
}

#[test]
fn public_routes_need_no_key() {
    let doc = document();
    for path in ["/healthz", "/readyz"] {
        assert_eq!(doc["paths"][path]["get"]["security"], json!([]));
    }
    for route in super::super::routes() {
        if route.path.starts_with("/hooks/") {
            assert!(route.public, "{}", route.path);
            assert_eq!(doc["paths"][route.path]["post"]["security"], json!([]));
        }
    }
}
