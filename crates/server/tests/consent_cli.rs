//! `portcullis consent list|revoke` against consents given through the real pages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{http, Server};

/// Follow one authorization request through login and consent with plain HTTP; returns the
/// final Location (the client's redirect URI with code or error) and whether consent was asked.
async fn flow(s: &Server, client_id: &str, cookies: &mut Vec<String>) -> (String, bool) {
    let c = http();
    let cookie_header = |cookies: &Vec<String>| cookies.join("; ");
    let remember = |res: &reqwest::Response, cookies: &mut Vec<String>| {
        for v in res.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap().split(';').next().unwrap().to_owned();
            let name = pair.split('=').next().unwrap().to_owned();
            cookies.retain(|c| !c.starts_with(&format!("{name}=")));
            cookies.push(pair);
        }
    };
    let url = s.url(&format!(
        "/authorize?response_type=code&client_id={client_id}&state=s1&scope=notes:read\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    ));
    let res = c.get(url).header("cookie", cookie_header(cookies)).send().await.unwrap();
    let mut location = res.headers()["location"].to_str().unwrap().to_owned();
    let mut asked = false;
    for _ in 0..4 {
        if !location.starts_with('/') {
            break;
        }
        let id = location.split("interaction=").nth(1).unwrap().to_owned();
        let page = c.get(s.url(&location)).header("cookie", cookie_header(cookies)).send().await.unwrap();
        remember(&page, cookies);
        let html = page.text().await.unwrap();
        let csrf = html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        let (path, body) = if location.starts_with("/login") {
            ("/login", format!("interaction={id}&csrf={csrf}&username=alice&password=pw-alice-1"))
        } else {
            asked = true;
            ("/consent", format!("interaction={id}&csrf={csrf}&decision=approve"))
        };
        let res = c
            .post(s.url(path))
            .header("cookie", cookie_header(cookies))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        remember(&res, cookies);
        location = res.headers()["location"].to_str().unwrap().to_owned();
    }
    (location, asked)
}

#[tokio::test]
async fn consent_list_and_revoke_make_the_page_ask_again() {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--description", "Read your notes", "--json"]).json();
    s.user("alice", "pw-alice-1", &[]);
    let (id, _) =
        s.client(&["--name", "Notes", "--redirect-uri", "https://notes.example/cb", "--scope", "notes:read"]);
    let mut cookies = Vec::new();
    let (loc, asked) = flow(&s, &id, &mut cookies).await;
    assert!(loc.starts_with("https://notes.example/cb?code="), "{loc}");
    assert!(asked, "first request asks for consent");
    let (loc, asked) = flow(&s, &id, &mut cookies).await;
    assert!(loc.contains("code=") && !asked, "remembered consent skips the page");

    let list = s.cli(&["consent", "list", "--json"]).json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["username"], "alice");
    assert_eq!(list[0]["client_id"], id.as_str());
    assert_eq!(list[0]["scope"], "notes:read");
    let filtered = s.cli(&["consent", "list", "--user", "alice", "--client", &id, "--json"]).json();
    assert_eq!(filtered.as_array().unwrap().len(), 1);

    let r = s.cli(&["consent", "revoke", "--user", "alice", "--client", &id, "--json"]).json();
    assert_eq!(r["client_id"], id.as_str());
    assert_eq!(s.cli(&["consent", "list", "--json"]).json(), serde_json::json!([]));
    let again = s.cli(&["consent", "revoke", "--user", "alice", "--client", &id]);
    assert_ne!(again.status, 0);
    assert!(again.stderr.starts_with("error: "), "{}", again.stderr);

    let (loc, asked) = flow(&s, &id, &mut cookies).await;
    assert!(loc.contains("code=") && asked, "after revoke the page asks again");
}
