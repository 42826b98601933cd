//! The page's HTML, rendered on the server from a [`Snapshot`]: pure functions, no I/O.
//!
//! Each live section is rendered on its own, so that the event stream can send only the
//! sections that changed and the script swaps them in. Every value from outside (modem
//! replies, numbers, URLs, errors) goes through [`esc`]. Message texts are never rendered
//! here: the page fetches one on request.

use super::view::{FlowStats, ModemCard, Snapshot};
use crate::store::dashboard::Funnel;
use std::fmt::Write;

/// Who is looking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Viewer {
    /// Logged in with an API key: sees what the API shows, may retry deliveries.
    Operator { csrf: String },
    /// `ui.read_only_on_loopback`: numbers masked, no texts, no actions.
    ReadOnly,
}

impl Viewer {
    fn csrf(&self) -> Option<&str> {
        match self {
            Viewer::Operator { csrf } => Some(csrf),
            Viewer::ReadOnly => None,
        }
    }

    fn number(&self, n: &str) -> String {
        match self {
            Viewer::Operator { .. } => n.to_string(),
            Viewer::ReadOnly => mask(n),
        }
    }
}

/// The live sections, in page order: (id, heading).
pub const SECTIONS: &[(&str, &str)] = &[
    ("modems", "Modems"),
    ("traffic", "Queue and traffic"),
    ("messages", "Recent messages"),
    ("verifications", "Verifications (last 24 h)"),
    ("webhooks", "Webhooks"),
    ("activity", "Latest events"),
];

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number with its middle hidden: `+1555•••01`.
pub fn mask(n: &str) -> String {
    let chars: Vec<char> = n.chars().collect();
    if chars.len() <= 6 {
        return "•••".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}•••{tail}")
}

/// `<time>` with an RFC 3339 `datetime` (the script shows it in local time) and UTC text.
fn time(ms: i64) -> String {
    let iso = crate::api::rfc3339(ms);
    let hms = iso.get(11..19).unwrap_or("");
    format!("<time datetime=\"{iso}\">{hms}</time>")
}

fn or_dash(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty())
        .map(esc)
        .unwrap_or_else(|| "—".into())
}

/// A word with a colour class; the word carries the meaning, the colour only helps.
fn badge(word: &str) -> String {
    let tone = match word {
        "ready" | "delivered" | "verified" | "sent" | "enabled" | "home" => "ok",
        "failed" | "offline" | "no_sim" | "puk_required" | "locked" | "uncertain" | "disabled"
        | "denied" => "bad",
        "pending" | "queued" | "sending" | "submitting" | "initialising" | "pin_required"
        | "not_registered" | "roaming" | "searching" | "expired" | "cancelled" => "warn",
        _ => "info",
    };
    format!("<span class=\"badge {tone}\">{}</span>", esc(word))
}

/// Bars out of 4 for a signal in dBm (the steps phones use for GSM/LTE RSSI).
pub fn signal_bars(dbm: Option<i32>) -> u8 {
    match dbm {
        None => 0,
        Some(d) if d >= -73 => 4,
        Some(d) if d >= -83 => 3,
        Some(d) if d >= -93 => 2,
        Some(d) if d >= -109 => 1,
        Some(_) => 0,
    }
}

/// What the SIM is doing, in words, from the modem state and what it reported.
fn sim_state(card: &ModemCard) -> &'static str {
    use crate::modem::ModemState::*;
    match card.status.state {
        NoSim => "no SIM",
        PinRequired => "PIN required",
        PukRequired => "PUK required",
        Ready | NotRegistered => "ready",
        Initialising | Offline => {
            if card.status.imsi.is_some() {
                "seen (modem not answering)"
            } else {
                "unknown"
            }
        }
    }
}

