//! Odd input on every route never panics and never gets a 500: each answer is a success
//! or a JSON client error. Inputs come from a fixed-seed generator, so failures repeat.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, header};
use common::{embedded_router, reply};
use serde_json::{Map, Value};

/// A small deterministic generator (xorshift), enough to vary shapes and bytes.
struct Odd(u64);

impl Odd {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn text(&mut self) -> String {
        const PIECES: [&str; 14] = [
            "",
            "a",
            "Acme",
            "2026-11-20",
            "#",
            "%",
            "\u{0}",
            "é",
            "✓",
            "\"",
            "{}",
            "-1",
            "1e999",
            "9999-99-99",
        ];
        (0..self.below(4))
            .map(|_| PIECES[self.below(PIECES.len() as u64) as usize])
            .collect()
    }

    fn json(&mut self, depth: u32) -> Value {
        match if depth > 3 {
            self.below(4)
        } else {
            self.below(6)
        } {
            0 => Value::Null,
            1 => Value::Bool(self.below(2) == 0),
            2 => match self.below(4) {
                0 => Value::from(self.next() as i64),
                1 => Value::from(self.next()),
                2 => Value::from(
                    (self.next() as f64) / 7.0 * if self.below(2) == 0 { 1e-300 } else { 1e200 },
                ),
                _ => Value::from(self.below(30) as f64 - 3.5),
            },
            3 => Value::String(self.text()),
            4 => Value::Array((0..self.below(4)).map(|_| self.json(depth + 1)).collect()),
            _ => {
                let mut object = Map::new();
                for _ in 0..self.below(6) {
                    const NAMES: [&str; 10] = [
                        "customer",
                        "project",
                        "engineer",
                        "date",
                        "hours",
                        "description",
                        "id",
                        "pk",
                        "",
                        "Data",
                    ];
                    let name = NAMES[self.below(NAMES.len() as u64) as usize].to_owned();
                    object.insert(name, self.json(depth + 1));
                }
                Value::Object(object)
            }
        }
    }

    fn bytes(&mut self) -> Vec<u8> {
        (0..self.below(40)).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test]
async fn odd_bodies_paths_and_queries_get_client_errors_not_500s() {
    let (app, _dir) = embedded_router();
    let mut odd = Odd(0x9E37_79B9_7F4A_7C15);
    for round in 0..400 {
        let body: Vec<u8> = if round % 3 == 0 {
            odd.bytes()
        } else {
            odd.json(0).to_string().into_bytes()
        };
        let segment: String = odd
            .text()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { 'x' })
            .collect();
        let query = format!(
            "customer={}&from={}&to={}&limit={}&cursor={}&group_by={}",
            odd.below(3),
            odd.text().len(),
            "2026-11-20",
            odd.below(700),
            segment,
            ["week", "x", ""][odd.below(3) as usize]
        );
        let (method, uri, form) = match round % 9 {
            0 => (Method::POST, "/api/v1/activities".to_owned(), false),
            1 => (Method::PUT, format!("/api/v1/activities/{segment}"), false),
            2 => (Method::POST, "/picus/put".to_owned(), false),
            3 => (Method::GET, format!("/api/v1/activities?{query}"), false),
            4 => (Method::GET, format!("/api/v1/summary?{query}"), false),
            5 => (Method::POST, "/".to_owned(), true),
            6 => (Method::GET, format!("/activities?{query}"), false),
            7 => (Method::DELETE, format!("/picus/{segment}"), false),
            _ => (Method::GET, format!("/picus/get/{segment}"), false),
        };
        let content_type = if form {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        let request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.clone()))
            .expect("request");
        let answer = reply(&app, request).await;
        assert!(
            !answer.status.is_server_error(),
            "{method} {uri} {:?} -> {} {}",
            String::from_utf8_lossy(&body),
            answer.status,
            answer.text
        );
        if answer.status.is_client_error() && !uri.starts_with("/activities") && !form {
            answer.error_code();
        }
    }
}
