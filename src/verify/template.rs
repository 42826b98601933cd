//! Message templates per language for the code SMS and the reverse-OTP instruction.
//!
//! Texts keep to the GSM-7 alphabet (accents it lacks, such as Spanish "ó", are written
//! without them, as SMS senders commonly do) so that a code SMS costs one 160-character part,
//! not a 70-character UCS-2 one. "min" avoids singular/plural forms.

/// Languages with their own texts; anything else falls back to English.
pub const LANGUAGES: &[&str] = &["en", "es", "fr", "de", "pt", "it", "nl"];

/// Longest app name put into a message: a long name would split the SMS.
pub const MAX_NAME_CHARS: usize = 32;

struct Texts {
    /// With `{{name}}`.
    named: &'static str,
    /// When no app name was given.
    unnamed: &'static str,
    /// Reverse OTP: `{{factor}}` and `{{to}}`.
    reverse: &'static str,
}

fn texts(language: &str) -> Texts {
    match language {
        "es" => Texts {
            named: "Tu codigo de {{name}} es {{code}}. Caduca en {{minutes}} min.",
            unnamed: "Tu codigo de verificacion es {{code}}. Caduca en {{minutes}} min.",
            reverse: "Envia {{factor}} por SMS al {{to}}",
        },
        "fr" => Texts {
            named: "Votre code {{name}} est {{code}}. Il expire dans {{minutes}} min.",
            unnamed: "Votre code de vérification est {{code}}. Il expire dans {{minutes}} min.",
            reverse: "Envoyez {{factor}} par SMS au {{to}}",
        },
        "de" => Texts {
            named: "Ihr {{name}}-Code lautet {{code}}. Er ist {{minutes}} Min. gültig.",
            unnamed: "Ihr Bestätigungscode lautet {{code}}. Er ist {{minutes}} Min. gültig.",
            reverse: "Senden Sie {{factor}} per SMS an {{to}}",
        },
        "pt" => Texts {
            named: "Seu codigo {{name}} é {{code}}. Expira em {{minutes}} min.",
            unnamed: "Seu codigo de verificacao é {{code}}. Expira em {{minutes}} min.",
            reverse: "Envie {{factor}} por SMS para {{to}}",
        },
        "it" => Texts {
            named: "Il tuo codice {{name}} è {{code}}. Scade tra {{minutes}} min.",
            unnamed: "Il tuo codice di verifica è {{code}}. Scade tra {{minutes}} min.",
            reverse: "Invia {{factor}} via SMS al {{to}}",
        },
        "nl" => Texts {
            named: "Je {{name}}-code is {{code}}. Verloopt over {{minutes}} min.",
            unnamed: "Je verificatiecode is {{code}}. Verloopt over {{minutes}} min.",
            reverse: "Stuur {{factor}} per sms naar {{to}}",
        },
        _ => Texts {
            named: "Your {{name}} code is {{code}}. It expires in {{minutes}} min.",
            unnamed: "Your verification code is {{code}}. It expires in {{minutes}} min.",
            reverse: "Text {{factor}} to {{to}}",
        },
    }
}

/// The supported language for a tag: `"pt-BR"`, `"PT_br"` → `"pt"`; unknown or absent → `"en"`.
pub fn language(tag: Option<&str>) -> &'static str {
    let Some(tag) = tag else { return "en" };
    let primary = tag
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    LANGUAGES
        .iter()
        .copied()
        .find(|l| *l == primary)
        .unwrap_or("en")
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

/// The code SMS.
pub fn render_code(language: &str, name: Option<&str>, code: &str, ttl_secs: u64) -> String {
    let texts = texts(language);
    let template = if name.is_some() {
        texts.named
    } else {
        texts.unnamed
    };
    // The code goes in last so that nothing in it can be taken for a placeholder.
    template
        .replace("{{name}}", name.unwrap_or(""))
        .replace("{{minutes}}", &minutes(ttl_secs).to_string())
        .replace("{{code}}", code)
}

/// The instruction shown to a person for reverse OTP (`"Text 482913 to (555) 000-0001"`).
pub fn render_reverse(language: &str, factor: &str, to_display: &str) -> String {
    texts(language)
        .reverse
        .replace("{{to}}", to_display)
        .replace("{{factor}}", factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{plan, Encoding};

    #[test]
    fn language_tags() {
        assert_eq!(language(Some("pt-BR")), "pt");
        assert_eq!(language(Some("PT_br")), "pt");
        assert_eq!(language(Some(" es ")), "es");
        assert_eq!(language(Some("de-AT")), "de");
        assert_eq!(language(Some("xx")), "en");
        assert_eq!(language(Some("")), "en");
        assert_eq!(language(None), "en");
        assert_eq!(language(Some("english")), "en");
    }

    #[test]
    fn every_language_renders_code_name_and_minutes_in_one_gsm7_part() {
        for &lang in LANGUAGES {
            for name in [Some("Acme Shop"), None] {
                let text = render_code(lang, name, "4829130571", 300);
                assert!(text.contains("4829130571"), "{lang}: {text}");
                assert!(text.contains('5'), "{lang}: {text}");
                assert!(!text.contains("{{"), "{lang}: {text}");
                if let Some(n) = name {
                    assert!(text.contains(n), "{lang}: {text}");
                }
                let plan = plan(&text);
                assert_eq!(plan.encoding, Encoding::Gsm7, "{lang}: {text}");
                assert_eq!(plan.parts.len(), 1, "{lang}: {text}");
            }
            let reverse = render_reverse(lang, "482913", "(555) 000-0001");
            assert!(reverse.contains("482913") && reverse.contains("(555) 000-0001"));
        }
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