fn modem_card(out: &mut String, i: usize, card: &ModemCard, viewer: &Viewer) {
    let s = &card.status;
    let state = s.state.as_str();
    // An offline modem's last reading is stale: no bars, the reading marked as the last one.
    let offline = s.state == crate::modem::ModemState::Offline;
    let bars = if offline {
        0
    } else {
        signal_bars(s.signal_dbm)
    };
    let signal = match (s.signal_dbm, offline) {
        (Some(d), false) => format!("{d} dBm"),
        (Some(d), true) => format!("no signal (last {d} dBm)"),
        (None, _) => "unknown".into(),
    };
    let _ = write!(
        out,
        "<article class=\"card modem s-{state}\" aria-labelledby=\"m{i}\" data-modem=\"{name}\">\
         <h3 id=\"m{i}\">{name}</h3><p class=\"state\">{badge}</p><dl>\
         <dt>Signal</dt><dd><span class=\"bars b{bars}\" aria-hidden=\"true\"><i></i><i></i><i></i><i></i></span> \
         <span>{signal}</span><span class=\"vh\"> ({bars} of 4 bars)</span></dd>\
         <dt>Network</dt><dd>{reg} · {op}</dd>\
         <dt>SIM</dt><dd>{sim}</dd>\
         <dt>Number</dt><dd>{number}</dd>\
         <dt>Queue</dt><dd>{queue}</dd>\
         <dt>Last error</dt><dd class=\"err\">{detail}</dd>\
         </dl>",
        name = esc(&s.name),
        badge = badge(state),
        reg = s
            .registration
            .as_deref()
            .map(badge)
            .unwrap_or_else(|| "—".into()),
        op = or_dash(s.operator.as_deref()),
        sim = sim_state(card),
        number = s
            .number
            .as_deref()
            .map(|n| esc(&viewer.number(n)))
            .unwrap_or_else(|| "—".into()),
        queue = card.queue_depth,
        detail = or_dash(s.detail.as_deref()),
    );
    out.push_str(
        "<table class=\"caps\"><caption>Parts sent under the caps</caption>\
         <thead><tr><td></td><th scope=\"col\">minute</th><th scope=\"col\">hour</th><th scope=\"col\">day</th></tr></thead><tbody><tr><th scope=\"row\">used</th>",
    );
    for (sent, cap) in card.sent.iter().zip(card.caps) {
        if cap == 0 {
            let _ = write!(out, "<td>{sent}</td>");
        } else {
            let _ = write!(out, "<td>{sent} / {cap}</td>");
        }
    }
    out.push_str("</tr><tr><th scope=\"row\">left</th>");
    for (sent, cap) in card.sent.iter().zip(card.caps) {
        if cap == 0 {
            out.push_str("<td>no cap</td>");
        } else {
            let _ = write!(out, "<td>{}</td>", cap.saturating_sub(*sent));
        }
    }
    let _ = write!(
        out,
        "</tr></tbody></table><p class=\"small\">Since start: sent {} parts, {} send failures, received {}.</p></article>",
        s.sent_parts, s.send_failures, s.received
    );
}

fn modems(out: &mut String, snap: &Snapshot, viewer: &Viewer) {
    if snap.modems.is_empty() {
        out.push_str("<p>No modems are configured. Add a <code>[[modem]]</code> table, or try <code>simgate run --simulate 2</code>.</p>");
        return;
    }
    let ready = snap
        .modems
        .iter()
        .filter(|m| m.status.state.can_send())
        .count();
    let _ = write!(
        out,
        "<p>{ready} of {} ready.</p><div class=\"cards\">",
        snap.modems.len()
    );
    for (i, card) in snap.modems.iter().enumerate() {
        modem_card(out, i, card, viewer);
    }
    out.push_str("</div>");
}

