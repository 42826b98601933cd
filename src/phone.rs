//! Phone numbers: reading what people type into E.164, telling the country of a number, and
//! writing a number the way people of a country read it.
//!
//! Built on the `phonenumber` crate (a port of Google's libphonenumber, with its metadata for
//! every country). A hand-made table was the alternative; it gets trunk prefixes (Italy keeps
//! its leading 0, most others drop it), international dialling prefixes (`00`, `011`, `810`…),
//! shared calling codes (+1 is 25 countries, +7 two) and national groupings wrong for most of
//! the world, and those mistakes land exactly where a verification product cannot afford them:
//! the allow-list and the number a person is asked to text. The cost: the metadata is a
//! compact binary blob in the binary, built into some 4 MiB of heap by the first number read
//! (not at start-up: [`is_known_country`] answers from a static list), and its regexes compile
//! lazily and are all run on one thread ([`on_phone_thread`]), which bounds their search
//! caches; see BENCHMARKS.md, "Process" and "Soak".
//!
//! Validity is deliberately *not* required: libphonenumber rejects fictional ranges that are
//! real in test labs and simulators (`+1 555 …`). A number is accepted when it is E.164-shaped,
//! its calling code exists, and it has a length the country's numbering plan allows.
//!
//! One flaw of the crate is worked around: its parser applies national-prefix stripping to
//! numbers written internationally too (`+55 11 98765-4321` loses its area code 11,
//! `+86 139…` its leading 1). So internationally written input (`+`, `00`, or the default
//! country's own international prefix such as `011`) is read here digit for digit, and the crate
//! parses only national formats; numbers handed to its region detection and formatting are
//! built from exact digits.

use phonenumber::{country, Mode, NationalNumber, PhoneNumber};
use std::sync::{mpsc, OnceLock};

/// Why a number was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("not a phone number")]
    NotANumber,
    #[error("unknown default country {0:?}")]
    UnknownCountry(String),
    #[error("no country has this calling code")]
    UnknownCallingCode,
    #[error("the number has a length no number of its country has")]
    ImpossibleLength,
}

/// Reads user input (`"(415) 555-0100"`, `"07700 900123"`, `"+44 7700 900123"`,
/// `"0044 7700 900123"`, `"011 44 7700 900123"` in the US, `"tel:+1-415-555-0100"`) as E.164
/// (`"+14155550100"`); national formats are read as numbers of `default_country` (ISO 3166
/// alpha-2, any case).
pub fn normalize(input: &str, default_country: &str) -> Result<String, PhoneError> {
    static SEEN: Memo<Result<String, PhoneError>> = Memo::new();
    let key = format!("{input}\u{0}{default_country}");
    SEEN.get_or(&key, || {
        let (input, country) = (input.to_string(), default_country.to_string());
        on_phone_thread(move || normalize_here(&input, &country))
    })
}

/// An E.164-shaped string whose calling code exists and whose length its plan allows.
fn checked_e164(e164: String) -> Result<String, PhoneError> {
    if !crate::config::is_e164(&e164) {
        return Err(PhoneError::NotANumber);
    }
    let number = exact(&e164).ok_or(PhoneError::UnknownCallingCode)?;
    let region = region_of(&number);
    if !has_possible_length(&number, region.as_deref()) {
        return Err(PhoneError::ImpossibleLength);
    }
    COUNTRIES.remember(&e164, region);
    Ok(e164)
}

fn normalize_here(input: &str, default_country: &str) -> Result<String, PhoneError> {
    let region = region_id(default_country)?;
    let cleaned = clean(input).ok_or(PhoneError::NotANumber)?;
    let e164 = if let Some(digits) = cleaned.strip_prefix('+') {
        format!("+{digits}")
    } else if let Some(digits) = strip_international_prefix(&cleaned, region) {
        format!("+{digits}")
    } else {
        let parsed =
            phonenumber::parse(Some(region), &cleaned).map_err(|_| PhoneError::NotANumber)?;
        let national = parsed.national().to_string();
        // National-prefix stripping only ever removes leading digits.
        if !cleaned.ends_with(&national) {
            return Err(PhoneError::NotANumber);
        }
        parsed.format().mode(Mode::E164).to_string()
    };
    checked_e164(e164)
}

/// The country (ISO 3166 alpha-2, upper case) of an E.164 number, `None` when it is not E.164
/// or its calling code is not a country's (`+800`, `+882`…). For a calling code shared by
/// several countries, the number's digits decide; a number in no country's ranges
/// (`+1 555 …`) belongs to the calling code's main country.
pub fn country_of(e164: &str) -> Option<String> {
    COUNTRIES.get_or(e164, || {
        let e164 = e164.to_string();
        on_phone_thread(move || country_of_here(&e164))
    })
}

