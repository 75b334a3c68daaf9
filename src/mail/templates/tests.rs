use super::*;

fn en() -> Language {
    Language::english()
}

fn lang(tag: &str) -> Language {
    Language::parse(tag).unwrap()
}

fn ada() -> Vars {
    Vars {
        name: Some("Ada".into()),
        email: "ada@example.com".into(),
        link: Some("https://shop.example.com/a?x=1".into()),
        ..Vars::default()
    }
}

fn write(dir: &Path, file: &str, content: &str) {
    let path = dir.join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

#[test]
fn placeholders_are_filled() {
    let templates = Templates::load(None, &en()).unwrap();
    let rendered = templates.render(Kind::Activation, None, "Shop", &ada());
    assert_eq!(rendered.subject, "Activate your Shop account");
    assert!(rendered.text.contains("Hello Ada,"));
    assert!(rendered.text.contains("https://shop.example.com/a?x=1"));
}

#[test]
fn every_kind_exists_in_every_built_in_language_with_the_same_placeholders() {
    let templates = Templates::load(None, &en()).unwrap();
    for kind in Kind::ALL {
        for part in ["subject", "txt"] {
            let used = |language: &str| {
                let name = template_name(Source::BuiltIn, language, kind, part);
                let template = templates
                    .env
                    .get_template(&name)
                    .unwrap_or_else(|_| panic!("{name} is missing"));
                let mut used: Vec<String> =
                    template.undeclared_variables(false).into_iter().collect();
                used.sort();
                used
            };
            let english = used("en");
            assert!(english.iter().all(|p| PLACEHOLDERS.contains(&p.as_str())));
            for (language, _) in BUILT_IN {
                assert_eq!(used(language), english, "{language} {} {part}", kind.name());
            }
        }
    }
}

#[test]
fn each_built_in_language_has_no_kind_that_does_not_exist() {
    for (language, file) in BUILT_IN {
        let texts: BTreeMap<String, toml::Value> = toml::from_str(file).unwrap();
        let names: Vec<&str> = texts.keys().map(String::as_str).collect();
        let mut kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        kinds.sort();
        assert_eq!(names, kinds, "{language}");
    }
}

#[test]
fn a_customer_language_picks_its_built_in_text() {
    let templates = Templates::load(None, &en()).unwrap();
    let german = templates.render(Kind::Activation, Some(&lang("de")), "Shop", &ada());
    assert_eq!(german.language.as_str(), "de");
    assert_eq!(german.subject, "Aktivieren Sie Ihr Konto bei Shop");
    assert!(german.text.starts_with("Hallo Ada,"), "{}", german.text);
    let french = templates.render(Kind::Activation, Some(&lang("fr")), "Shop", &ada());
    assert_eq!(french.subject, "Activez votre compte Shop");
}

#[test]
fn a_language_without_texts_falls_back_to_the_default_language() {
    let templates = Templates::load(None, &lang("fr")).unwrap();
    let rendered = templates.render(Kind::Activation, Some(&lang("fi")), "Shop", &ada());
    assert_eq!(rendered.language.as_str(), "fr");
    let rendered = templates.render(Kind::Activation, None, "Shop", &ada());
    assert_eq!(rendered.language.as_str(), "fr");
}

#[test]
fn a_missing_name_leaves_a_plain_greeting() {
    let templates = Templates::load(None, &en()).unwrap();
    let vars = Vars {
        name: None,
        ..ada()
    };
    let rendered = templates.render(Kind::Activation, None, "Shop", &vars);
    assert!(rendered.text.starts_with("Hello,\n"), "{}", rendered.text);
}

#[test]
fn files_override_builtins_and_html_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "activation.subject", "Welcome {{name}}\n");
    write(dir.path(), "activation.html", "<p>{{name}}</p>");
    let templates = Templates::load(Some(dir.path()), &en()).unwrap();
    let vars = Vars {
        name: Some("<b>Ada\r\nBcc: x@evil.com".into()),
        ..Vars::default()
    };
    let rendered = templates.render(Kind::Activation, None, "Shop", &vars);
    assert_eq!(rendered.subject, "Welcome <b>Ada  Bcc: x@evil.com");
    assert!(rendered.html.unwrap().starts_with("<p>&lt;b&gt;Ada"));
}

#[test]
fn plain_text_keeps_every_value_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "en/activation.html",
        "<p>{{ name }}</p><a href=\"{{ link }}\">",
    );
    let templates = Templates::load(Some(dir.path()), &en()).unwrap();
    let vars = Vars {
        name: Some("Tom & \"Jerry\" <tj>".into()),
        ..ada()
    };
    let rendered = templates.render(Kind::Activation, None, "Shop", &vars);
    assert!(rendered.text.contains("Hello Tom & \"Jerry\" <tj>,"));
    assert_eq!(
        rendered.html.unwrap(),
        "<p>Tom &amp; &quot;Jerry&quot; &lt;tj&gt;</p><a href=\"https://shop.example.com/a?x=1\">"
    );
}