/// The last hour as four lines in a small inline SVG, with the numbers in a table beside it.
fn traffic(out: &mut String, snap: &Snapshot) {
    let t = &snap.traffic;
    let totals = t.iter().fold([0u32; 4], |mut a, b| {
        a[0] += b.sent;
        a[1] += b.delivered;
        a[2] += b.failed;
        a[3] += b.received;
        a
    });
    let _ = write!(
        out,
        "<p>Queue: <strong>{}</strong> waiting or being sent ({} not yet on a line).</p>",
        snap.queue_depth, snap.unassigned
    );
    let summary = format!(
        "Last hour: {} sent, {} delivered, {} failed, {} received",
        totals[0], totals[1], totals[2], totals[3]
    );
    // Grouped bars: one group per slice, one bar per series (a line chart of sparse counts
    // draws slopes that mean nothing).
    let (h, pad, bar, gap) = (80i64, 4i64, 5i64, 5i64);
    let group = 4 * bar + gap;
    let w = group * t.len().max(1) as i64 + gap;
    let max = t
        .iter()
        .flat_map(|b| [b.sent, b.delivered, b.failed, b.received])
        .max()
        .unwrap_or(0)
        .max(1) as i64;
    let y0 = h - pad;
    let _ = write!(
        out,
        "<figure><svg class=\"chart\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-labelledby=\"chart-t\"><title id=\"chart-t\">{summary}</title>\
         <line class=\"axis\" x1=\"0\" y1=\"{y0}\" x2=\"{w}\" y2=\"{y0}\"/>"
    );
    for (i, b) in t.iter().enumerate() {
        let values = [
            ("sent", b.sent),
            ("delivered", b.delivered),
            ("failed", b.failed),
            ("received", b.received),
        ];
        for (j, (name, value)) in values.into_iter().enumerate() {
            if value == 0 {
                continue;
            }
            let height = (i64::from(value) * (h - 2 * pad) / max).max(1);
            let _ = write!(
                out,
                "<rect class=\"l-{name}\" x=\"{}\" y=\"{}\" width=\"{bar}\" height=\"{height}\"/>",
                gap + i as i64 * group + j as i64 * bar,
                y0 - height
            );
        }
    }
    let _ = write!(
        out,
        "</svg><figcaption><ul class=\"legend\">\
         <li class=\"l-sent\">{} sent</li><li class=\"l-delivered\">{} delivered</li>\
         <li class=\"l-failed\">{} failed</li><li class=\"l-received\">{} received</li></ul>\
         <span class=\"small\">messages per 5 minutes over the last hour (peak {max})</span></figcaption></figure>",
        totals[0], totals[1], totals[2], totals[3]
    );
    out.push_str("<details id=\"traffic-table\"><summary>Numbers</summary><table><thead><tr><th scope=\"col\">from</th><th scope=\"col\">sent</th><th scope=\"col\">delivered</th><th scope=\"col\">failed</th><th scope=\"col\">received</th></tr></thead><tbody>");
    for b in t {
        let _ = write!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(b.start),
            b.sent,
            b.delivered,
            b.failed,
            b.received
        );
    }
    out.push_str("</tbody></table></details>");
}