/// Countries of numbers seen recently; [`normalize`] fills it too (it finds the country to
/// check the length), so the country asked for next is no second trip to the phone thread.
static COUNTRIES: Memo<Option<String>> = Memo::new();

/// The last answers for numbers seen recently: a request asks about one number several times
/// (the allow-list, the text, the masked form), and a reverse OTP asks again when the text
/// arrives. Each libphonenumber answer costs a hop to the phone thread and tens of
/// microseconds of regular expressions. Bounded: cleared when full.
struct Memo<T> {
    answers: std::sync::Mutex<Option<std::collections::HashMap<String, T>>>,
}

impl<T: Clone> Memo<T> {
    const CAPACITY: usize = 512;

    const fn new() -> Memo<T> {
        Memo {
            answers: std::sync::Mutex::new(None),
        }
    }

    fn get_or(&self, key: &str, compute: impl FnOnce() -> T) -> T {
        let lock = || self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = lock().as_ref().and_then(|m| m.get(key)) {
            return found.clone();
        }
        let value = compute();
        let mut answers = lock();
        let map = answers.get_or_insert_with(Default::default);
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key.to_string(), value.clone());
        value
    }

    /// Remembers an answer found on the way to another.
    fn remember(&self, key: &str, value: T) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        let map = answers.get_or_insert_with(Default::default);
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key.to_string(), value);
    }
}

fn country_of_here(e164: &str) -> Option<String> {
    region_of(&exact(e164)?)
}

/// The country calling code of an E.164 number (`1` for `+1 415…`, `44`, `882`…), `None` when
/// it is not E.164 or no numbering plan has that code. Numbers of countries that share a code
/// (the 25 of +1, RU and KZ on +7…) share it here too.
pub fn calling_code(e164: &str) -> Option<u16> {
    // A table look-up, no regular expression: any thread may do it.
    exact(e164).map(|n| n.code().value())
}

/// The number as people in `viewer_country` would dial it: national format for a number of
/// that country (`"(555) 000-0001"`, `"07700 900123"`), international format otherwise
/// (`"+44 7700 900123"`). Input that is not E.164 comes back unchanged.
pub fn format_for(e164: &str, viewer_country: Option<&str>) -> String {
    static SEEN: Memo<String> = Memo::new();
    let key = format!("{e164} {}", viewer_country.unwrap_or(""));
    SEEN.get_or(&key, || {
        let (e164, viewer) = (e164.to_string(), viewer_country.map(str::to_string));
        on_phone_thread(move || format_for_here(&e164, viewer.as_deref()))
    })
}

fn format_for_here(e164: &str, viewer_country: Option<&str>) -> String {
    let Some(number) = exact(e164) else {
        return e164.to_string();
    };
    let same_country = match (viewer_country, region_of(&number)) {
        (Some(viewer), Some(own)) => viewer.eq_ignore_ascii_case(&own),
        _ => false,
    };
    let mode = if same_country {
        Mode::National
    } else {
        Mode::International
    };
    number.format().mode(mode).to_string()
}

/// The national format of an E.164 number (`"(555) 000-0001"`); only tests compare against it.
#[cfg(test)]
fn format_national(e164: &str) -> String {
    match exact(e164) {
        Some(number) => number.format().mode(Mode::National).to_string(),
        None => e164.to_string(),
    }
}

/// The number with all but its country code and last four digits hidden, grouped the way
/// libphonenumber writes the country's numbers internationally, groups joined by `-` and no
/// space after the country code: `+14155557890` → `"+1***-***-7890"`, `+447700900123` →
/// `"+44****-**0123"`, `+33612345678` → `"+33*-**-**-56-78"`. Short national numbers keep at
/// least half their digits hidden. Input that is not E.164 gives `"***"` (nothing of it is
/// shown).
pub fn mask(e164: &str) -> String {
    static SEEN: Memo<String> = Memo::new();
    SEEN.get_or(e164, || {
        let e164 = e164.to_string();
        on_phone_thread(move || mask_here(&e164))
    })
}

