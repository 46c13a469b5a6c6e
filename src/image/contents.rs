//! What the image holds besides the packages, from the `mkACI` arguments
//! `users`, `groups`, `perms`, `files` and the owners of `mounts`/`mountsRo`,
//! turned into the plan's [`Extras`]; and the build-time check that `user`
//! and `group` name an account of the image's own `/etc/passwd` and
//! `/etc/group`.
//!
//! With `users` or `groups` given, mkaci writes `/etc/passwd` and
//! `/etc/group` as real files: `root` (0) and `nobody` (65534) always, then
//! the given accounts, ordered by id; `/etc/nsswitch.conf` gets
//! `passwd: files` and `group: files` lines (unless a package has one). A
//! user's `home`, when given, is created and owned by the user (mode 0700).
//! Without `users` and `groups` none of these files is written, and a
//! package's `/etc/passwd` is what `user` is checked against.

use std::collections::{BTreeMap, BTreeSet};

use crate::image::plan::{ExtraDir, ExtraFile, Extras, GeneratedFile, ImagePath, Meta, Perm, PlanError, PlannedRootfs};
use crate::nix::attrs::{AciSpec, FileSpec, GroupSpec, MountSpec, UserSpec};
use crate::nix::store_path::{StoreDir, StorePathError};

/// The accounts always written: name, id.
pub const ROOT: (&str, u32) = ("root", 0);
pub const NOBODY: (&str, u32) = ("nobody", 65534);
/// The home and shell of `root`, `nobody` and users that give none.
pub const DEFAULT_HOME: &str = "/var/empty";
pub const DEFAULT_SHELL: &str = "/bin/sh";
/// The mode of a home directory mkaci creates.
pub const HOME_MODE: u32 = 0o700;
/// `/etc/nsswitch.conf` when the packages have none.
pub const NSSWITCH: &[u8] = b"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n";

const NAME_RULE: &str = "a lowercase letter or _, then lowercase letters, digits, _ or -, at most 32 characters";