fn messages(out: &mut String, snap: &Snapshot, viewer: &Viewer) {
    out.push_str("<h3>Outbound</h3>");
    if snap.outbound.is_empty() {
        out.push_str("<p>None yet.</p>");
    } else {
        out.push_str("<div class=\"scroll\"><table><thead><tr><th scope=\"col\">time</th><th scope=\"col\">id</th><th scope=\"col\">to</th><th scope=\"col\">for</th><th scope=\"col\">modem</th><th scope=\"col\">status</th><th scope=\"col\">parts</th></tr></thead><tbody>");
        for m in &snap.outbound {
            let _ = write!(
                out,
                "<tr data-message=\"{id}\"><td>{t}</td><td><code>{id}</code></td><td>{to}</td><td>{purpose}</td><td>{modem}</td><td class=\"status\">{status}{err}</td><td><ol class=\"parts\">",
                t = time(m.created_at),
                id = esc(&m.id),
                to = esc(&viewer.number(&m.to)),
                purpose = esc(&m.purpose),
                modem = or_dash(m.modem.as_deref()),
                status = badge(&m.status),
                err = m
                    .error
                    .as_deref()
                    .map(|e| format!("<br><span class=\"err\">{}</span>", esc(e)))
                    .unwrap_or_default(),
            );
            for p in &m.parts {
                let _ = write!(out, "<li>{}</li>", badge(p));
            }
            out.push_str("</ol></td></tr>");
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str("<h3>Inbound</h3>");
    if snap.inbound.is_empty() {
        out.push_str("<p>None yet.</p>");
        return;
    }
    out.push_str("<p class=\"small\">Texts are hidden: they may hold codes.</p><div class=\"scroll\"><table><thead><tr><th scope=\"col\">time</th><th scope=\"col\">id</th><th scope=\"col\">from</th><th scope=\"col\">modem</th><th scope=\"col\">parts</th><th scope=\"col\">text</th></tr></thead><tbody>");
    for m in &snap.inbound {
        let text = match viewer {
            Viewer::Operator { .. } => format!(
                "<a class=\"reveal\" href=\"/ui/inbound/{id}/text\" data-reveal=\"{id}\" aria-controls=\"t-{id}\">Show text</a> <output class=\"text\" id=\"t-{id}\"></output>",
                id = esc(&m.id)
            ),
            Viewer::ReadOnly => "<span class=\"small\">log in to read</span>".into(),
        };
        let _ = write!(
            out,
            "<tr data-inbound=\"{id}\"><td>{t}</td><td><code>{id}</code></td><td>{from}</td><td>{modem}</td><td>{parts}{incomplete}</td><td>{text}</td></tr>",
            t = time(m.received_at),
            id = esc(&m.id),
            from = esc(&if m.sender_type == "alphanumeric" {
                m.from.clone()
            } else {
                viewer.number(&m.from)
            }),
            modem = esc(&m.modem),
            parts = m.parts_total,
            incomplete = if m.complete { "" } else { " (incomplete)" },
        );
    }
    out.push_str("</tbody></table></div>");
}

fn funnel_row(out: &mut String, label: &str, f: &Funnel) {
    let rate = f
        .conversion()
        .map(|r| format!("{:.0} %", r * 100.0))
        .unwrap_or_else(|| "—".into());
    let _ = write!(
        out,
        "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{rate}</td></tr>",
        esc(label),
        f.started,
        f.verified,
        f.pending,
        f.expired,
        f.failed,
        f.cancelled
    );
}

fn flow(out: &mut String, title: &str, id: &str, stats: &FlowStats, viewer: &Viewer) {
    let _ = write!(
        out,
        "<h3>{title}</h3><div class=\"scroll\"><table class=\"funnel\"><thead><tr><th scope=\"col\">country</th><th scope=\"col\">started</th><th scope=\"col\">verified</th><th scope=\"col\">pending</th><th scope=\"col\">expired</th><th scope=\"col\">failed</th><th scope=\"col\">cancelled</th><th scope=\"col\">conversion</th></tr></thead><tbody>"
    );
    funnel_row(out, "all", &stats.total);
    for (country, f) in &stats.per_country {
        funnel_row(out, country.as_deref().unwrap_or("unknown"), f);
    }
    out.push_str("</tbody></table></div>");
    if stats.recent.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<details id=\"recent-{id}\" open><summary>Latest</summary><ul class=\"recent\">"
    );
    for v in &stats.recent {
        let _ = write!(
            out,
            "<li data-verification=\"{vid}\">{t} <code>{vid}</code> {number} {status}{when}</li>",
            t = time(v.created_at),
            vid = esc(&v.id),
            number = esc(&viewer.number(&v.number)),
            status = badge(&v.status),
            when = v
                .verified_at
                .map(|at| format!(" at {}", time(at)))
                .unwrap_or_default(),
        );
    }
    out.push_str("</ul></details>");
}

fn verifications(out: &mut String, snap: &Snapshot, viewer: &Viewer) {
    flow(out, "Codes by SMS", "otp", &snap.standard, viewer);
    flow(
        out,
        "Reverse (texted to us)",
        "reverse",
        &snap.reverse,
        viewer,
    );
}

/// A URL as the read-only view shows it: scheme and host only (paths may hold tokens).
fn url_for(viewer: &Viewer, url: &str) -> String {
    match viewer {
        Viewer::Operator { .. } => url.to_string(),
        Viewer::ReadOnly => match url::Url::parse(url) {
            Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or("")),
            Err(_) => "…".into(),
        },
    }
}