fn mask_here(e164: &str) -> String {
    let Some(number) = exact(e164) else {
        return "***".into();
    };
    let code = number.code().value().to_string();
    let formatted = number.format().mode(Mode::International).to_string();
    // "+1 415-555-7890" → "415-555-7890"; a format without the code prefix: digits alone.
    let national_part = formatted
        .strip_prefix(&format!("+{code}"))
        .map(str::trim_start)
        .filter(|rest| {
            rest.chars().filter(char::is_ascii_digit).count() == e164.len() - 1 - code.len()
        })
        .map(String::from)
        .unwrap_or_else(|| e164[1 + code.len()..].to_string());
    let digits = national_part.chars().filter(char::is_ascii_digit).count();
    let shown = 4.min(digits / 2);
    let mut seen = 0;
    let mut out = format!("+{code}");
    for c in national_part.chars() {
        if c.is_ascii_digit() {
            seen += 1;
            out.push(if seen > digits - shown { c } else { '*' });
        } else if !out.ends_with('-') && !out.ends_with(&format!("+{code}")) {
            out.push('-');
        }
    }
    out
}

/// Runs `f` on the one thread that matches libphonenumber's regular expressions, and waits for
/// its answer (a panic in `f` is raised again here).
///
/// Why one thread: the crate compiles each expression once (into a shared cache), but the
/// `regex` crate gives every thread that runs an expression a search cache of its own, kept
/// for the life of the expression. Called from the runtime's blocking pool, whose threads come
/// and go, that was up to nine caches per expression and the resident heap grew for minutes
/// (BENCHMARKS.md, "Memory and flat over time"). The crate already serialises all matching
/// behind one lock, so one thread costs no parallelism; a call is two thread hand-offs
/// (microseconds). The thread also renews the expressions now and then ([`Renewal`]).
fn on_phone_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    type Job = Box<dyn FnOnce() + Send>;
    static JOBS: OnceLock<mpsc::Sender<Job>> = OnceLock::new();
    thread_local! {
        static ON_PHONE_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    if ON_PHONE_THREAD.with(|on| on.get()) {
        return f();
    }
    let jobs = JOBS.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("phone".into())
            .spawn(move || {
                ON_PHONE_THREAD.with(|on| on.set(true));
                let mut renewal = Renewal::default();
                loop {
                    let job = if renewal.due_when_quiet() {
                        match receiver.recv_timeout(Renewal::QUIET) {
                            Ok(job) => job,
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                renewal.renewed(renew_expressions());
                                continue;
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    } else {
                        match receiver.recv() {
                            Ok(job) => job,
                            Err(mpsc::RecvError) => break,
                        }
                    };
                    job();
                    if renewal.answered() {
                        renewal.renewed(renew_expressions());
                    }
                }
            });
        if let Err(e) = spawned {
            panic!("cannot start the phone-number thread: {e}");
        }
        sender
    });
    let (answer, answered) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = answer.send(result);
    });
    match jobs.send(job).ok().and_then(|()| answered.recv().ok()) {
        Some(Ok(value)) => value,
        Some(Err(panic)) => std::panic::resume_unwind(panic),
        None => panic!("the phone-number thread is gone"),
    }
}

/// When the phone thread drops libphonenumber's compiled expressions.
///
/// Why: each `regex` expression keeps a lazy-DFA cache that gains states with every new
/// number it reads, up to the crate's default of 2 MiB per expression; the crate's own cache
/// keeps up to 100 expressions and gives no say over either. A soak's heap grew by about
/// 3 MiB an hour, most of it these caches (BENCHMARKS.md, "What the heap grows"). Dropping the
/// expressions drops their caches; they compile again on next use, some 12 ms for one
/// country's set, so it is done after enough new answers for their states to be worth
/// dropping, at the first quiet moment, and after many more whatever the traffic.
#[derive(Debug, Default)]
struct Renewal {
    answers_since: u32,
}

impl Renewal {
    /// Answers computed since the last renewal before one is due at a quiet moment.
    const AFTER: u32 = 512;
    /// … and before one is due at once, quiet or not.
    const AT_LATEST: u32 = 8 * Self::AFTER;
    /// No job for this long is a quiet moment.
    const QUIET: std::time::Duration = std::time::Duration::from_millis(250);

    /// Counts one answer; `true` when a renewal is due now.
    fn answered(&mut self) -> bool {
        self.answers_since += 1;
        self.answers_since >= Self::AT_LATEST
    }

    /// Whether the thread should renew if no job comes within [`Renewal::QUIET`].
    fn due_when_quiet(&self) -> bool {
        self.answers_since >= Self::AFTER
    }

    fn renewed(&mut self, dropped: usize) {
        tracing::debug!(
            answers = self.answers_since,
            dropped,
            "phone-number expressions renewed"
        );
        self.answers_since = 0;
    }
}

/// Drops every compiled libphonenumber expression and its search cache; returns how many.
/// Only the phone thread calls it (its expressions are not in use meanwhile).
fn renew_expressions() -> usize {
    let cache = phonenumber::metadata::DATABASE.cache();
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    let dropped = cache.len() + PATTERNS.with(|p| p.borrow().len());
    cache.clear();
    PATTERNS.with(|p| p.borrow_mut().clear());
    dropped
}

