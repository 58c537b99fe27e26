//! The router: path and method → typed method → [`Response`].

use crate::time::UnixTime;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use rand_core::CryptoRngCore;

use super::{
    Method, NotifyBroker, NotifyError, NotifyEvent, Reply, Request, Response, MAX_BODY_BYTES,
};

/// Whether `path` belongs to the broker: `/checkin`, `/notify`, or anything under `/notify/`.
pub fn is_notify_path(path: &str) -> bool {
    path == "/checkin" || path == "/notify" || path.starts_with("/notify/")
}

/// Which endpoint a path names (ids borrowed from the path).
enum Route<'p> {
    Checkin,
    Session,
    EventNew,
    EventCheck(&'p str),
    EventCancel(&'p str),
    AllByPid,
    EventData(&'p str, &'p str),
    RegisterInit,
    RegisterCheck(&'p str),
    RegisterFinalise(&'p str),
    Challenge(&'p str),
    SubscribersList,
    SubscribersDelete,
}

impl Route<'_> {
    fn allows(&self, m: Method) -> bool {
        match self {
            Route::Session => matches!(m, Method::Get | Method::Post),
            Route::EventCheck(_) | Route::RegisterCheck(_) => m == Method::Get,
            Route::EventCancel(_) => m == Method::Delete,
            Route::EventData(..) | Route::Challenge(_) => {
                matches!(m, Method::Get | Method::Post | Method::Delete)
            }
            Route::Checkin
            | Route::EventNew
            | Route::AllByPid
            | Route::RegisterInit
            | Route::RegisterFinalise(_)
            | Route::SubscribersList
            | Route::SubscribersDelete => m == Method::Post,
        }
    }
}

/// One non-empty path segment.
fn id(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

fn route(path: &str) -> Option<Route<'_>> {
    if path == "/checkin" {
        return Some(Route::Checkin);
    }
    let rest = path.strip_prefix("/notify/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let r = match parts.as_slice() {
        ["session"] => Route::Session,
        ["event", "new"] => Route::EventNew,
        ["event", "check", e] => Route::EventCheck(id(e)?),
        ["event", "data", "allbypid"] => Route::AllByPid,
        ["event", "data", e, p] => Route::EventData(id(e)?, id(p)?),
        // `new`, `check` and `data` name other endpoints, never an event.
        ["event", e] if !matches!(*e, "new" | "check" | "data") => Route::EventCancel(id(e)?),
        ["register", "init"] => Route::RegisterInit,
        ["register", "check", r] => Route::RegisterCheck(id(r)?),
        ["register", "finalise", r] => Route::RegisterFinalise(id(r)?),
        ["register", "challenge", r] => Route::Challenge(id(r)?),
        ["subscribers", "list"] => Route::SubscribersList,
        ["subscribers", "delete"] => Route::SubscribersDelete,
        _ => return None,
    };
    Some(r)
}

fn answer<R: Reply>(result: Result<R, NotifyError>) -> Response {
    match result {
        Ok(r) => Response {
            status: r.status(),
            body: r.body(),
            events: Vec::new(),
        },
        Err(e) => Response {
            status: e.status(),
            body: e.body(),
            events: Vec::new(),
        },
    }
}

fn refuse(e: NotifyError) -> Response {
    answer::<super::Empty>(Err(e))
}

pub(super) fn handle(
    broker: &mut NotifyBroker,
    req: &Request<'_>,
    now: UnixTime,
    rng: &mut impl CryptoRngCore,
) -> Response {
    if req.body.len() > MAX_BODY_BYTES {
        return refuse(NotifyError::TooLarge);
    }
    let Some(r) = route(req.path) else {
        return refuse(NotifyError::NoSuchPath);
    };
    if !r.allows(req.method) {
        return refuse(NotifyError::MethodNotAllowed);
    }
    let (m, body, peer) = (req.method, req.body, req.peer);
    match r {
        Route::Checkin => answer(broker.checkin(body, now)),
        Route::Session if m == Method::Get => answer(broker.open_session(now, rng)),
        Route::Session => answer(broker.open_bound_session(body, now, rng)),
        Route::EventNew => answer(broker.event_new(body, peer, now, rng)),
        Route::EventCheck(e) => answer(broker.event_check(e, now)),
        Route::EventCancel(e) => answer(broker.event_cancel(e)),
        Route::AllByPid => answer(broker.events_by_pid(body, now)),
        Route::EventData(e, p) => match m {
            Method::Get => answer(broker.event_data(e, p, now)),
            Method::Post => answer(broker.event_answer(e, p, body, peer, now)),
            _ => answer(broker.event_deny(e, p, now)),
        },
        Route::RegisterInit => {
            let result = broker.register_init(body, peer, req.base_url, now, rng);
            let event = result.as_ref().ok().map(|r| NotifyEvent::LinkRegistered {
                rid: r.rid.clone(),
                link: r.link.clone(),
            });
            with_events(answer(result), event)
        }
        Route::RegisterCheck(r) => answer(broker.register_check(r, now)),
        Route::RegisterFinalise(r) => {
            let result = broker.register_finalise(r, body, now);
            let changed = result.is_ok().then_some(NotifyEvent::SubscribersChanged);
            with_events(answer(result), changed)
        }
        Route::Challenge(r) => match m {
            Method::Get => answer(broker.register_link(r, now)),
            Method::Post => answer(broker.register_answer(r, body, now, rng)),
            _ => answer(broker.register_refuse(r, body, now)),
        },
        Route::SubscribersList => answer(broker.subscribers_list(body, now)),
        Route::SubscribersDelete => {
            let result = broker.subscribers_delete(body, now);
            let changed = result.is_ok().then_some(NotifyEvent::SubscribersChanged);
            with_events(answer(result), changed)
        }
    }
}

fn with_events(mut response: Response, event: Option<NotifyEvent>) -> Response {
    if let Some(e) = event {
        response.events = vec![e];
    }
    response
}

/// A path of the registration link: `<base_url>/notify/register/challenge/<rid>`.
pub(super) fn link(base_url: &str, rid: &str) -> String {
    let mut link = String::with_capacity(base_url.len() + 29 + rid.len());
    link.push_str(base_url);
    link.push_str("/notify/register/challenge/");
    link.push_str(rid);
    link
}
