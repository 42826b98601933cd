//! Message templates per language for the code SMS and the reverse-OTP instruction.
//!
//! Three layers, first match wins: a request's own `templates`/`template`, the operator's
//! `[otp.templates]` / `[otp.reverse_templates]`, then the built-in texts below (43 languages).
//!
//! The code SMS is always one SMS part. Built-in texts of Latin-script languages keep to the
//! GSM-7 alphabet (letters it lacks, such as Polish "ó" or Romanian "ț", are written without
//! their accents, as SMS senders in those countries commonly do), so that a code SMS has 160
//! characters, not the 70 of UCS-2; texts in other scripts are UCS-2 and short enough for 70
//! with a 10-character code, a 32-character app name and a 4-digit minute count (tested).
//! Operator and request templates are held to the same rule (refused when they would need a
//! second part). "min" avoids singular/plural forms. The reverse-OTP instruction is shown on a
//! screen, not sent by SMS, so it keeps every accent.
//!
//! Placeholders: `{{code}}` (alias `{{pin}}`, sms.cx's name; one of them is required),
//! `{{name}}`, `{{minutes}}`; reverse: `{{factor}}` and `{{to}}` (both required).

use crate::codec::{plan, Encoding};
use std::collections::BTreeMap;

/// Longest app name put into a message: a long name would split the SMS.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest template accepted (before rendering).
pub const MAX_TEMPLATE_CHARS: usize = 480;
/// Minutes assumed when checking that a template always fits one part: a day.
#[cfg(test)]
const WORST_CASE_MINUTES: u64 = 1440;

struct Builtin {
    /// Lower-case language tag (`"pt"`, `"zh-tw"`).
    lang: &'static str,
    /// With `{{name}}`.
    named: &'static str,
    /// When no app name was given.
    unnamed: &'static str,
    /// Reverse OTP: `{{factor}}` and `{{to}}`.
    reverse: &'static str,
}

const fn b(
    lang: &'static str,
    named: &'static str,
    unnamed: &'static str,
    reverse: &'static str,
) -> Builtin {
    Builtin {
        lang,
        named,
        unnamed,
        reverse,
    }
}