/// Is `code` an ISO 3166 alpha-2 country the numbering metadata knows? Answered from
/// [`REGIONS`], without loading the metadata: configuration is checked with this at start-up,
/// and the metadata (some 4 MiB of heap once built) waits for the first number.
pub fn is_known_country(code: &str) -> bool {
    let upper = code.trim().to_ascii_uppercase();
    upper.len() == 2 && REGIONS.binary_search(&upper.as_str()).is_ok()
}

/// The countries of the `phonenumber` crate's metadata (its version 0.3.10+9.0.33), sorted.
/// `tests::the_region_list_is_the_metadata_s` fails when an update of the crate changes them.
const REGIONS: [&str; 245] = [
    "AC", "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO",
    "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG",
    "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG",
    "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GT", "GU", "GW", "GY", "HK", "HN", "HR", "HT",
    "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE",
    "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR",
    "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN",
    "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF",
    "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL",
    "PM", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD",
    "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY",
    "SZ", "TA", "TC", "TD", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW",
    "TZ", "UA", "UG", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "XK",
    "YE", "YT", "ZA", "ZM", "ZW",
];

/// Input without visual separators: digits with at most a leading `+`. `None` for anything
/// else (letters are not read as keypad digits: in a verification request they are a mistake).
fn clean(input: &str) -> Option<String> {
    let trimmed = input.trim();
    let trimmed = trimmed.strip_prefix("tel:").unwrap_or(trimmed);
    if trimmed.chars().count() > 64 {
        return None;
    }
    let mut out = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        match c {
            '0'..='9' => out.push(c),
            '+' if i == 0 => out.push(c),
            ' ' | '\t' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' | '\u{2011}' | '\u{2013}' => {}
            _ => return None,
        }
    }
    let digits = out.trim_start_matches('+');
    (!digits.is_empty()).then_some(out)
}

/// The digits after an international call prefix: `00` (used by most of the world, and never
/// the start of a national number) or the default country's own (`011`, `810`…).
fn strip_international_prefix(digits: &str, region: country::Id) -> Option<String> {
    if let Some(rest) = digits.strip_prefix("00") {
        return Some(rest.to_string());
    }
    let meta = phonenumber::metadata::DATABASE.by_id(region.as_ref())?;
    let found = meta.international_prefix()?.find(digits)?;
    (found.start() == 0 && found.end() < digits.len()).then(|| digits[found.end()..].to_string())
}

/// An E.164 number as the crate's type, built from its exact digits: the calling code is the
/// prefix (1 to 3 digits; E.164 codes are prefix-free) that the metadata knows.
fn exact(e164: &str) -> Option<PhoneNumber> {
    if !crate::config::is_e164(e164) {
        return None;
    }
    let digits = &e164[1..];
    let (code, national) = (1..=3).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        phonenumber::metadata::DATABASE
            .region(&code)
            .map(|_| (code, &digits[len..]))
    })?;
    let zeros = national.chars().take_while(|&c| c == '0').count();
    let value: u64 = if zeros == national.len() {
        0
    } else {
        national[zeros..].parse().ok()?
    };
    let national = NationalNumber::new(value, u8::try_from(zeros).ok()?).ok()?;
    // The crate has no public constructor; its serde form is the stable way to build one.
    serde_json::from_value(serde_json::json!({
        "code": { "value": code, "source": "plus" },
        "national": national,
        "extension": null,
        "carrier": null,
    }))
    .ok()
}

fn region_id(code: &str) -> Result<country::Id, PhoneError> {
    let upper = code.trim().to_ascii_uppercase();
    if upper.len() != 2 {
        return Err(PhoneError::UnknownCountry(code.to_string()));
    }
    let id: country::Id = upper
        .parse()
        .map_err(|_| PhoneError::UnknownCountry(code.to_string()))?;
    // The id list is wider than the metadata (it has every ISO code): insist on metadata.
    phonenumber::metadata::DATABASE
        .by_id(id.as_ref())
        .map(|_| id)
        .ok_or_else(|| PhoneError::UnknownCountry(code.to_string()))
}

fn region_of(number: &PhoneNumber) -> Option<String> {
    let national = number.national().value().to_string();
    if let Some(id) = matched_region(number.code().value(), &national) {
        return Some(id);
    }
    let regions = phonenumber::metadata::DATABASE.by_code(&number.code().value())?;
    let main = regions
        .iter()
        .find(|m| m.is_main_country_for_code())
        .or_else(|| (regions.len() == 1).then(|| &regions[0]))?;
    let id = main.id();
    // "001" is the pseudo-region of non-geographic codes.
    (id.len() == 2).then(|| id.to_string())
}

