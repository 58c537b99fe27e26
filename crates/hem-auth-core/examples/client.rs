//! A client of an HEM over HTTP, written only with the public API: password login, pairing a
//! phone (this program plays the phone too, and draws the pid a notify broker would assign),
//! an external-authenticator login that phone approves, and a bearer call.
//!
//! ```text
//! HEM_PASSWORD=secret cargo run -p hem-emulator -- --listen 127.0.0.1:8080     # one terminal
//! HEM_PASSWORD=secret cargo run -p hem-auth-core --example client -- http://127.0.0.1:8080
//! ```
//!
//! The URL is the first argument, else `HEM_URL`, else `http://127.0.0.1:8080`; the password is
//! `HEM_PASSWORD`. The protocol steps are the lines between `// 1.` and the end of `main`; the
//! rest is HTTP.

use hem_auth_core::authenticator::{
    reply_to_pairing, AuthenticatorPairing, UnverifiedPairingRequest, PERIODS,
};
use hem_auth_core::client::{ExtLogin, PairingInit, PasswordLogin, Pid};
use hem_auth_core::keys::SecretKey;
use hem_auth_core::rand_core::OsRng;
use hem_auth_core::{Access, Seconds, UnixTime};

type Error = Box<dyn std::error::Error>;

fn main() {
    if let Err(e) = run() {
        // Each layer of an error chain prints once.
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(inner) = source {
            text = format!("{text}: {inner}");
            source = inner.source();
        }
        eprintln!("client: {text}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let url = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("HEM_URL").ok())
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let password = std::env::var("HEM_PASSWORD").map_err(|_| "set HEM_PASSWORD")?;
    let hem = Hem { url };
    let now = UnixTime::now();

    // 1. Password login, for a token that may pair phones.
    let challenge = hem.get("/api/auth/token", None)?;
    let (body, login) = PasswordLogin::start_with_passphrase(
        &challenge,
        &password,
        "system:config",
        now,
        Seconds::new(600),
    )?;
    let eid = login.challenge().eid();
    let admin = login.finish(&hem.post("/api/auth/token", None, &body)?)?;
    println!(
        "1. password login: scope {}, expires {}",
        admin.scope(),
        admin.exp()
    );

    // 2. Pairing a phone: the client's steps, with the phone's in between.
    let (body, pairing) = PairingInit::start(Some(eid), &mut OsRng);
    let response = hem.post("/api/auth/ext/init", Some(admin.token()), &body)?;
    let pairing = pairing.verify_init(&response, now)?;
    //    (the phone scans the QR code, reads the request and replies)
    let seen = UnverifiedPairingRequest::parse(pairing.request().request())?;
    let aid = SecretKey::generate(&mut OsRng);
    let reply = reply_to_pairing(&aid, &seen, "example phone", "no-push-token")?;
    let pid = Pid::generate(&mut OsRng); // a notify broker would assign it
    let (body, pairing) = pairing.validate_body(&pid, &reply.reply);
    let kid = pairing.verify(&hem.post("/api/auth/ext/validate", Some(admin.token()), &body)?)?;
    let phone = AuthenticatorPairing::from_pid(pid, eid, aid)?;
    println!("2. paired: pid {pid}, kid {kid}");

    // 3. External-authenticator login, approved on the phone.
    let (body, ext) =
        ExtLogin::start("keymgmt:list", Some("example"), None, Some(eid), &mut OsRng)?;
    let ext = ext.verify_response(&hem.post("/api/auth/ext/request", None, &body)?, now)?;
    let event = ext
        .authreq()
        .event(&pid)
        .ok_or("the authreq has no entry for the phone")?;
    let opened = phone.open_event(&event, UnixTime::now())?;
    println!("   the phone shows: {}", opened.display_scope());
    let approval = opened.approve(UnixTime::now(), PERIODS[0], Access::ReadOnly)?;
    let (body, ext) = ext.token_body(&approval.authreply);
    let token = ext.finish(&hem.post("/api/auth/ext/token", None, &body)?)?;
    println!(
        "3. external login: scope {}, sub {}",
        token.scope(),
        token.sub()
    );

    // 4. A bearer call with that token.
    let keys = hem.get("/api/keymgmt/list", Some(token.token()))?;
    println!(
        "4. GET /api/keymgmt/list: {}",
        String::from_utf8_lossy(&keys)
    );
    Ok(())
}

/// The HTTP side: JSON bodies in and out, an optional bearer token.
struct Hem {
    url: String,
}

impl Hem {
    fn get(&self, path: &str, bearer: Option<&str>) -> Result<Vec<u8>, Error> {
        let mut request = ureq::get(format!("{}{path}", self.url));
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request.call().map_err(|e| format!("GET {path}: {e}"))?;
        Ok(response.body_mut().read_to_vec()?)
    }

    fn post(&self, path: &str, bearer: Option<&str>, body: &str) -> Result<Vec<u8>, Error> {
        let mut request =
            ureq::post(format!("{}{path}", self.url)).header("Content-Type", "application/json");
        if let Some(token) = bearer {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let mut response = request
            .send(body)
            .map_err(|e| format!("POST {path}: {e}"))?;
        Ok(response.body_mut().read_to_vec()?)
    }
}