#[rustfmt::skip]
const BUILTIN: &[Builtin] = &[
    b("en", "Your {{name}} code is {{code}}. It expires in {{minutes}} min.",
        "Your verification code is {{code}}. It expires in {{minutes}} min.",
        "Text {{factor}} to {{to}}"),
    b("es", "Tu codigo de {{name}} es {{code}}. Caduca en {{minutes}} min.",
        "Tu codigo de verificacion es {{code}}. Caduca en {{minutes}} min.",
        "Envía {{factor}} por SMS al {{to}}"),
    b("fr", "Votre code {{name}} est {{code}}. Il expire dans {{minutes}} min.",
        "Votre code de vérification est {{code}}. Il expire dans {{minutes}} min.",
        "Envoyez {{factor}} par SMS au {{to}}"),
    b("de", "Ihr {{name}}-Code lautet {{code}}. Er ist {{minutes}} Min. gültig.",
        "Ihr Bestätigungscode lautet {{code}}. Er ist {{minutes}} Min. gültig.",
        "Senden Sie {{factor}} per SMS an {{to}}"),
    b("pt", "Seu codigo {{name}} é {{code}}. Expira em {{minutes}} min.",
        "Seu codigo de verificacao é {{code}}. Expira em {{minutes}} min.",
        "Envie {{factor}} por SMS para {{to}}"),
    b("it", "Il tuo codice {{name}} è {{code}}. Scade tra {{minutes}} min.",
        "Il tuo codice di verifica è {{code}}. Scade tra {{minutes}} min.",
        "Invia {{factor}} via SMS al {{to}}"),
    b("nl", "Je {{name}}-code is {{code}}. Verloopt over {{minutes}} min.",
        "Je verificatiecode is {{code}}. Verloopt over {{minutes}} min.",
        "Stuur {{factor}} per sms naar {{to}}"),
    b("sv", "Din kod för {{name}} är {{code}}. Den gäller i {{minutes}} min.",
        "Din verifieringskod är {{code}}. Den gäller i {{minutes}} min.",
        "Sms:a {{factor}} till {{to}}"),
    b("da", "Din {{name}}-kode er {{code}}. Den udløber om {{minutes}} min.",
        "Din bekræftelseskode er {{code}}. Den udløber om {{minutes}} min.",
        "Send {{factor}} som sms til {{to}}"),
    b("nb", "Din {{name}}-kode er {{code}}. Den utløper om {{minutes}} min.",
        "Din bekreftelseskode er {{code}}. Den utløper om {{minutes}} min.",
        "Send {{factor}} på SMS til {{to}}"),
    b("fi", "{{name}}-koodisi on {{code}}. Se vanhenee {{minutes}} min kuluttua.",
        "Vahvistuskoodisi on {{code}}. Se vanhenee {{minutes}} min kuluttua.",
        "Lähetä tekstiviesti {{factor}} numeroon {{to}}"),
    b("pl", "Twoj kod {{name}} to {{code}}. Wazny przez {{minutes}} min.",
        "Twoj kod weryfikacyjny to {{code}}. Wazny przez {{minutes}} min.",
        "Wyślij SMS o treści {{factor}} na numer {{to}}"),
    b("cs", "Vas kod pro {{name}} je {{code}}. Plati {{minutes}} min.",
        "Vas overovaci kod je {{code}}. Plati {{minutes}} min.",
        "Pošlete SMS s textem {{factor}} na číslo {{to}}"),
    b("sk", "Vas kod pre {{name}} je {{code}}. Plati {{minutes}} min.",
        "Vas overovaci kod je {{code}}. Plati {{minutes}} min.",
        "Pošlite SMS s textom {{factor}} na číslo {{to}}"),
    b("hu", "A(z) {{name}} kodod: {{code}}. {{minutes}} percig ervenyes.",
        "Ellenorzo kodod: {{code}}. {{minutes}} percig ervenyes.",
        "Küldd el SMS-ben a(z) {{factor}} kódot a(z) {{to}} számra"),
    b("ro", "Codul tau {{name}} este {{code}}. Expira in {{minutes}} min.",
        "Codul tau de verificare este {{code}}. Expira in {{minutes}} min.",
        "Trimite {{factor}} prin SMS la {{to}}"),
    b("hr", "Vas {{name}} kod je {{code}}. Vrijedi {{minutes}} min.",
        "Vas kod za potvrdu je {{code}}. Vrijedi {{minutes}} min.",
        "Pošaljite {{factor}} SMS-om na {{to}}"),
    b("sr", "Vas {{name}} kod je {{code}}. Vazi {{minutes}} min.",
        "Vas kod za potvrdu je {{code}}. Vazi {{minutes}} min.",
        "Pošaljite {{factor}} SMS-om na {{to}}"),
    b("sl", "Vasa koda za {{name}} je {{code}}. Velja {{minutes}} min.",
        "Vasa potrditvena koda je {{code}}. Velja {{minutes}} min.",
        "Pošljite {{factor}} po SMS na {{to}}"),
    b("et", "Sinu {{name}} kood on {{code}}. Kehtib {{minutes}} min.",
        "Sinu kinnituskood on {{code}}. Kehtib {{minutes}} min.",
        "Saada SMS {{factor}} numbrile {{to}}"),
    b("lv", "Jusu {{name}} kods ir {{code}}. Derigs {{minutes}} min.",
        "Jusu verifikacijas kods ir {{code}}. Derigs {{minutes}} min.",
        "Nosūtiet {{factor}} ar SMS uz {{to}}"),
    b("lt", "Jusu {{name}} kodas: {{code}}. Galioja {{minutes}} min.",
        "Jusu patvirtinimo kodas: {{code}}. Galioja {{minutes}} min.",
        "Išsiųskite {{factor}} SMS žinute numeriu {{to}}"),
    b("tr", "{{name}} dogrulama kodunuz: {{code}}. {{minutes}} dk gecerlidir.",
        "Dogrulama kodunuz: {{code}}. {{minutes}} dk gecerlidir.",
        "{{factor}} kodunu SMS ile {{to}} numarasına gönderin"),
    b("ca", "El teu codi de {{name}} és {{code}}. Caduca en {{minutes}} min.",
        "El teu codi de verificacio és {{code}}. Caduca en {{minutes}} min.",
        "Envia {{factor}} per SMS al {{to}}"),
    b("id", "Kode {{name}} Anda: {{code}}. Berlaku {{minutes}} menit.",
        "Kode verifikasi Anda: {{code}}. Berlaku {{minutes}} menit.",
        "Kirim SMS {{factor}} ke {{to}}"),
    b("ms", "Kod {{name}} anda: {{code}}. Sah selama {{minutes}} minit.",
        "Kod pengesahan anda: {{code}}. Sah selama {{minutes}} minit.",
        "Hantar SMS {{factor}} ke {{to}}"),
    b("tl", "Ang iyong {{name}} code ay {{code}}. Mag-e-expire sa {{minutes}} min.",
        "Ang iyong verification code ay {{code}}. Mag-e-expire sa {{minutes}} min.",
        "I-text ang {{factor}} sa {{to}}"),
    b("sw", "Nambari yako ya {{name}} ni {{code}}. Itaisha baada ya dakika {{minutes}}.",
        "Nambari yako ya uthibitisho ni {{code}}. Itaisha baada ya dakika {{minutes}}.",
        "Tuma {{factor}} kwa SMS kwenda {{to}}"),
    b("vi", "Ma {{name}} cua ban la {{code}}. Het han sau {{minutes}} phut.",
        "Ma xac thuc cua ban la {{code}}. Het han sau {{minutes}} phut.",
        "Gửi tin nhắn {{factor}} đến {{to}}"),
    // UCS-2 from here: 70 characters a part.
    b("el", "Κωδικός {{name}}: {{code}}. Ισχύει {{minutes}} λεπ.",
        "Ο κωδικός επαλήθευσης είναι {{code}}. Ισχύει {{minutes}} λεπτά.",
        "Στείλτε SMS με το {{factor}} στο {{to}}"),
    b("ru", "Код {{name}}: {{code}}. Действует {{minutes}} мин.",
        "Ваш код подтверждения: {{code}}. Действует {{minutes}} мин.",
        "Отправьте SMS с текстом {{factor}} на номер {{to}}"),
    b("uk", "Код {{name}}: {{code}}. Дійсний {{minutes}} хв.",
        "Ваш код підтвердження: {{code}}. Дійсний {{minutes}} хв.",
        "Надішліть SMS з текстом {{factor}} на номер {{to}}"),
    b("bg", "Код {{name}}: {{code}}. Валиден {{minutes}} мин.",
        "Вашият код за потвърждение е {{code}}. Валиден {{minutes}} мин.",
        "Изпратете SMS с текст {{factor}} на номер {{to}}"),
    b("ar", "رمز {{name}} هو {{code}}، صالح {{minutes}} دقيقة",
        "رمز التحقق الخاص بك هو {{code}}، صالح لمدة {{minutes}} دقيقة",
        "أرسل {{factor}} في رسالة نصية إلى {{to}}"),
    b("he", "קוד {{name}}: {{code}}. בתוקף {{minutes}} דק'",
        "קוד האימות שלך: {{code}}. בתוקף {{minutes}} דקות",
        "שלחו SMS עם {{factor}} למספר {{to}}"),
    b("fa", "کد {{name}}: {{code}}. اعتبار {{minutes}} دقیقه",
        "کد تأیید شما: {{code}}. اعتبار {{minutes}} دقیقه",
        "{{factor}} را به {{to}} پیامک کنید"),
    b("hi", "{{name}} कोड: {{code}}। {{minutes}} मिनट वैध",
        "आपका सत्यापन कोड {{code}} है। {{minutes}} मिनट तक वैध।",
        "{{factor}} को SMS से {{to}} पर भेजें"),
    b("bn", "{{name}} কোড: {{code}}। {{minutes}} মিনিট বৈধ",
        "আপনার যাচাই কোড {{code}}। {{minutes}} মিনিট বৈধ",
        "{{factor}} লিখে {{to}} নম্বরে SMS পাঠান"),
    b("th", "รหัส {{name}}: {{code}} ใช้ได้ {{minutes}} นาที",
        "รหัสยืนยันของคุณคือ {{code}} ใช้ได้ {{minutes}} นาที",
        "ส่ง SMS {{factor}} ไปที่ {{to}}"),
    b("zh", "您的{{name}}验证码是{{code}}，{{minutes}}分钟内有效。",
        "您的验证码是{{code}}，{{minutes}}分钟内有效。",
        "请发送短信 {{factor}} 至 {{to}}"),
    b("zh-tw", "您的{{name}}驗證碼是{{code}}，{{minutes}}分鐘內有效。",
        "您的驗證碼是{{code}}，{{minutes}}分鐘內有效。",
        "請傳送簡訊 {{factor}} 至 {{to}}"),
    b("ja", "{{name}}の認証コードは{{code}}です。有効期限は{{minutes}}分です。",
        "認証コードは{{code}}です。有効期限は{{minutes}}分です。",
        "{{factor}} をSMSで {{to}} に送信してください"),
    b("ko", "{{name}} 인증번호: {{code}} ({{minutes}}분간 유효)",
        "인증번호는 {{code}}입니다. {{minutes}}분간 유효합니다.",
        "{{to}}번으로 {{factor}}을(를) 문자로 보내 주세요"),
];