/// The region whose numbering plan has `national` under calling code `code`, decided as
/// libphonenumber decides it (the crate's `validator::source_for`: the only region of the code;
/// else the first, in the metadata's order, whose leading digits start the number or, without
/// leading digits, whose plan gives the number a type). The crate's own path looks each
/// expression up by its source text in a locked LRU of 100, for every match (eleven for one
/// British mobile number, dozens for a +1 number no region claims), and compiles again what
/// the LRU let go; the expressions here are compiled once per phone thread ([`PATTERNS`])
/// from the same sources, and renewed with the crate's.
fn matched_region(code: u16, national: &str) -> Option<String> {
    use phonenumber::Type;
    let database = &*phonenumber::metadata::DATABASE;
    let regions = database.region(&code)?;
    let known = |region: &str| region.parse::<country::Id>().is_ok();
    if let [only] = regions[..] {
        return known(only).then(|| only.to_string());
    }
    // Every type libphonenumber's `number_type` tries; a number of none of them is `Unknown`.
    const TYPES: [Type; 10] = [
        Type::PremiumRate,
        Type::TollFree,
        Type::SharedCost,
        Type::Voip,
        Type::PersonalNumber,
        Type::Pager,
        Type::Uan,
        Type::Voicemail,
        Type::FixedLine,
        Type::Mobile,
    ];
    let matches = |desc: &phonenumber::metadata::Descriptor| {
        let lengths = desc.possible_length();
        (lengths.is_empty() || lengths.contains(&(national.len() as u16)))
            && starts_with_match(desc.national_number().as_str(), national)
    };
    regions.into_iter().find_map(|region| {
        let meta = database.by_id(region)?;
        let here = match meta.leading_digits() {
            Some(leading) => starts_with_match(leading.as_str(), national),
            None => {
                let descriptors = meta.descriptors();
                matches(descriptors.general())
                    && TYPES
                        .iter()
                        .filter_map(|&t| descriptors.get(t))
                        .any(matches)
            }
        };
        (here && known(region)).then(|| region.to_string())
    })
}

