//! The admin commands of the built binary: subscription lists, customers, and the CSV import.

use std::process::Output;

use crate::common::binary::Binary;

use serde_json::Value;

/// A database, outbox and config file in a temporary directory, driven through the binary.
struct Admin {
    dir: tempfile::TempDir,
}

impl Admin {
    fn new() -> Admin {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("test.toml"),
            "[database]\npath = \"area.db\"\n\n[mail]\ndir = \"mail\"\n\n[auth]\npbkdf2_iterations = 1000\n",
        )
        .unwrap();
        Admin { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Binary::new()
            .config(self.dir.path().join("test.toml"))
            .args(args)
            .in_dir(self.dir.path())
            .output()
            .expect("the binary runs")
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            text(&output.stderr)
        );
        text(&output.stdout)
    }

    /// Runs a command that must fail with exit code 1; returns its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            text(&output.stdout)
        );
        text(&output.stderr)
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
    }

    fn write(&self, name: &str, content: &str) -> String {
        std::fs::write(self.dir.path().join(name), content).unwrap();
        name.to_owned()
    }

    /// Row counts of every table that a customer import writes to.
    fn row_counts(&self) -> Vec<(&'static str, i64)> {
        let conn = rusqlite::Connection::open(self.dir.path().join("area.db")).unwrap();
        [
            "customers",
            "customer_ids",
            "subscriptions",
            "consent_records",
            "outbox",
            "one_time_codes",
        ]
        .into_iter()
        .map(|table| {
            let n = conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            (table, n)
        })
        .collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn subscription_lists_are_added_listed_and_removed() {
    let admin = Admin::new();
    let out = admin.ok(&[
        "subscriptions",
        "add",
        "newsletter",
        "--name",
        "Newsletter",
        "--description",
        "Monthly",
    ]);
    assert!(out.contains("newsletter"), "{out}");
    admin.ok(&[
        "subscriptions",
        "add",
        "box-bulletin",
        "--name",
        "Box bulletin",
    ]);

    let table = admin.ok(&["subscriptions", "list"]);
    assert!(
        table.contains("ID") && table.contains("Newsletter") && table.contains("Monthly"),
        "{table}"
    );
    let lists = admin.json(&["subscriptions", "list", "--json"]);
    assert_eq!(lists["subscriptions"][0]["id"], "box-bulletin");
    assert_eq!(lists["subscriptions"][1]["description"], "Monthly");

    let err = admin.fails(&["subscriptions", "add", "newsletter", "--name", "Again"]);
    assert!(
        err.contains("already a subscription list `newsletter`"),
        "{err}"
    );
    let err = admin.fails(&["subscriptions", "add", "Not Valid", "--name", "X"]);
    assert!(err.contains("not a list id"), "{err}");

    admin.ok(&["subscriptions", "remove", "newsletter"]);
    let err = admin.fails(&["subscriptions", "remove", "newsletter"]);
    assert!(err.contains("no subscription list `newsletter`"), "{err}");
    let lists = admin.json(&["subscriptions", "list", "--json"]);
    assert_eq!(lists["subscriptions"].as_array().unwrap().len(), 1);
}

#[test]
fn customers_are_created_listed_shown_and_deleted_as_tables_or_json() {
    let admin = Admin::new();
    let out = admin.ok(&[
        "customers",
        "create",
        "--email",
        "ada@example.com",
        "--name",
        "Ada",
        "--identifier",
        "ada-1",
    ]);
    assert!(
        out.contains("ada-1") && out.contains("activation email queued"),
        "{out}"
    );
    let created = admin.json(&[
        "customers",
        "create",
        "--email",
        "Bob@Example.com",
        "--name",
        "Bob",
        "--json",
        "--no-activation",
    ]);
    assert_eq!(created["email"], "bob@example.com");
    assert_eq!(created["status"], "pending");
    let bob = created["id"].as_str().unwrap().to_owned();

    let table = admin.ok(&["customers", "list"]);
    assert!(
        table.contains("ada@example.com") && table.contains("bob@example.com"),
        "{table}"
    );
    assert!(table.contains("2 of 2"), "{table}");
    let page = admin.json(&["customers", "list", "--search", "bob", "--json"]);
    assert_eq!(page["total"], 1);
    assert_eq!(page["customers"][0]["id"], bob.as_str());

    let shown = admin.ok(&["customers", "show", "ada-1"]);
    assert!(
        shown.contains("ada@example.com") && shown.contains("pending"),
        "{shown}"
    );
    let mut shown = admin.json(&["customers", "show", &bob, "--json"]);
    // A pending customer has no password yet.
    let scheme = shown.as_object_mut().unwrap().remove("password_scheme");
    assert_eq!(scheme, Some(Value::Null));
    assert_eq!(shown, created);

    let deleted = admin.json(&["customers", "delete", &bob, "--yes", "--json"]);
    assert_eq!(deleted["result"], "deleted");
    let out = admin.ok(&["customers", "delete", "ada@example.com", "--yes"]);
    assert!(out.contains("deleted customer"), "{out}");
    assert_eq!(admin.json(&["customers", "list", "--json"])["total"], 0);
}

#[test]
fn failures_exit_non_zero_with_a_clear_message() {
    let admin = Admin::new();
    let err = admin.fails(&["customers", "create", "--email", "nope", "--name", "X"]);
    assert!(err.contains("--email"), "{err}");
    let err = admin.fails(&[
        "customers",
        "create",
        "--email",
        "x@example.com",
        "--name",
        " ",
    ]);
    assert!(err.contains("--name"), "{err}");
    let err = admin.fails(&["customers", "show", "nobody@example.com"]);
    assert!(
        err.contains("no customer") && err.contains("nobody@example.com"),
        "{err}"
    );
    let err = admin.fails(&["customers", "delete", "12345678901234", "--yes"]);
    assert!(err.contains("no customer"), "{err}");
    let err = admin.fails(&["customers", "import", "missing.csv"]);
    assert!(err.contains("missing.csv"), "{err}");
    let usage = admin.run(&["customers", "list", "--limit", "0"]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "clap refuses a bad option value"
    );
}

#[test]
fn a_good_file_is_imported_with_profiles_subscriptions_and_activation_emails() {
    let admin = Admin::new();
    admin.ok(&["subscriptions", "add", "newsletter", "--name", "Newsletter"]);
    admin.ok(&["subscriptions", "add", "box", "--name", "Box"]);
    let file = admin.write(
        "customers.csv",
        "email,name,identifier,phone,country,address,subscriptions\n\
         ada@example.com,Ada Lovelace,ada-1,+44 20 7946 0958,gb,\"1 High St\nFlat 2\",newsletter;box\n\
         BOB@example.com,\"Bob, Jr\",,,,,\n\
         cleo@example.com,Cleo,,,fr,, box \n",
    );
    let summary = admin.json(&["customers", "import", &file, "--send-activation", "--json"]);
    assert_eq!(summary["imported"], 3);
    assert_eq!(summary["activations_queued"], 3);
    assert_eq!(summary["subscriptions"], 3);
    assert_eq!(
        summary["customers"][2]["line"], 5,
        "a quoted line break does not shift lines"
    );

    let ada = admin.json(&["customers", "show", "ada-1", "--json"]);
    assert_eq!(ada["phone"], "+44 20 7946 0958");
    assert_eq!(ada["country"], "GB");
    assert_eq!(ada["address"], "1 High St\nFlat 2");
    assert_eq!(ada["subscriptions"][0]["id"], "box");
    assert_eq!(ada["subscriptions"][1]["id"], "newsletter");
    let shown = admin.ok(&["customers", "show", "ada-1"]);
    assert!(shown.contains("opted in to newsletter (import)"), "{shown}");
    assert_eq!(
        admin.json(&["customers", "show", "bob@example.com", "--json"])["name"],
        "Bob, Jr"
    );

    let outbox = admin.json(&["outbox", "list", "--json"]);
    let mut to: Vec<&str> = outbox
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["recipient"].as_str().unwrap())
        .collect();
    to.sort();
    assert_eq!(
        to,
        ["ada@example.com", "bob@example.com", "cleo@example.com"]
    );
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "activation")
    );

    let human = admin.ok(&[
        "customers",
        "import",
        &admin.write("more.csv", "name,email\nDee,dee@example.com\n"),
    ]);
    assert!(human.contains("imported 1 customer(s)"), "{human}");
}