/// Languages with built-in texts (the tests render every one).
#[cfg(test)]
fn builtin_languages() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|t| t.lang)
}

fn builtin(lang: &str) -> &'static Builtin {
    BUILTIN
        .iter()
        .find(|t| t.lang == lang)
        .unwrap_or(&BUILTIN[0])
}

/// A tag in the form templates are keyed by: trimmed, lower case, `_` → `-`.
pub fn normalize_tag(tag: &str) -> String {
    tag.trim().to_ascii_lowercase().replace('_', "-")
}

/// The keys to try for a tag, most specific first: `"pt-br"`, `"pt"`, with the usual aliases
/// (`no`/`nn` → `nb`, `iw` → `he`, `in` → `id`, `fil` → `tl`; Traditional Chinese tags → `zh-tw`).
fn candidates(tag: &str) -> Vec<String> {
    let tag = normalize_tag(tag);
    let mut out = vec![tag.clone()];
    let primary = tag.split('-').next().unwrap_or("").to_string();
    if tag.starts_with("zh-")
        && ["-tw", "-hk", "-mo", "-hant"]
            .iter()
            .any(|s| tag.contains(s))
    {
        out.push("zh-tw".into());
    }
    out.push(primary.clone());
    let alias = match primary.as_str() {
        "no" | "nn" => Some("nb"),
        "iw" => Some("he"),
        "in" => Some("id"),
        "fil" => Some("tl"),
        _ => None,
    };
    out.extend(alias.map(String::from));
    out.retain(|c| !c.is_empty());
    out
}