/// Why `users`, `groups`, `perms`, `files` or a mount's owner cannot go into
/// the image, or `user`/`group` names no account of it. Each message starts
/// with the argument at fault.
#[derive(Debug, thiserror::Error)]
pub enum ContentsError {
    #[error("{field}.{name}: {name:?} is not a valid {what} name ({NAME_RULE}); rename it, e.g. {field}.app")]
    Name { field: &'static str, name: String, what: &'static str },
    #[error("{field}.{name}: {name} is always in /etc/{file} (id {id}); remove {field}.{name}, or give your account another name")]
    Reserved { field: &'static str, name: String, file: &'static str, id: u32 },
    #[error("{second}: {kind} {id} is already used by {first}; give each its own {kind}")]
    DuplicateId { kind: &'static str, id: u32, first: String, second: String },
    #[error("users.{user}: no gid, and there is no groups.{user} to take it from; set users.{user}.gid, or add groups.{user} = {{ gid = {uid}; }}")]
    NoGid { user: String, uid: u32 },
    #[error("users.{user}.gid = {gid}: no group has gid {gid}; add groups.{user} = {{ gid = {gid}; }}, or use the gid of an existing group")]
    GidWithoutGroup { user: String, gid: u32 },
    #[error("groups.{group}.members: {member:?} is not a user of the image; add users.{member}, or remove it from the members")]
    UnknownMember { group: String, member: String },
    #[error("{field} = {value:?}: {problem}")]
    Path { field: String, value: String, problem: &'static str },
    #[error("{field} = {value:?}: contains {ch:?}, which /etc/passwd cannot hold; remove it")]
    Text { field: String, value: String, ch: char },
    #[error("{field} = {value:?}: not an octal mode; write it as a string of octal digits, e.g. \"0750\" (at most \"07777\")")]
    Mode { field: String, value: String },
    #[error("{field} = {value:?}: the source must be a store path ({error}); give a path or a derivation, e.g. {field} = ./app.conf")]
    Source { field: String, value: String, error: StorePathError },
    #[error("{field}: {value:?} is not in the image's {file} ({why}); {fix}")]
    Unknown { field: &'static str, value: String, file: &'static str, why: String, fix: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
}

/// Parses a mode given as octal digits (`"0750"`, `"750"`).
pub fn parse_mode(field: &str, value: &str) -> Result<u32, ContentsError> {
    let err = || ContentsError::Mode { field: field.to_string(), value: value.to_string() };
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(err());
    }
    let m = u32::from_str_radix(value, 8).map_err(|_| err())?;
    if m > 0o7777 {
        return Err(err());
    }
    Ok(m)
}

/// An absolute path in the image other than `/`, normalised.
fn image_path(field: &str, value: &str) -> Result<ImagePath, ContentsError> {
    let err = |problem| ContentsError::Path { field: field.to_string(), value: value.to_string(), problem };
    if !value.starts_with('/') {
        return Err(err("must be an absolute path in the image, e.g. \"/var/lib/app\""));
    }
    if value.trim_end_matches('/').is_empty() {
        return Err(err("must not be \"/\"; name a directory or file below it"));
    }
    ImagePath::from_absolute(value)
        .ok_or_else(|| err("must be a plain absolute path, without empty, \".\" or \"..\" components"))
}

fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-')
}

fn text(field: String, value: &str) -> Result<(), ContentsError> {
    match value.chars().find(|c| *c == ':' || *c == '\n' || *c == '\0') {
        Some(ch) => Err(ContentsError::Text { field, value: value.to_string(), ch }),
        None => Ok(()),
    }
}

fn meta(field: &str, uid: Option<u32>, gid: Option<u32>, mode: &Option<String>) -> Result<Meta, ContentsError> {
    let mode = mode.as_deref().map(|m| parse_mode(&format!("{field}.mode"), m)).transpose()?;
    Ok(Meta { uid, gid, mode })
}

/// One line of `/etc/passwd`.
struct PasswdLine {
    name: String,
    uid: u32,
    gid: u32,
    description: String,
    home: String,
    shell: String,
}

/// The generated `/etc` files and the home directories.
type Accounts = (Vec<GeneratedFile>, Vec<ExtraDir>);

/// `/etc/passwd` and `/etc/group` from `users` and `groups`, and the home
/// directories; `None` when neither is given.
fn accounts(spec: &AciSpec) -> Result<Option<Accounts>, ContentsError> {
    if spec.users.is_empty() && spec.groups.is_empty() {
        return Ok(None);
    }
    // Groups first: a user's gid must name one.
    let mut gids: BTreeMap<u32, String> = BTreeMap::new();
    gids.insert(ROOT.1, "root (always written)".into());
    gids.insert(NOBODY.1, "nobody (always written)".into());
    let mut group_lines: Vec<(u32, String, Vec<String>)> =
        vec![(ROOT.1, ROOT.0.into(), vec![]), (NOBODY.1, NOBODY.0.into(), vec![])];
    for (name, GroupSpec { gid, members }) in &spec.groups {
        check_name("groups", name, "group", "group")?;
        if let Some(first) = gids.insert(*gid, format!("groups.{name}")) {
            return Err(ContentsError::DuplicateId {
                kind: "gid",
                id: *gid,
                first,
                second: format!("groups.{name}.gid"),
            });
        }
        group_lines.push((*gid, name.clone(), members.clone()));
    }
    let mut uids: BTreeMap<u32, String> = BTreeMap::new();
    uids.insert(ROOT.1, "root (always written)".into());
    uids.insert(NOBODY.1, "nobody (always written)".into());
    let mut passwd = vec![
        PasswdLine {
            name: ROOT.0.into(),
            uid: ROOT.1,
            gid: ROOT.1,
            description: "root".into(),
            home: DEFAULT_HOME.into(),
            shell: DEFAULT_SHELL.into(),
        },
        PasswdLine {
            name: NOBODY.0.into(),
            uid: NOBODY.1,
            gid: NOBODY.1,
            description: "nobody".into(),
            home: DEFAULT_HOME.into(),
            shell: DEFAULT_SHELL.into(),
        },
    ];
    let mut homes = Vec::new();
    for (name, UserSpec { uid, gid, home, shell, description }) in &spec.users {
        check_name("users", name, "user", "passwd")?;
        if let Some(first) = uids.insert(*uid, format!("users.{name}")) {
            return Err(ContentsError::DuplicateId {
                kind: "uid",
                id: *uid,
                first,
                second: format!("users.{name}.uid"),
            });
        }
        let gid = match gid {
            Some(g) => *g,
            None => match spec.groups.get(name) {
                Some(g) => g.gid,
                None => return Err(ContentsError::NoGid { user: name.clone(), uid: *uid }),
            },
        };
        if !gids.contains_key(&gid) {
            return Err(ContentsError::GidWithoutGroup { user: name.clone(), gid });
        }
        let description = description.clone().unwrap_or_default();
        text(format!("users.{name}.description"), &description)?;
        let shell = shell.clone().unwrap_or_else(|| DEFAULT_SHELL.into());
        text(format!("users.{name}.shell"), &shell)?;
        if !shell.starts_with('/') {
            return Err(ContentsError::Path {
                field: format!("users.{name}.shell"),
                value: shell,
                problem: "must be an absolute path, e.g. \"/bin/sh\"",
            });
        }
        let home_str = match home {
            Some(h) => {
                let field = format!("users.{name}.home");
                text(field.clone(), h)?;
                let path = image_path(&field, h)?;
                homes.push(ExtraDir {
                    path,
                    meta: Meta { uid: Some(*uid), gid: Some(gid), mode: Some(HOME_MODE) },
                    what: field,
                });
                h.trim_end_matches('/').to_string()
            }
            None => DEFAULT_HOME.into(),
        };
        passwd.push(PasswdLine { name: name.clone(), uid: *uid, gid, description, home: home_str, shell });
    }
    let users: BTreeSet<&str> = passwd.iter().map(|p| p.name.as_str()).collect();
    for (name, g) in &spec.groups {
        if let Some(m) = g.members.iter().find(|m| !users.contains(m.as_str())) {
            return Err(ContentsError::UnknownMember { group: name.clone(), member: m.clone() });
        }
    }
    passwd.sort_by(|a, b| (a.uid, &a.name).cmp(&(b.uid, &b.name)));
    group_lines.sort();
    let passwd_bytes: String = passwd
        .iter()
        .map(|p| format!("{}:x:{}:{}:{}:{}:{}\n", p.name, p.uid, p.gid, p.description, p.home, p.shell))
        .collect();
    let group_bytes: String =
        group_lines.iter().map(|(gid, name, members)| format!("{name}:x:{gid}:{}\n", members.join(","))).collect();
    let file = |path: &str, bytes: Vec<u8>, if_absent| GeneratedFile {
        path: ImagePath::new(path).expect("valid"),
        bytes,
        what: "users and groups (the generated /etc files)".into(),
        if_absent,
    };
    let generated = vec![
        file("etc/group", group_bytes.into_bytes(), false),
        file("etc/nsswitch.conf", NSSWITCH.to_vec(), true),
        file("etc/passwd", passwd_bytes.into_bytes(), false),
    ];
    Ok(Some((generated, homes)))
}

fn check_name(field: &'static str, name: &str, what: &'static str, file: &'static str) -> Result<(), ContentsError> {
    if !valid_name(name) {
        return Err(ContentsError::Name { field, name: name.to_string(), what });
    }
    for (n, id) in [ROOT, NOBODY] {
        if name == n {
            return Err(ContentsError::Reserved { field, name: name.to_string(), file, id });
        }
    }
    Ok(())
}

/// The plan's [`Extras`] from the arguments. No argument given: the default
/// (nothing added).
pub fn extras(spec: &AciSpec, store: &StoreDir) -> Result<Extras, ContentsError> {
    let mut x = Extras::default();
    if let Some((generated, dirs)) = accounts(spec)? {
        x.generated = generated;
        x.dirs = dirs;
    }
    for (field, map) in [("mounts", &spec.mounts), ("mountsRo", &spec.mounts_ro)] {
        for (name, m) in map {
            if let MountSpec::Owned(o) = m {
                x.mounts.insert(name.clone(), meta(&format!("{field}.{name}"), o.uid, o.gid, &o.mode)?);
            }
        }
    }
    for (path, f) in &spec.files {
        let field = format!("files.\"{path}\"");
        let image = image_path(&field, path)?;
        let (source, m) = match f {
            FileSpec::Source(s) => (s, Meta::default()),
            FileSpec::Owned(o) => (&o.source, meta(&field, o.uid, o.gid, &o.mode)?),
        };
        // A store path, or a path inside one (`"${pkg}/etc/app.conf"`).
        let trimmed = source.trim_end_matches('/');
        let rest = trimmed.strip_prefix(store.as_str()).and_then(|r| r.strip_prefix('/')).unwrap_or("");
        let (base, below) = rest.split_once('/').unwrap_or((rest, ""));
        let source_err =
            |error| ContentsError::Source { field: format!("{field}.source"), value: source.clone(), error };
        let sp = if base.is_empty() {
            Err(StorePathError::NotInStore { path: source.clone(), store_dir: store.as_str().to_string() })
        } else {
            store.parse_path(&format!("{}/{base}", store.as_str()))
        }
        .map_err(source_err)?;
        if below.split('/').any(|c| c == ".." || c == ".") {
            return Err(ContentsError::Path {
                field: format!("{field}.source"),
                value: source.clone(),
                problem: "must be a store path or a plain path inside one, without \".\" or \"..\" components",
            });
        }
        let mut host = store.host_path(&sp);
        if !below.is_empty() {
            host.push(below);
        }
        x.files.push(ExtraFile { path: image, source: host, meta: m, what: field });
    }
    for (i, p) in spec.perms.iter().enumerate() {
        let field = format!("perms[{i}]");
        let path = image_path(&format!("{field}.path"), &p.path)?;
        let m = meta(&field, p.uid, p.gid, &p.mode)?;
        x.perms.push(Perm { path, meta: m, recursive: p.recursive, what: field });
    }
    Ok(x)
}

/// `user` and `group`, when names, must be in the image's own `/etc/passwd`
/// and `/etc/group` (generated, or a package's). Numbers pass as they are.
pub fn check_user_group(planned: &PlannedRootfs, spec: &AciSpec) -> Result<(), ContentsError> {
    let user = spec.user.as_deref().unwrap_or("0");
    let group = spec.group.as_deref().unwrap_or("0");
    for (field, value, file) in [("user", user, "/etc/passwd"), ("group", group, "/etc/group")] {
        if value.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let contents = planned.read_file(file)?;
        let names: Vec<String> = contents
            .as_deref()
            .map(|c| {
                String::from_utf8_lossy(c)
                    .lines()
                    .filter_map(|l| l.split(':').next())
                    .filter(|n| !n.is_empty() && !n.starts_with('#'))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if names.iter().any(|n| n == value) {
            continue;
        }
        let why = match &contents {
            None => "the image has none".to_string(),
            Some(_) => format!("it lists {}", names.join(", ")),
        };
        let fix = fix_for(field, value, spec);
        return Err(ContentsError::Unknown { field, value: value.to_string(), file, why, fix });
    }
    Ok(())
}

/// The arguments that would make `value` an account of the image.
fn fix_for(field: &str, value: &str, spec: &AciSpec) -> String {
    if let Some((_, id)) = [ROOT, NOBODY].into_iter().find(|(n, _)| *n == value) {
        return format!("give users or groups (which always write {value}), or the number: {field} = \"{id}\"");
    }
    // A free id from 1000 on.
    let used: BTreeSet<u32> = spec.users.values().map(|u| u.uid).chain(spec.groups.values().map(|g| g.gid)).collect();
    let id = (1000..).find(|i| !used.contains(i)).expect("a free id");
    match field {
        "user" => {
            let group = match spec.groups.get(value) {
                Some(_) => String::new(),
                None => format!(" groups.{value} = {{ gid = {id}; }};"),
            };
            format!(
                "add it with users.{value} = {{ uid = {id}; gid = {id}; home = \"/var/lib/{value}\"; }};{group} or give a number, e.g. user = \"{id}\""
            )
        }
        _ => format!("add it with groups.{value} = {{ gid = {id}; }}; or give a number, e.g. group = \"{id}\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> AciSpec {
        let mut v = serde_json::json!({ "packages": [] });
        for (k, x) in json.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn generated(x: &Extras, path: &str) -> String {
        let g = x.generated.iter().find(|g| g.path == ImagePath::new(path).unwrap()).unwrap();
        String::from_utf8(g.bytes.clone()).unwrap()
    }

    #[test]
    fn nothing_given_adds_nothing() {
        assert!(extras(&spec(serde_json::json!({})), &StoreDir::default()).unwrap().is_empty());
    }

    #[test]
    fn passwd_and_group() {
        let s = spec(serde_json::json!({
            "users": { "app": { "uid": 1000, "home": "/var/lib/app/", "description": "The app" },
                       "web": { "uid": 33, "gid": 1000, "shell": "/bin/false" } },
            "groups": { "app": { "gid": 1000, "members": ["web"] } },
        }));
        let x = extras(&s, &StoreDir::default()).unwrap();
        assert_eq!(
            generated(&x, "etc/passwd"),
            "root:x:0:0:root:/var/empty:/bin/sh\nweb:x:33:1000::/var/empty:/bin/false\n\
             app:x:1000:1000:The app:/var/lib/app:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/sh\n"
        );
        assert_eq!(generated(&x, "etc/group"), "root:x:0:\napp:x:1000:web\nnobody:x:65534:\n");
        assert_eq!(generated(&x, "etc/nsswitch.conf").as_bytes(), NSSWITCH);
        assert_eq!(
            x.dirs,
            vec![ExtraDir {
                path: ImagePath::new("var/lib/app").unwrap(),
                meta: Meta { uid: Some(1000), gid: Some(1000), mode: Some(0o700) },
                what: "users.app.home".into(),
            }]
        );
    }

    #[test]
    fn bad_accounts_name_the_entry() {
        let err = |j| extras(&spec(j), &StoreDir::default()).unwrap_err();
        let e = err(serde_json::json!({ "users": { "a": { "uid": 5, "gid": 0 }, "b": { "uid": 5, "gid": 0 } } }));
        assert!(
            matches!(&e, ContentsError::DuplicateId { kind: "uid", id: 5, first, second }
            if first == "users.a" && second == "users.b.uid"),
            "{e}"
        );
        let e = err(serde_json::json!({ "users": { "a": { "uid": 0, "gid": 0 } } }));
        assert!(matches!(&e, ContentsError::DuplicateId { kind: "uid", id: 0, .. }), "{e}");
        let e = err(serde_json::json!({ "groups": { "a": { "gid": 7 }, "b": { "gid": 7 } } }));
        assert!(matches!(&e, ContentsError::DuplicateId { kind: "gid", id: 7, .. }), "{e}");
        let e = err(serde_json::json!({ "users": { "a": { "uid": 5 } } }));
        assert!(matches!(&e, ContentsError::NoGid { user, uid: 5 } if user == "a"), "{e}");
        let e = err(serde_json::json!({ "users": { "a": { "uid": 5, "gid": 9 } } }));
        assert!(matches!(&e, ContentsError::GidWithoutGroup { gid: 9, .. }), "{e}");
        assert!(e.to_string().contains("groups.a = { gid = 9; }"), "{e}");
        let e = err(serde_json::json!({ "users": { "a": { "uid": 5, "gid": 0, "home": "var/a" } } }));
        assert!(matches!(&e, ContentsError::Path { field, .. } if field == "users.a.home"), "{e}");
        let e = err(serde_json::json!({ "users": { "a": { "uid": 5, "gid": 0, "home": "/" } } }));
        assert!(matches!(&e, ContentsError::Path { .. }), "{e}");
        let e = err(serde_json::json!({ "users": { "App": { "uid": 5, "gid": 0 } } }));
        assert!(matches!(&e, ContentsError::Name { .. }), "{e}");
        let e = err(serde_json::json!({ "users": { "root": { "uid": 5, "gid": 0 } } }));
        assert!(matches!(&e, ContentsError::Reserved { .. }), "{e}");
        let e = err(serde_json::json!({ "users": { "a": { "uid": 5, "gid": 0, "description": "x:y" } } }));
        assert!(matches!(&e, ContentsError::Text { ch: ':', .. }), "{e}");
        let e = err(serde_json::json!({ "groups": { "g": { "gid": 5, "members": ["ghost"] } } }));
        assert!(matches!(&e, ContentsError::UnknownMember { member, .. } if member == "ghost"), "{e}");
    }

    #[test]
    fn modes_and_paths() {
        assert_eq!(parse_mode("m", "0750").unwrap(), 0o750);
        assert_eq!(parse_mode("m", "4755").unwrap(), 0o4755);
        assert_eq!(parse_mode("m", "07777").unwrap(), 0o7777);
        for bad in ["", "0x1ed", "755a", "8", "17777", "-1", "0o755"] {
            let e = parse_mode("perms[0].mode", bad).unwrap_err();
            assert!(matches!(&e, ContentsError::Mode { field, .. } if field == "perms[0].mode"), "{bad}: {e}");
        }
        let err = |j| extras(&spec(j), &StoreDir::default()).unwrap_err();
        let e = err(serde_json::json!({ "perms": [ { "path": "data" } ] }));
        assert!(matches!(&e, ContentsError::Path { field, .. } if field == "perms[0].path"), "{e}");
        let e = err(serde_json::json!({ "perms": [ { "path": "/data", "mode": "rwx" } ] }));
        assert!(matches!(&e, ContentsError::Mode { field, .. } if field == "perms[0].mode"), "{e}");
        let e =
            err(serde_json::json!({ "files": { "etc/app.conf": "/nix/store/00000000000000000000000000000000-c" } }));
        assert!(matches!(&e, ContentsError::Path { .. }), "{e}");
        let e = err(serde_json::json!({ "files": { "/etc/app.conf": "/home/me/app.conf" } }));
        assert!(matches!(&e, ContentsError::Source { .. }), "{e}");
        let e = err(serde_json::json!({ "mounts": { "data": { "path": "/data", "mode": "999" } } }));
        assert!(matches!(&e, ContentsError::Mode { field, .. } if field == "mounts.data.mode"), "{e}");
    }

    #[test]
    fn fixes_show_the_users_line() {
        let s = spec(serde_json::json!({ "users": { "x": { "uid": 1000, "gid": 0 } } }));
        let f = fix_for("user", "app", &s);
        assert!(f.contains("users.app = { uid = 1001; gid = 1001; home = \"/var/lib/app\"; };"), "{f}");
        assert!(f.contains("groups.app = { gid = 1001; }"), "{f}");
        assert!(fix_for("group", "app", &s).contains("groups.app = { gid = 1001; }"));
        assert!(fix_for("user", "root", &s).contains("user = \"0\""));
    }
}
