//! The three verifiers agree on the benchmark token: all accept it, all reject it tampered,
//! all reject it expired. So the token_verify benches time equivalent work.
#![allow(clippy::unwrap_used)]

use hem_auth_benches::{
    access_token, unix_now, verify_hem, Peers, Rejected, TOKEN_CHARS, TOKEN_KEY,
    TOKEN_LIFETIME_SECS,
};

#[test]
fn the_token_has_the_measured_size() {
    assert_eq!(access_token(unix_now()).len(), TOKEN_CHARS);
}

#[test]
fn all_three_accept_the_token() {
    let now = unix_now();
    let token = access_token(now);
    let peers = Peers::new(&TOKEN_KEY);
    let ours = verify_hem(&token, &hem_auth_benches::hem_key(), now);
    assert_eq!(ours, Ok((12 + 24 + 44, now + TOKEN_LIFETIME_SECS)));
    assert_eq!(peers.verify_jsonwebtoken(&token), ours);
    assert_eq!(peers.verify_jwt_simple(&token), ours);
}

#[test]
fn all_three_reject_a_tampered_token() {
    let now = unix_now();
    // Flip the signature's first character: canonical base64, wrong MAC.
    let token = access_token(now);
    let at = token.rfind('.').unwrap() + 1;
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    let token = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    let peers = Peers::new(&TOKEN_KEY);
    assert_eq!(
        verify_hem(&token, &hem_auth_benches::hem_key(), now),
        Err(Rejected::Invalid)
    );
    assert_eq!(peers.verify_jsonwebtoken(&token), Err(Rejected::Invalid));
    assert_eq!(peers.verify_jwt_simple(&token), Err(Rejected::Invalid));
}

#[test]
fn all_three_reject_an_expired_token() {
    // Issued two lifetimes ago: past every library's clock tolerance (jwt-simple 15 min,
    // jsonwebtoken 60 s).
    let now = unix_now();
    let token = access_token(now - 2 * TOKEN_LIFETIME_SECS);
    let peers = Peers::new(&TOKEN_KEY);
    assert_eq!(
        verify_hem(&token, &hem_auth_benches::hem_key(), now),
        Err(Rejected::Expired)
    );
    assert_eq!(peers.verify_jsonwebtoken(&token), Err(Rejected::Expired));
    assert!(peers.verify_jwt_simple(&token).is_err());
}