/// The built-in language for a tag: `"pt-BR"`, `"PT_br"` → `"pt"`; unknown or absent → `"en"`.
pub fn language(tag: Option<&str>) -> &'static str {
    let Some(tag) = tag else { return "en" };
    candidates(tag)
        .iter()
        .find_map(|c| BUILTIN.iter().find(|t| t.lang == c))
        .map_or("en", |t| t.lang)
}

/// In a request's `templates` (keys as given), the entry for `tag`: exact tag, then its primary
/// language and aliases. Returns the key and the template.
pub fn pick<'a>(
    templates: &'a BTreeMap<String, String>,
    tag: Option<&str>,
) -> Option<(&'a String, &'a String)> {
    let tag = tag?;
    candidates(tag)
        .iter()
        .find_map(|c| templates.iter().find(|(k, _)| normalize_tag(k) == *c))
}

/// The templates in force: the operator's on top of the built-in ones.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    code: BTreeMap<String, String>,
    reverse: BTreeMap<String, String>,
}

impl Templates {
    /// From `[otp.templates]` and `[otp.reverse_templates]` (already validated by the config).
    pub fn new(code: &BTreeMap<String, String>, reverse: &BTreeMap<String, String>) -> Templates {
        let norm = |m: &BTreeMap<String, String>| {
            m.iter()
                .map(|(k, v)| (normalize_tag(k), v.clone()))
                .collect()
        };
        Templates {
            code: norm(code),
            reverse: norm(reverse),
        }
    }