fn webhooks(out: &mut String, snap: &Snapshot, viewer: &Viewer) {
    out.push_str("<h3>Endpoints</h3>");
    if snap.endpoints.is_empty() {
        out.push_str(
            "<p>None. Add a <code>[[webhook]]</code> table or POST /v1/webhooks/endpoints.</p>",
        );
    } else {
        out.push_str("<ul class=\"endpoints\">");
        for e in &snap.endpoints {
            let _ = write!(
                out,
                "<li><code>{url}</code> {status} <span class=\"small\">{source:?} · {events}{reason}</span></li>",
                url = esc(&url_for(viewer, &e.url)),
                status = badge(if e.disabled_reason.is_some() {
                    "disabled"
                } else {
                    "enabled"
                }),
                source = e.source,
                events = esc(&e.events.join(", ")),
                reason = e
                    .disabled_reason
                    .as_deref()
                    .map(|r| format!(" · {}", esc(r)))
                    .unwrap_or_default(),
            );
        }
        out.push_str("</ul>");
    }
    out.push_str("<h3>Recent deliveries</h3>");
    if snap.deliveries.is_empty() {
        out.push_str("<p>None yet.</p>");
        return;
    }
    out.push_str("<ul class=\"deliveries\">");
    for d in &snap.deliveries {
        let _ = write!(
            out,
            "<li data-delivery=\"{id}\"><details id=\"d-{id}\"><summary>{t} {kind} → <code>{url}</code> {status} <span class=\"small\">{n} attempt{s}{code}</span></summary>",
            id = esc(&d.id),
            t = time(d.created_at),
            kind = esc(&d.event_type),
            url = esc(&url_for(viewer, &d.url)),
            status = badge(d.status.as_str()),
            n = d.attempt_count,
            s = if d.attempt_count == 1 { "" } else { "s" },
            code = d
                .last_status_code
                .map(|c| format!(", last HTTP {c}"))
                .unwrap_or_default(),
        );
        let attempts = d.attempts.as_deref().unwrap_or_default();
        if attempts.is_empty() {
            out.push_str("<p class=\"small\">No attempt yet.</p>");
        } else {
            out.push_str("<ol class=\"attempts\">");
            for a in attempts {
                let result = match (a.status_code, a.error.as_deref()) {
                    (Some(code), _) => format!("HTTP {code}"),
                    (None, Some(e)) => esc(e),
                    (None, None) => "no answer".into(),
                };
                let _ = write!(
                    out,
                    "<li>{} {result} <span class=\"small\">{} ms</span></li>",
                    time(a.at),
                    a.duration_ms
                );
            }
            out.push_str("</ol>");
        }
        if let Some(csrf) = viewer.csrf() {
            let _ = write!(
                out,
                "<form method=\"post\" action=\"/ui/webhooks/deliveries/{id}/retry\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><button type=\"submit\">Retry now</button></form>",
                id = esc(&d.id),
                csrf = esc(csrf),
            );
        }
        out.push_str("</details></li>");
    }
    out.push_str("</ul>");
}

fn activity(out: &mut String, snap: &Snapshot) {
    if snap.events.is_empty() {
        out.push_str("<p>Nothing yet.</p>");
        return;
    }
    out.push_str("<ol class=\"events\">");
    for e in &snap.events {
        let subject: Vec<String> = e
            .subject
            .iter()
            .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
            .collect();
        let _ = write!(
            out,
            "<li>{} <strong>{}</strong> <span class=\"small\">{}</span></li>",
            time(e.created_at),
            esc(&e.kind),
            subject.join(" ")
        );
    }
    out.push_str("</ol>");
}

/// The inner HTML of one live section.
pub fn section(id: &str, snap: &Snapshot, viewer: &Viewer) -> String {
    let mut out = String::with_capacity(4096);
    match id {
        "modems" => modems(&mut out, snap, viewer),
        "traffic" => traffic(&mut out, snap),
        "messages" => messages(&mut out, snap, viewer),
        "verifications" => verifications(&mut out, snap, viewer),
        "webhooks" => webhooks(&mut out, snap, viewer),
        "activity" => activity(&mut out, snap),
        _ => {}
    }
    out
}