thread_local! {
    /// [`matched_region`]'s expressions, by source text, anchored at the start. Only the phone
    /// thread fills it; [`renew_expressions`] empties it.
    static PATTERNS: std::cell::RefCell<std::collections::HashMap<String, Option<regex::Regex>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Whether a match of libphonenumber's expression `source` starts `text` (the crate's test:
/// its leftmost match begins at 0). An expression that does not compile matches nothing.
fn starts_with_match(source: &str, text: &str) -> bool {
    PATTERNS.with(|patterns| {
        let mut patterns = patterns.borrow_mut();
        if !patterns.contains_key(source) {
            // As the crate builds them (whitespace ignored); the newline ends a trailing comment.
            let anchored = regex::RegexBuilder::new(&format!("^(?:{source}\n)"))
                .ignore_whitespace(true)
                .build()
                .ok();
            patterns.insert(source.to_string(), anchored);
        }
        patterns[source]
            .as_ref()
            .is_some_and(|re| re.is_match(text))
    })
}

fn has_possible_length(number: &PhoneNumber, region: Option<&str>) -> bool {
    let Some(region) = region else {
        // Non-geographic codes: the E.164 shape check is all there is.
        return true;
    };
    let Some(meta) = phonenumber::metadata::DATABASE.by_id(region) else {
        return true;
    };
    let national_len = number.national().to_string().len() as u16;
    let lengths = meta.descriptors().general().possible_length();
    lengths.is_empty() || lengths.contains(&national_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_numbers_keep_country_code_grouping_and_last_four() {
        assert_eq!(mask("+14155557890"), "+1***-***-7890");
        assert_eq!(mask("+447700900123"), "+44****-**0123");
        assert_eq!(mask("+33612345678"), "+33*-**-**-56-78");
        assert_eq!(mask("+4930123456"), "+49**-**3456");
        let br = mask("+5511987654321");
        assert!(br.starts_with("+55") && br.ends_with("4321"), "{br}");
        assert_eq!(br.matches('*').count(), 7, "{br}");
        assert_eq!(mask("not a number"), "***");
        assert_eq!(mask("+1415"), "***");
        // Only the country code and the last four digits are shown; every other digit is a star.
        for (n, code) in [
            ("+14155557890", "1"),
            ("+447700900123", "44"),
            ("+33612345678", "33"),
            ("+5511987654321", "55"),
        ] {
            let m = mask(n);
            let shown: String = m.chars().filter(char::is_ascii_digit).collect();
            assert_eq!(shown, format!("{code}{}", &n[n.len() - 4..]), "{m}");
            assert_eq!(m.matches('*').count(), n.len() - 1 - code.len() - 4, "{m}");
        }
    }

    #[test]
    fn national_formats_with_default_country() {
        assert_eq!(normalize("(415) 555-0100", "US").unwrap(), "+14155550100");
        assert_eq!(normalize("415.555.0100", "us").unwrap(), "+14155550100");
        assert_eq!(normalize("1 415 555 0100", "US").unwrap(), "+14155550100");
        assert_eq!(normalize("07700 900123", "GB").unwrap(), "+447700900123");
        assert_eq!(normalize("06 12 34 56 78", "FR").unwrap(), "+33612345678");
        assert_eq!(normalize("030 123456", "DE").unwrap(), "+4930123456");
        // Italy keeps the leading 0 of fixed lines in international format.
        assert_eq!(normalize("06 1234 5678", "IT").unwrap(), "+390612345678");
    }

    #[test]
    fn international_formats_ignore_the_default_country() {
        assert_eq!(normalize("+44 7700 900123", "US").unwrap(), "+447700900123");
        assert_eq!(
            normalize("0044 7700 900123", "GB").unwrap(),
            "+447700900123"
        );
        assert_eq!(
            normalize("011 44 7700 900123", "US").unwrap(),
            "+447700900123"
        );
        assert_eq!(
            normalize("+1 (555) 000-0001", "GB").unwrap(),
            "+15550000001"
        );
        assert_eq!(
            normalize("tel:+1-415-555-0100", "DE").unwrap(),
            "+14155550100"
        );
        assert_eq!(normalize("  +15550000001 ", "US").unwrap(), "+15550000001");
        assert_eq!(
            normalize("810 7 916 123-45-67", "RU").unwrap(),
            "+79161234567"
        );
    }

    /// Numbers whose leading digits look like a national or carrier prefix keep them when
    /// written internationally (the crate's parser would drop them).
    #[test]
    fn international_numbers_keep_every_digit() {
        for (input, e164, country) in [
            ("+55 11 98765-4321", "+5511987654321", "BR"),
            ("+86 139 1234 5678", "+8613912345678", "CN"),
            ("+7 800 555-35-35", "+78005553535", "RU"),
            ("+39 06 1234 5678", "+390612345678", "IT"),
            ("+54 9 11 1234-5678", "+5491112345678", "AR"),
            ("+52 55 1234 5678", "+525512345678", "MX"),
            ("+61 412 345 678", "+61412345678", "AU"),
            ("+81 90-1234-5678", "+819012345678", "JP"),
        ] {
            assert_eq!(normalize(input, "US").as_deref(), Ok(e164), "{input}");
            assert_eq!(country_of(e164).as_deref(), Some(country), "{input}");
        }
        // National formats still go through libphonenumber's prefix rules.
        assert_eq!(
            normalize("(11) 98765-4321", "BR").unwrap(),
            "+5511987654321"
        );
        assert_eq!(
            normalize("8 (916) 123-45-67", "RU").unwrap(),
            "+79161234567"
        );
        assert_eq!(normalize("139 1234 5678", "CN").unwrap(), "+8613912345678");
    }

    #[test]
    fn rubbish_is_refused() {
        for bad in [
            "",
            "   ",
            "hello",
            "+",
            "12",
            "555-FLOWERS",
            "+1 415 555 0100 999 999 999 999",
            "++44",
            "☎️",
            "+1 415 555 0100 ext. 12",
            "+999 123456789",
            "0",
        ] {
            assert!(normalize(bad, "US").is_err(), "{bad:?} was accepted");
        }
        assert!(matches!(
            normalize("4155550100", "XX"),
            Err(PhoneError::UnknownCountry(_))
        ));
        assert!(matches!(
            normalize("415550", "US"),
            Err(PhoneError::ImpossibleLength | PhoneError::NotANumber)
        ));
    }

    #[test]
    fn countries_of_numbers() {
        assert_eq!(country_of("+14155550100").as_deref(), Some("US"));
        assert_eq!(country_of("+16135550100").as_deref(), Some("CA"));
        // Fictional +1 555 numbers belong to the main country of +1.
        assert_eq!(country_of("+15550000001").as_deref(), Some("US"));
        assert_eq!(country_of("+447700900123").as_deref(), Some("GB"));
        assert_eq!(country_of("+33612345678").as_deref(), Some("FR"));
        assert_eq!(country_of("+5511987654321").as_deref(), Some("BR"));
        assert_eq!(country_of("+79161234567").as_deref(), Some("RU"));
        assert_eq!(country_of("447700900123"), None);
        assert_eq!(country_of("+80012345678"), None);
    }

    #[test]
    fn calling_codes() {
        assert_eq!(calling_code("+14155550100"), Some(1));
        assert_eq!(calling_code("+16135550100"), Some(1));
        assert_eq!(calling_code("+447700900123"), Some(44));
        assert_eq!(calling_code("+35312345678"), Some(353));
        assert_eq!(calling_code("+79161234567"), Some(7));
        assert_eq!(calling_code("447700900123"), None);
        assert_eq!(calling_code("+999123456789"), None);
    }

    #[test]
    fn formatting_for_a_viewer() {
        assert_eq!(format_for("+15550000001", Some("US")), "(555) 000-0001");
        assert_eq!(format_for("+447700900123", Some("gb")), "07700 900123");
        assert_eq!(format_for("+447700900123", Some("US")), "+44 7700 900123");
        assert_eq!(format_for("+15550000001", None), "+1 555-000-0001");
        assert_eq!(format_national("+33612345678"), "06 12 34 56 78");
        assert_eq!(format_for("+5511987654321", Some("BR")), "(11) 98765-4321");
        assert_eq!(format_for("+390612345678", Some("IT")), "06 1234 5678");
        assert_eq!(format_for("garbage", Some("US")), "garbage");
    }

    /// Whichever thread asks, the work runs on the one phone thread (so each expression keeps
    /// one search cache); a call made there runs in place, and a panic comes back to the caller.
    /// Remembered answers are the answers, and the memo stays bounded.
    #[test]
    fn remembered_answers_are_the_answers_and_bounded() {
        let memo: Memo<Option<String>> = Memo::new();
        let mut computed = 0;
        for (round, count) in [(0, 300), (1, 300), (2, 600)] {
            for i in 0..count {
                let number = format!("+4477009{i:05}");
                let answer = memo.get_or(&number, || {
                    computed += 1;
                    country_of_here(&number)
                });
                assert_eq!(answer, country_of_here(&number), "round {round}");
            }
        }
        let held = memo.answers.lock().unwrap().as_ref().map_or(0, |m| m.len());
        assert!(held <= Memo::<Option<String>>::CAPACITY, "{held}");
        assert!(
            computed <= 300 + 600,
            "the second round was remembered ({computed} computed)"
        );
        assert_eq!(
            normalize("+44 7700 900123", "US"),
            normalize("+447700900123", "US")
        );
        assert_eq!(
            normalize("07700 900123", "GB").as_deref(),
            Ok("+447700900123")
        );
    }

    #[test]
    fn number_work_runs_on_one_thread() {
        let names: Vec<String> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    on_phone_thread(|| std::thread::current().name().map(String::from))
                })
            })
            .map(|t| t.join().unwrap().unwrap_or_default())
            .collect();
        assert_eq!(names, vec!["phone"; 4]);
        let nested = on_phone_thread(|| country_of("+447700900123"));
        assert_eq!(nested.as_deref(), Some("GB"));
        let panicked = std::panic::catch_unwind(|| on_phone_thread(|| panic!("in the job")));
        assert!(panicked.is_err());
        assert_eq!(
            mask("+447700900123"),
            "+44****-**0123",
            "the thread survives a panic"
        );
    }

    /// The region found here is libphonenumber's own answer (the crate's `country().id()`)
    /// for every example number of every region, and for random numbers of every length each
    /// region allows, under every calling code.
    #[test]
    fn matched_regions_are_libphonenumber_s() {
        use phonenumber::Type;
        let database = &*phonenumber::metadata::DATABASE;
        let mut seed: u64 = 0x5eed;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        let (mut compared, mut shared, mut past_the_first) = (0, 0, 0);
        for code in 1..=999u16 {
            let Some(regions) = database.region(&code) else {
                continue;
            };
            shared += usize::from(regions.len() > 1);
            let mut nationals: Vec<String> = Vec::new();
            for region in &regions {
                let meta = database.by_id(*region).unwrap();
                let descriptors = meta.descriptors();
                for kind in [Type::Unknown, Type::FixedLine, Type::Mobile, Type::TollFree] {
                    if let Some(example) = descriptors.get(kind).and_then(|d| d.example()) {
                        nationals.push(example.to_string());
                    }
                }
                let mut lengths: Vec<u16> = [Type::Unknown, Type::FixedLine, Type::Mobile]
                    .iter()
                    .filter_map(|&t| descriptors.get(t))
                    .flat_map(|d| d.possible_length().iter().copied())
                    .collect();
                lengths.sort_unstable();
                lengths.dedup();
                if lengths.is_empty() {
                    lengths = vec![8, 9, 10];
                }
                for len in lengths {
                    for _ in 0..40 {
                        nationals.push(
                            (0..len)
                                .map(|_| char::from(b'0' + (next() % 10) as u8))
                                .collect(),
                        );
                    }
                }
            }
            for national in nationals {
                let Some(number) = exact(&format!("+{code}{national}")) else {
                    continue;
                };
                let value = number.national().value().to_string();
                let found = matched_region(code, &value);
                assert_eq!(
                    found,
                    number.country().id().map(|id| id.as_ref().to_string()),
                    "+{code} {national}"
                );
                compared += 1;
                past_the_first +=
                    usize::from(regions.len() > 1 && found.is_some_and(|f| f != regions[0]));
            }
        }
        assert!(
            shared >= 10,
            "calling codes shared by several regions: {shared}"
        );
        assert!(compared > 15_000, "numbers compared: {compared}");
        // Not only each code's first region: the search over shared codes is exercised.
        assert!(
            past_the_first > 100,
            "found past the first region: {past_the_first}"
        );
    }

    /// A number read by `normalize` has its country remembered on the way.
    #[test]
    fn normalizing_remembers_the_country() {
        let e164 = normalize("07781 123457", "GG").unwrap();
        assert_eq!(e164, "+447781123457");
        let remembered = COUNTRIES
            .answers
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|m| m.get(&e164).cloned());
        // Another test may have just cleared the memo when full; then nothing is claimed.
        if let Some(country) = remembered {
            assert_eq!(country.as_deref(), Some("GG"));
        }
        assert_eq!(country_of(&e164).as_deref(), Some("GG"));
    }

    /// Renewal waits for enough new answers, then for a quiet moment, and comes at the
    /// latest after many more; each renewal starts the count again.
    #[test]
    fn renewal_waits_for_answers_then_quiet() {
        let mut renewal = Renewal::default();
        for _ in 1..Renewal::AFTER {
            assert!(!renewal.answered());
        }
        assert!(!renewal.due_when_quiet());
        assert!(!renewal.answered());
        assert!(
            renewal.due_when_quiet(),
            "enough answers: at the next quiet moment"
        );
        for _ in Renewal::AFTER + 1..Renewal::AT_LATEST {
            assert!(!renewal.answered(), "busy: not yet");
        }
        assert!(renewal.answered(), "busy for long: now");
        renewal.renewed(0);
        assert!(!renewal.due_when_quiet());
        assert!(!renewal.answered());
    }

    /// Dropping the compiled expressions changes no answer; they compile again on use.
    #[test]
    fn renewed_expressions_give_the_same_answers() {
        let numbers = [
            "+447700900456",
            "+441481700123",
            "+12425550123",
            "+77012345678",
        ];
        let ask = || -> Vec<(Option<String>, String, String)> {
            numbers
                .iter()
                .map(|n| {
                    let n = n.to_string();
                    on_phone_thread(move || {
                        (
                            country_of_here(&n),
                            mask_here(&n),
                            format_for_here(&n, Some("GB")),
                        )
                    })
                })
                .collect()
        };
        let before = ask();
        // One job: nothing else runs on the phone thread between the two steps.
        let (dropped, left) = on_phone_thread(|| {
            let dropped = renew_expressions();
            (dropped, renew_expressions())
        });
        assert!(dropped > 0, "the questions compiled expressions");
        assert_eq!(left, 0, "all were dropped");
        assert_eq!(ask(), before);
        assert_eq!(
            before.iter().map(|a| a.0.as_deref()).collect::<Vec<_>>(),
            [Some("GB"), Some("GG"), Some("BS"), Some("KZ")]
        );
    }

    /// Every two-letter code, in both cases: the static list answers as the metadata does.
    #[test]
    fn the_region_list_is_the_metadata_s() {
        assert!(REGIONS.windows(2).all(|w| w[0] < w[1]), "REGIONS is sorted");
        for a in 'A'..='Z' {
            for b in 'A'..='Z' {
                for code in [format!("{a}{b}"), format!("{a}{b}").to_lowercase()] {
                    assert_eq!(
                        is_known_country(&code),
                        region_id(&code).is_ok(),
                        "{code}: regenerate REGIONS from the crate's metadata"
                    );
                }
            }
        }
    }

    #[test]
    fn known_countries() {
        assert!(is_known_country("US"));
        assert!(is_known_country("gb"));
        assert!(!is_known_country("XX"));
        assert!(!is_known_country("USA"));
    }
}
