//! `portcullis consent list|revoke` against consents given through the real pages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[path = "support/flow.rs"]
mod flow;

use common::Server;
use flow::Agent;

async fn flow(s: &Server, client_id: &str, agent: &mut Agent) -> (String, bool) {
    let url = s.url(&format!(
        "/authorize?response_type=code&client_id={client_id}&state=s1&scope=notes:read\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    ));
    let location = agent.authorize(s, &url, "alice", "pw-alice-1", true).await;
    (location, agent.consent_asked)
}

#[tokio::test]
async fn consent_list_and_revoke_make_the_page_ask_again() {
    let s = Server::start();
    s.cli(&["scope", "create", "notes:read", "--description", "Read your notes", "--json"]).json();
    s.user("alice", "pw-alice-1", &[]);
    let (id, _) =
        s.client(&["--name", "Notes", "--redirect-uri", "https://notes.example/cb", "--scope", "notes:read"]);
    let mut cookies = Agent::default();
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