fn head(out: &mut String, title: &str) {
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"color-scheme\" content=\"light dark\">\
         <title>{}</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/ui/assets/style.css?v={:x}\">",
        esc(title),
        super::assets::VERSION
    );
}

fn login_form(out: &mut String, error: Option<&str>) {
    out.push_str(
        "<form class=\"login\" method=\"post\" action=\"/ui/login\"><h2 id=\"h-login\">Log in</h2>",
    );
    if let Some(e) = error {
        let _ = write!(
            out,
            "<p class=\"alert\" role=\"alert\" id=\"login-error\">{}</p>",
            esc(e)
        );
    }
    let described = if error.is_some() {
        " aria-describedby=\"login-error\" aria-invalid=\"true\""
    } else {
        ""
    };
    let _ = write!(
        out,
        "<label for=\"api_key\">API key</label>\
         <input id=\"api_key\" name=\"api_key\" type=\"password\" autocomplete=\"current-password\" required{described}>\
         <button type=\"submit\">Log in</button>\
         <p class=\"small\">Any key from <code>auth.api_keys</code>. The key stays on the server; your browser keeps a session cookie.</p></form>"
    );
}

/// The login page (no session).
pub fn login_page(error: Option<&str>) -> String {
    let mut out = String::with_capacity(2048);
    head(&mut out, "simgate — log in");
    out.push_str("</head><body><main id=\"main\" class=\"narrow\"><h1>simgate status</h1>");
    login_form(&mut out, error);
    out.push_str("</main></body></html>");
    out
}

/// The whole status page.
pub fn page(snap: &Snapshot, viewer: &Viewer, flash: Option<&str>) -> String {
    let mut out = String::with_capacity(32 * 1024);
    head(&mut out, "simgate status");
    let _ = write!(
        out,
        "<script src=\"/ui/assets/app.js?v={:x}\" defer></script></head><body data-live=\"/ui/events\">\
         <a class=\"skip\" href=\"#main\">Skip to content</a><header><h1>simgate status</h1><nav aria-label=\"Sections\"><ul>",
        super::assets::VERSION
    );
    for (id, title) in SECTIONS {
        let short = title.split(" (").next().unwrap_or(title);
        let _ = write!(out, "<li><a href=\"#{id}\">{}</a></li>", esc(short));
    }
    out.push_str("</ul></nav><p id=\"live\" role=\"status\" class=\"small\">Live updates need JavaScript; reload to refresh.</p>");
    if let Some(csrf) = viewer.csrf() {
        let _ = write!(
            out,
            "<form method=\"post\" action=\"/ui/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Log out</button></form>",
            esc(csrf)
        );
    }
    out.push_str("</header><main id=\"main\">");
    if let Some(text) = flash {
        let _ = write!(
            out,
            "<p class=\"flash\" role=\"status\" id=\"flash\">{}</p>",
            esc(text)
        );
    }
    if *viewer == Viewer::ReadOnly {
        out.push_str("<div class=\"readonly\"><p><strong>Read-only view</strong> (this computer). Numbers are masked, texts hidden, actions off.</p>");
        login_form(&mut out, None);
        out.push_str("</div>");
    }
    for (id, title) in SECTIONS {
        let live = if *id == "activity" {
            " aria-live=\"polite\""
        } else {
            ""
        };
        let _ = write!(
            out,
            "<section id=\"{id}\" aria-labelledby=\"h-{id}\"><h2 id=\"h-{id}\">{}</h2><div id=\"live-{id}\"{live}>{}</div></section>",
            esc(title),
            section(id, snap, viewer)
        );
    }
    let _ = write!(
        out,
        "</main><footer class=\"small\">simgate {} · rendered {}</footer></body></html>",
        env!("CARGO_PKG_VERSION"),
        time(snap.now)
    );
    out
}

#[cfg(test)]
mod tests;