    /// The language a verification is recorded in: an operator template's tag or a built-in
    /// language; unknown or absent → `"en"`.
    pub fn language(&self, tag: Option<&str>) -> String {
        if let Some(tag) = tag {
            for c in candidates(tag) {
                if self.code.contains_key(&c)
                    || self.reverse.contains_key(&c)
                    || BUILTIN.iter().any(|t| t.lang == c)
                {
                    return c;
                }
            }
        }
        "en".into()
    }

    /// The code SMS in `language` (as returned by [`Templates::language`]).
    pub fn render_code(
        &self,
        language: &str,
        name: Option<&str>,
        code: &str,
        ttl_secs: u64,
    ) -> String {
        match self.code.get(language) {
            Some(template) => render(template, name, code, minutes(ttl_secs)),
            None => render_code(language, name, code, ttl_secs),
        }
    }

    /// The reverse-OTP instruction in `language`.
    pub fn render_reverse(&self, language: &str, factor: &str, to_display: &str) -> String {
        match self.reverse.get(&normalize_tag(language)) {
            Some(template) => fill_reverse(template, factor, to_display),
            None => render_reverse(language, factor, to_display),
        }
    }
}

/// An app name fit for an SMS: control characters and runs of whitespace become one space,
/// `{{`/`}}` are removed (no placeholder injection), at most [`MAX_NAME_CHARS`] characters.
/// Empty after that means no name.
pub fn clean_name(name: Option<&str>) -> Option<String> {
    let name = name?.replace("{{", "").replace("}}", "");
    let collapsed = name
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let cut: String = collapsed.chars().take(MAX_NAME_CHARS).collect();
    let cut = cut.trim().to_string();
    (!cut.is_empty()).then_some(cut)
}

/// Whole minutes a person has, rounded up (a 90-second code "expires in 2 min").
pub fn minutes(ttl_secs: u64) -> u64 {
    ttl_secs.div_ceil(60).max(1)
}

/// The built-in code SMS.
pub fn render_code(language: &str, name: Option<&str>, code: &str, ttl_secs: u64) -> String {
    let texts = builtin(language);
    let minutes = minutes(ttl_secs);
    if name.is_some() {
        let named = render(texts.named, name, code, minutes);
        // A name outside GSM-7 can turn a 160-character text into a 70-character one: then
        // the text without the name, which always fits.
        if one_part(&named).is_ok() {
            return named;
        }
    }
    render(texts.unnamed, None, code, minutes)
}

/// Fills a code template. Without a name, `{{name}}` leaves nothing and the spaces around it
/// collapse. The code goes in last so that nothing in it can be taken for a placeholder.
pub fn render(template: &str, name: Option<&str>, code: &str, minutes: u64) -> String {
    let mut text = template
        .replace("{{name}}", name.unwrap_or(""))
        .replace("{{minutes}}", &minutes.to_string());
    if name.is_none() {
        while text.contains("  ") {
            text = text.replace("  ", " ");
        }
        text = text.trim().to_string();
    }
    text.replace("{{code}}", code).replace("{{pin}}", code)
}

/// The built-in reverse-OTP instruction (`"Text 482913 to (555) 000-0001"`).
pub fn render_reverse(language: &str, factor: &str, to_display: &str) -> String {
    fill_reverse(builtin(language).reverse, factor, to_display)
}

fn fill_reverse(template: &str, factor: &str, to_display: &str) -> String {
    template
        .replace("{{to}}", to_display)
        .replace("{{factor}}", factor)
}

