//! A browserless user agent for end-to-end tests: follows an authorization request through the
//! real login and consent pages with plain HTTP, keeping cookies, reading the CSRF field.

#![allow(dead_code)]

use super::common::{http, Server};

/// A user agent with a cookie jar.
#[derive(Default)]
pub struct Agent {
    cookies: Vec<String>,
    /// Whether the last flow showed the consent page.
    pub consent_asked: bool,
}

impl Agent {
    fn cookie_header(&self) -> String {
        self.cookies.join("; ")
    }

    fn remember(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            self.cookies.push(pair);
        }
    }

    /// Open `authorize_url`, log in as `username`/`password` when asked, answer consent with
    /// `approve`, and return the final `Location` (the client's redirect URI with the answer).
    pub async fn authorize(
        &mut self,
        s: &Server,
        authorize_url: &str,
        username: &str,
        password: &str,
        approve: bool,
    ) -> String {
        let c = http();
        self.consent_asked = false;
        let res = c.get(authorize_url).header("cookie", self.cookie_header()).send().await.unwrap();
        let mut location = res.headers()["location"].to_str().unwrap().to_owned();
        for _ in 0..4 {
            if !location.starts_with('/') {
                break;
            }
            let id = location.split("interaction=").nth(1).unwrap().to_owned();
            let page = c.get(s.url(&location)).header("cookie", self.cookie_header()).send().await.unwrap();
            self.remember(&page);
            let html = page.text().await.unwrap();
            let csrf =
                html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
            let enc = |v: &str| super::common::form_encode(&[("v", v)])[2..].to_owned();
            let (path, body) = if location.starts_with("/login") {
                (
                    "/login",
                    format!(
                        "interaction={id}&csrf={csrf}&username={}&password={}",
                        enc(username),
                        enc(password)
                    ),
                )
            } else {
                self.consent_asked = true;
                let decision = if approve { "approve" } else { "deny" };
                ("/consent", format!("interaction={id}&csrf={csrf}&decision={decision}"))
            };
            let res = c
                .post(s.url(path))
                .header("cookie", self.cookie_header())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            self.remember(&res);
            location = res.headers()["location"].to_str().unwrap().to_owned();
        }
        location
    }
}

/// A query parameter of a URL (form-decoded).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).ok()?;
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}