#[test]
fn a_file_with_a_bad_row_leaves_the_database_untouched_and_names_every_line() {
    let admin = Admin::new();
    admin.ok(&["subscriptions", "add", "newsletter", "--name", "Newsletter"]);
    admin.ok(&[
        "customers",
        "create",
        "--email",
        "taken@example.com",
        "--name",
        "Taken",
    ]);
    let before = admin.row_counts();
    let file = admin.write(
        "bad.csv",
        "email,name,identifier,country,subscriptions\n\
         good1@example.com,Good One,,,newsletter\n\
         not-an-email,Bad Email,,,\n\
         good2@example.com,Good Two,,,\n\
         taken@example.com,Taken Again,,,\n\
         good2@example.com,Twice,,DE,\n\
         good3@example.com,,,Germany,nope\n",
    );
    let err = admin.fails(&["customers", "import", &file, "--send-activation"]);
    for expected in [
        "line 3: email:",
        "line 5: email: already belongs to a customer",
        "line 6: email: appears again (first on line 4)",
        "line 7: name: is required",
        "line 7: country:",
        "line 7: subscriptions: there is no subscription list `nope`",
        "nothing was imported",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(
        !err.contains("line 2:") && !err.contains("line 4:"),
        "{err}"
    );
    assert_eq!(admin.row_counts(), before);

    let report = admin.run(&["customers", "import", &file, "--json"]);
    assert_eq!(report.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(report["imported"], 0);
    assert_eq!(report["problems"].as_array().unwrap().len(), 6);
    assert_eq!(report["problems"][0]["line"], 3);
}

#[test]
fn a_bad_header_is_reported_on_line_one() {
    let admin = Admin::new();
    let file = admin.write(
        "header.csv",
        "e-mail,name,name,hobby\nx@example.com,X,X,chess\n",
    );
    let err = admin.fails(&["customers", "import", &file]);
    for expected in [
        "line 1: header: `e-mail` is not a known column",
        "line 1: header: the column `name` appears twice",
        "line 1: header: `hobby` is not a known column",
        "line 1: header: the column `email` is required",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let err = admin.fails(&[
        "customers",
        "import",
        &admin.write("short.csv", "email,name\na@example.com\n"),
    ]);
    assert!(
        err.contains("line 2: row: has 1 fields but the header names 2"),
        "{err}"
    );
    assert_eq!(admin.row_counts()[0], ("customers", 0));
}

#[test]
fn a_file_with_windows_line_endings_reports_the_lines_a_spreadsheet_shows() {
    let admin = Admin::new();
    let file = admin.write(
        "crlf.csv",
        "email,name\r\n\
         good@example.com,Good\r\n\
         not-an-email,Bad\r\n\
         \"quoted\r\nbreak@example.com\",Multi\r\n\
         also-bad,Bad\r\n",
    );
    let err = admin.fails(&["customers", "import", &file]);
    for expected in ["line 3: email:", "line 4: email:", "line 6: email:"] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(
        !err.contains("line 2:") && !err.contains("line 5:"),
        "{err}"
    );
}

#[test]
fn customers_delete_without_yes_refuses_when_standard_input_is_not_a_terminal() {
    let admin = Admin::new();
    admin.ok(&[
        "customers",
        "create",
        "--email",
        "kept@example.com",
        "--name",
        "Kept",
    ]);
    let err = admin.fails(&["customers", "delete", "kept@example.com"]);
    assert!(
        err.contains("standard input is not a terminal") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(admin.json(&["customers", "list", "--json"])["total"], 1);
}

#[test]
fn resend_activation_replaces_the_link_and_a_never_activated_customer_gets_no_farewell() {
    let admin = Admin::new();
    admin.ok(&[
        "customers",
        "create",
        "--email",
        "late@example.com",
        "--name",
        "Late",
        "--identifier",
        "late-1",
    ]);
    let out = admin.ok(&["customers", "resend-activation", "late-1"]);
    assert!(out.contains("activation email queued"), "{out}");
    let emails = || -> Vec<String> {
        std::fs::read_dir(admin.dir.path().join("mail"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    };
    let secrets: Vec<String> = emails()
        .iter()
        .filter_map(|m| m.split("identifier=late-1&secret=").nth(1))
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect()
        })
        .collect();
    assert_eq!(secrets.len(), 2, "two activation emails");
    assert_ne!(secrets[0], secrets[1], "a new secret");

    admin.ok(&["customers", "delete", "late-1", "--yes"]);
    assert_eq!(
        emails().len(),
        2,
        "no goodbye to an account never activated"
    );
    let err = admin.fails(&["customers", "resend-activation", "late-1"]);
    assert!(
        err.contains("no customer") || err.contains("no such customer"),
        "{err}"
    );
}

#[test]
fn staff_are_added_listed_reset_and_removed() {
    let admin = Admin::new();
    let out = admin.ok(&[
        "staff",
        "add",
        "agent@shop.example.com",
        "--role",
        "support",
        "--name",
        "Sam Agent",
    ]);
    let link = out
        .split_whitespace()
        .find(|w| w.contains("/console/activate?identifier="))
        .unwrap_or_else(|| panic!("no invitation link in {out}"));
    assert!(link.contains("&secret="), "{link}");
    // The invitation is emailed too (mail.dir holds the file transport's emails).
    let mails: Vec<String> = std::fs::read_dir(admin.dir.path().join("mail"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        mails
            .iter()
            .any(|m| m.contains("agent@shop.example.com") && m.contains("console")),
        "{mails:?}"
    );
    let error = admin.fails(&["staff", "add", "agent@shop.example.com", "--role", "owner"]);
    assert!(error.contains("already in use"), "{error}");
    let error = admin.run(&["staff", "add", "x@shop.example.com", "--role", "boss"]);
    assert!(!error.status.success());

    let table = admin.ok(&["staff", "list"]);
    assert!(
        table.contains("agent@shop.example.com")
            && table.contains("support")
            && table.contains("invited"),
        "{table}"
    );
    let list = admin.json(&["staff", "list", "--json"]);
    assert_eq!(list[0]["email"], "agent@shop.example.com");
    assert_eq!(list[0]["role"], "support");
    assert_eq!(list[0]["activated"], false);

    let out = admin.ok(&["staff", "reset", "agent@shop.example.com"]);
    let second = out
        .split_whitespace()
        .find(|w| w.contains("/console/activate?identifier="))
        .unwrap_or_else(|| panic!("no invitation link in {out}"));
    assert_ne!(second, link, "a new invitation");

    admin.ok(&["staff", "remove", "agent@shop.example.com"]);
    let list = admin.json(&["staff", "list", "--json"]);
    assert_eq!(list, serde_json::json!([]));
    let error = admin.fails(&["staff", "remove", "agent@shop.example.com"]);
    assert!(error.contains("no staff member"), "{error}");
}

#[test]
fn a_staff_members_role_is_changed_from_the_command_line_but_never_the_last_owners() {
    let admin = Admin::new();
    admin.ok(&["staff", "add", "boss@shop.example.com", "--role", "owner"]);
    admin.ok(&[
        "staff",
        "add",
        "agent@shop.example.com",
        "--role",
        "support",
    ]);
    let role_of = |email: &str| {
        let list = admin.json(&["staff", "list", "--json"]);
        list.as_array()
            .unwrap()
            .iter()
            .find(|m| m["email"] == email)
            .map(|m| m["role"].clone())
            .unwrap_or_else(|| panic!("{email} is not listed: {list}"))
    };

    let out = admin.ok(&["staff", "role", "agent@shop.example.com", "--role", "owner"]);
    assert!(out.contains("agent@shop.example.com is now owner"), "{out}");
    assert_eq!(role_of("agent@shop.example.com"), "owner");
    let out = admin.ok(&["staff", "role", "Agent@Shop.Example.com", "--role", "owner"]);
    assert!(out.contains("already"), "{out}");

    // Two owners: either may step down, but not the one left.
    admin.ok(&[
        "staff",
        "role",
        "boss@shop.example.com",
        "--role",
        "support",
    ]);
    assert_eq!(role_of("boss@shop.example.com"), "support");
    let error = admin.fails(&[
        "staff",
        "role",
        "agent@shop.example.com",
        "--role",
        "support",
    ]);
    assert!(error.contains("last owner"), "{error}");
    assert_eq!(role_of("agent@shop.example.com"), "owner");

    let error = admin.fails(&[
        "staff",
        "role",
        "nobody@shop.example.com",
        "--role",
        "owner",
    ]);
    assert!(error.contains("no staff member"), "{error}");
    let refused = admin.run(&["staff", "role", "boss@shop.example.com", "--role", "boss"]);
    assert!(!refused.status.success());
    assert_eq!(role_of("boss@shop.example.com"), "support");
}