/// The `{{…}}` placeholders of a template, or an error for an unclosed one.
fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "has a \"{{\" without its \"}}\"".to_string())?;
        found.push(&after[..end]);
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// Checks a code template's shape: not empty, at most [`MAX_TEMPLATE_CHARS`], only known
/// placeholders, and the code (`{{code}}` or `{{pin}}`) in it.
pub fn check_code_template(template: &str) -> Result<(), String> {
    if template.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(format!("is longer than {MAX_TEMPLATE_CHARS} characters"));
    }
    let found = placeholders(template)?;
    if let Some(unknown) = found
        .iter()
        .find(|p| !matches!(**p, "code" | "pin" | "name" | "minutes"))
    {
        return Err(format!(
            "has an unknown placeholder {{{{{unknown}}}}}; known: {{{{code}}}} (or {{{{pin}}}}), {{{{name}}}}, {{{{minutes}}}}"
        ));
    }
    if !found.iter().any(|p| matches!(*p, "code" | "pin")) {
        return Err("must contain the code placeholder {{code}} (or {{pin}})".into());
    }
    Ok(())
}

/// Checks a reverse-OTP instruction template: `{{factor}}` and `{{to}}`, nothing else.
pub fn check_reverse_template(template: &str) -> Result<(), String> {
    if template.chars().count() > MAX_TEMPLATE_CHARS {
        return Err(format!("is longer than {MAX_TEMPLATE_CHARS} characters"));
    }
    let found = placeholders(template)?;
    if let Some(unknown) = found.iter().find(|p| !matches!(**p, "factor" | "to")) {
        return Err(format!(
            "has an unknown placeholder {{{{{unknown}}}}}; known: {{{{factor}}}}, {{{{to}}}}"
        ));
    }
    for needed in ["factor", "to"] {
        if !found.contains(&needed) {
            return Err(format!("must contain {{{{{needed}}}}}"));
        }
    }
    Ok(())
}

/// Why a rendered code SMS is refused: it needs more than one part.
pub fn one_part(text: &str) -> Result<(), String> {
    let plan = plan(text);
    if plan.parts.len() <= 1 {
        return Ok(());
    }
    let (encoding, limit) = match plan.encoding {
        Encoding::Gsm7 => ("GSM-7", 160),
        _ => ("UCS-2", 70),
    };
    Err(format!(
        "renders to {} characters ({encoding}), more than one SMS part ({limit}); shorten it{}",
        text.chars().count(),
        if plan.encoding == Encoding::Gsm7 {
            ""
        } else {
            " or keep to the GSM-7 alphabet (160 characters)"
        }
    ))
}