#[test]
fn a_value_holding_a_placeholder_stays_literal_text() {
    let templates = Templates::load(None, &en()).unwrap();
    let vars = Vars {
        name: Some("{{link}} {{shop}}".into()),
        email: "ada@example.com".into(),
        link: Some("https://shop.example.com/secret".into()),
        ..Vars::default()
    };
    let rendered = templates.render(Kind::Activation, None, "Shop", &vars);
    assert!(
        rendered.text.contains("Hello {{link}} {{shop}},"),
        "{}",
        rendered.text
    );
    assert_eq!(
        rendered
            .text
            .matches("https://shop.example.com/secret")
            .count(),
        1
    );
}

#[test]
fn a_value_holding_template_tags_stays_literal_text() {
    let templates = Templates::load(None, &en()).unwrap();
    let name = "{% for x in range(3) %}{{ link }}{% endfor %}{# c #}";
    let vars = Vars {
        name: Some(name.into()),
        ..ada()
    };
    let rendered = templates.render(Kind::Activation, Some(&lang("de")), "Shop", &vars);
    assert!(rendered.text.contains(&format!("Hallo {name},")));
}

#[test]
fn an_override_for_one_language_leaves_the_others_built_in() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "de/activation.subject",
        "Willkommen bei {{ shop }}",
    );
    let templates = Templates::load(Some(dir.path()), &en()).unwrap();
    let german = templates.render(Kind::Activation, Some(&lang("de")), "Shop", &ada());
    assert_eq!(german.subject, "Willkommen bei Shop");
    assert!(
        german.text.starts_with("Hallo Ada,"),
        "the built-in German body"
    );
    let english = templates.render(Kind::Activation, Some(&en()), "Shop", &ada());
    assert_eq!(english.subject, "Activate your Shop account");
}

#[test]
fn a_new_language_is_used_where_complete_and_falls_back_where_not() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "fi/activation.subject",
        "Aktivoi {{ shop }}-tilisi",
    );
    write(
        dir.path(),
        "fi/activation.txt",
        "Hei {{ name }}, {{ link }}\n",
    );
    write(dir.path(), "fi/password_reset.subject", "Vain otsikko");
    let templates = Templates::load(Some(dir.path()), &lang("de")).unwrap();
    assert!(templates.languages().contains(&lang("fi")));
    let finnish = templates.render(Kind::Activation, Some(&lang("fi")), "Shop", &ada());
    assert_eq!(finnish.subject, "Aktivoi Shop-tilisi");
    assert_eq!(finnish.text, "Hei Ada, https://shop.example.com/a?x=1\n");
    // A subject without a body is not a Finnish email: the default language's whole email.
    let reset = templates.render(Kind::PasswordReset, Some(&lang("fi")), "Shop", &ada());
    assert_eq!(reset.language.as_str(), "de");
    assert_eq!(reset.subject, "Passwort für Shop zurücksetzen");
}

#[test]
fn bad_overrides_are_refused_naming_the_file() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "de/activation.txt",
            "Hallo {{ nmae }}",
            "unknown placeholder `nmae`",
        ),
        ("de/activaton.txt", "Hallo", "unknown kind `activaton`"),
        ("de/activation.md", "Hallo", "unknown part `.md`"),
        ("de/activation.html", "<p>{% if %}</p>", "syntax error"),
        ("deutsch/activation.txt", "Hallo", "not a language"),
        (
            "de/activation.subject",
            "{{ name|nosuchfilter }}",
            "nosuchfilter",
        ),
    ];
    for (file, content, problem) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), file, content);
        let error = Templates::load(Some(dir.path()), &en()).err().unwrap();
        let named = if file.starts_with("deutsch") {
            "deutsch"
        } else {
            file
        };
        assert!(error.contains(named), "{file}: {error}");
        assert!(error.contains(problem), "{file}: {error}");
    }
}

#[test]
fn an_unreadable_override_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fr/activation.txt", "ok");
    // Invalid UTF-8 cannot be read as text, whoever runs the test (root reads any mode).
    std::fs::write(dir.path().join("fr/activation.txt"), [0xff, 0xfe, 0x00]).unwrap();
    let error = Templates::load(Some(dir.path()), &en()).err().unwrap();
    assert!(error.contains("fr/activation.txt"), "{error}");
    assert!(error.contains("cannot read it"), "{error}");
}

#[test]
fn the_same_override_in_both_layouts_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "activation.txt", "old {{ link }}");
    write(dir.path(), "en/activation.txt", "new {{ link }}");
    let error = Templates::load(Some(dir.path()), &en()).err().unwrap();
    assert!(error.contains("keep one"), "{error}");
}