/// Does a code template fit one part whatever it is filled with (a 10-character code, a
/// 32-character name, `minutes` as given)?
pub fn fits_worst_case(template: &str, minutes: u64) -> Result<(), String> {
    one_part(&render(
        template,
        Some(&"W".repeat(MAX_NAME_CHARS)),
        "WWWWWWWWWW",
        minutes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        assert_eq!(language(Some("pt-BR")), "pt");
        assert_eq!(language(Some("PT_br")), "pt");
        assert_eq!(language(Some(" es ")), "es");
        assert_eq!(language(Some("de-AT")), "de");
        assert_eq!(language(Some("no")), "nb");
        assert_eq!(language(Some("iw")), "he");
        assert_eq!(language(Some("zh-Hant-TW")), "zh-tw");
        assert_eq!(language(Some("zh-CN")), "zh");
        assert_eq!(language(Some("xx")), "en");
        assert_eq!(language(Some("")), "en");
        assert_eq!(language(None), "en");
        assert_eq!(language(Some("english")), "en");
    }

    /// Every built-in code SMS fits one part with a 10-character code, a 32-character name
    /// (both worst cases) and a 4-digit minute count, counted by the codec's own splitter; the
    /// Latin-script ones stay GSM-7.
    #[test]
    fn every_language_renders_in_one_part() {
        let ucs2 = [
            "el", "ru", "uk", "bg", "ar", "he", "fa", "hi", "bn", "th", "zh", "zh-tw", "ja", "ko",
        ];
        let long_name = "N".repeat(MAX_NAME_CHARS);
        let mut count = 0;
        for lang in builtin_languages() {
            count += 1;
            for name in [Some(long_name.as_str()), Some("Acme Shop"), None] {
                for code in ["4829130571", "7QX2M9KDPA"] {
                    let text = render_code(lang, name, code, WORST_CASE_MINUTES * 60);
                    assert!(text.contains(code), "{lang}: {text}");
                    assert!(text.contains("1440"), "{lang}: {text}");
                    assert!(!text.contains("{{"), "{lang}: {text}");
                    if let Some(n) = name {
                        assert!(text.contains(n), "{lang}: {text}");
                    }
                    let plan = plan(&text);
                    let expected = if ucs2.contains(&lang) {
                        Encoding::Ucs2
                    } else {
                        Encoding::Gsm7
                    };
                    assert_eq!(plan.encoding, expected, "{lang}: {text}");
                    assert_eq!(
                        plan.parts.len(),
                        1,
                        "{lang}: {} chars: {text}",
                        text.chars().count()
                    );
                }
            }
            let reverse = render_reverse(lang, "482913", "(555) 000-0001");
            assert!(
                reverse.contains("482913") && reverse.contains("(555) 000-0001"),
                "{lang}: {reverse}"
            );
            let t = builtin(lang);
            check_code_template(t.named).unwrap();
            check_code_template(t.unnamed).unwrap();
            check_reverse_template(t.reverse).unwrap();
            assert!(
                t.named.contains("{{name}}") && !t.unnamed.contains("{{name}}"),
                "{lang}"
            );
        }
        assert!(count >= 33, "{count} languages");
        let mut langs: Vec<_> = builtin_languages().collect();
        langs.sort();
        langs.dedup();
        assert_eq!(langs.len(), count, "no language twice");
    }

    #[test]
    fn a_name_that_would_split_the_sms_is_left_out() {
        let name = "Магазин Пример Очень Длинное Имя";
        let text = render_code("en", Some(name), "123456", 300);
        assert_eq!(text, render_code("en", None, "123456", 300));
        // In a UCS-2 language it fits and stays.
        assert!(render_code("ru", Some(name), "123456", 300).contains(name));
    }

    #[test]
    fn languages_differ_and_unknown_falls_back_to_english() {
        let en = render_code("en", Some("X"), "1234", 60);
        assert_eq!(en, "Your X code is 1234. It expires in 1 min.");
        let es = render_code("es", Some("X"), "1234", 60);
        assert_ne!(en, es);
        assert_eq!(render_code(language(Some("zz")), Some("X"), "1234", 60), en);
        assert_eq!(
            render_reverse("en", "482913", "(555) 000-0001"),
            "Text 482913 to (555) 000-0001"
        );
        let texts: std::collections::HashSet<String> = builtin_languages()
            .map(|l| render_code(l, Some("X"), "1234", 60))
            .collect();
        assert_eq!(
            texts.len(),
            BUILTIN.len(),
            "every language has its own text"
        );
    }

    #[test]
    fn operator_templates_override_and_add_languages() {
        let code: BTreeMap<String, String> = [
            (
                "en".to_string(),
                "{{name}} code {{pin}} ({{minutes}}m)".to_string(),
            ),
            ("eo".to_string(), "Via kodo: {{code}}".to_string()),
        ]
        .into();
        let reverse: BTreeMap<String, String> = [(
            "EN".to_string(),
            "Send {{factor}} to {{to}} now".to_string(),
        )]
        .into();
        let t = Templates::new(&code, &reverse);
        assert_eq!(t.language(Some("eo")), "eo");
        assert_eq!(t.language(Some("fr-CA")), "fr");
        assert_eq!(t.language(Some("qq")), "en");
        assert_eq!(
            t.render_code("en", Some("Acme"), "123456", 120),
            "Acme code 123456 (2m)"
        );
        // No name: the placeholder leaves no double space.
        assert_eq!(t.render_code("en", None, "123456", 120), "code 123456 (2m)");
        assert_eq!(t.render_code("eo", None, "1234", 60), "Via kodo: 1234");
        // Built-in for languages the operator did not write.
        assert_eq!(
            t.render_code("fr", None, "1234", 60),
            render_code("fr", None, "1234", 60)
        );
        assert_eq!(
            t.render_reverse("en", "42", "+1 555"),
            "Send 42 to +1 555 now"
        );
        // A language with only a reverse instruction: known, and its code SMS is English.
        let reverse_only: BTreeMap<String, String> = [(
            "cy".to_string(),
            "Tecstiwch {{factor}} i {{to}}".to_string(),
        )]
        .into();
        let welsh = Templates::new(&BTreeMap::new(), &reverse_only);
        assert_eq!(welsh.language(Some("cy-GB")), "cy");
        assert_eq!(welsh.render_reverse("cy", "42", "X"), "Tecstiwch 42 i X");
        assert_eq!(
            welsh.render_code("cy", None, "1234", 60),
            render_code("en", None, "1234", 60)
        );
        assert_eq!(
            t.render_reverse("de", "42", "X"),
            render_reverse("de", "42", "X")
        );
    }

    #[test]
    fn template_checks() {
        check_code_template("Code: {{pin}}").unwrap();
        check_code_template("{{name}}: {{code}} ({{minutes}} min)").unwrap();
        assert!(check_code_template("no code here")
            .unwrap_err()
            .contains("{{code}}"));
        assert!(check_code_template("{{code}} {{secret}}")
            .unwrap_err()
            .contains("{{secret}}"));
        assert!(check_code_template("{{code}} {{name")
            .unwrap_err()
            .contains("without"));
        assert!(check_code_template("  ").is_err());
        assert!(check_code_template(&format!("{{{{code}}}}{}", "x".repeat(500))).is_err());
        check_reverse_template("Send {{factor}} to {{to}}").unwrap();
        assert!(check_reverse_template("Send {{factor}}")
            .unwrap_err()
            .contains("{{to}}"));
        fits_worst_case("Your code is {{code}}", 60).unwrap();
        let long = format!("{} {{{{code}}}}", "x".repeat(150));
        assert!(fits_worst_case(&long, 60).unwrap_err().contains("GSM-7"));
        let cyrillic = format!("{} {{{{code}}}}", "я".repeat(60));
        assert!(fits_worst_case(&cyrillic, 60)
            .unwrap_err()
            .contains("UCS-2"));
    }

    #[test]
    fn request_templates_are_picked_by_language() {
        let m: BTreeMap<String, String> = [
            ("fr".to_string(), "FR {{code}}".to_string()),
            ("pt-BR".to_string(), "BR {{code}}".to_string()),
        ]
        .into();
        assert_eq!(pick(&m, Some("fr-CA")).unwrap().1, "FR {{code}}");
        assert_eq!(pick(&m, Some("pt_br")).unwrap().1, "BR {{code}}");
        assert!(pick(&m, Some("pt-PT")).is_none());
        assert!(pick(&m, None).is_none());
    }

    #[test]
    fn minutes_round_up() {
        assert_eq!(minutes(1), 1);
        assert_eq!(minutes(60), 1);
        assert_eq!(minutes(61), 2);
        assert_eq!(minutes(300), 5);
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(
            clean_name(Some("  Acme\n\tShop  ")).as_deref(),
            Some("Acme Shop")
        );
        assert_eq!(clean_name(Some("{{code}}")).as_deref(), Some("code"));
        assert_eq!(clean_name(Some("   ")), None);
        assert_eq!(clean_name(None), None);
        let long = "x".repeat(100);
        assert_eq!(
            clean_name(Some(&long)).unwrap().chars().count(),
            MAX_NAME_CHARS
        );
        // A name cannot smuggle the code placeholder in.
        let text = render_code("en", clean_name(Some("{{code}}")).as_deref(), "999999", 60);
        assert_eq!(text.matches("999999").count(), 1);
    }
}
