//! `ls-presign check`: validates the configuration, signs a test URL per storage, checks each
//! storage answers, optionally reads a known object and the bucket's CORS answer to `Origin:
//! null` (what a browser sends after the 303), and pings Label Studio. One line per check.

use std::process::ExitCode;

use crate::command::CommandResult;
use crate::config::{Config, Env, NO_STORAGE};
use crate::labelstudio::LabelStudio;
use crate::storage::{ReadOptions, Storages};
use crate::uri::StorageUri;

struct Report {
    failed: usize,
}

impl Report {
    /// A line that does not fail the check.
    fn warn(&self, what: &str, detail: impl std::fmt::Display) {
        println!("WARN {what}: {detail}");
    }

    fn line(&mut self, ok: bool, what: &str, detail: impl std::fmt::Display) {
        if !ok {
            self.failed += 1;
        }
        println!("{} {what}: {detail}", if ok { "PASS" } else { "FAIL" });
    }
}

/// Runs every check; exit 0 when all pass. A broken part of the configuration fails its lines
/// and the checks that need it; the others still run.
pub async fn run(object: Option<String>) -> CommandResult {
    let mut r = Report { failed: 0 };
    let (whole, server, storages, keys, label_studio) = match Config::load_partial(&Env::process()) {
        Ok(c) => {
            feedback_loops(&r, &c);
            (true, Some(c.server), Some(c.storages), Some(c.keys), c.label_studio)
        }
        Err(partial) => {
            // Every problem on a line of its own, all in one run.
            for problem in partial.error.to_string().lines() {
                r.line(false, "configuration", problem);
            }
            (
                false,
                partial.server,
                partial.storages,
                partial.keys,
                partial.label_studio.flatten(),
            )
        }
    };
    let list = storages.map(|s| s.list);
    let names: Vec<String> = list
        .iter()
        .flatten()
        .map(|s| format!("{}://{}", s.scheme, s.bucket))
        .collect();
    match &list {
        Some(list) if list.is_empty() => r.line(false, "configuration", NO_STORAGE),
        Some(_) if whole => r.line(true, "configuration", format!("storages {}", names.join(", "))),
        _ => {}
    }
    match keys.as_ref().map(|k| k.require_secret()) {
        Some(Ok(_)) => r.line(true, "secret", "LS_PRESIGN_SECRET is set (stable links and tokens)"),
        Some(Err(e)) => r.line(false, "secret", e),
        None => {}
    }
    let storages = Storages::new(list.unwrap_or_default())?;
    for (i, s) in storages.all().iter().enumerate() {
        let name = &names[i];
        let p = s.presign("GET", "ls-presign-check", crate::time::now(), s.config.ttl);
        let shown = p.url.split('?').next().unwrap_or_default();
        r.line(true, &format!("sign {name}"), format!("{} {shown}?…", s.algorithm()));
        match storages.probe(i).await {
            Ok(()) => r.line(
                true,
                &format!("reach {name}"),
                format!("{} answers signed requests", s.config.endpoint.host),
            ),
            Err(e) => r.line(false, &format!("reach {name}"), e),
        }
    }
    if let Some(object) = object {
        check_object(&mut r, &storages, &object).await;
    }
    if let (Some(server), Some(ls)) = (&server, &label_studio)
        && let Some(mount) = server.login_mount(&ls.url)
    {
        match mount {
            Ok(detail) => r.line(true, "link policy login", detail),
            Err(detail) => r.line(false, "link policy login", detail),
        }
    }
    if let Some(ls) = &label_studio {
        match LabelStudio::from_config(ls) {
            Ok(client) => match client.ping().await {
                Ok(()) => r.line(
                    true,
                    "label studio",
                    format!(
                        "{} accepts the {} token",
                        ls.url,
                        if client.uses_pat() { "personal access" } else { "legacy" }
                    ),
                ),
                Err(e) => r.line(false, "label studio", e),
            },
            Err(e) => r.line(false, "label studio", e),
        }
    }
    match r.failed {
        0 => println!("all checks passed"),
        n => println!("{} failed", checks(n)),
    }
    Ok(if r.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Export folders inside the folder of a scheduled import: the import leaves them out, but an
/// operator who meant the two apart should hear of it.
fn feedback_loops(r: &Report, c: &Config) {
    for import in &c.imports.scheduled {
        let listed = import.uri.clone().into_folder();
        for folder in c.exports.folders_under(&listed) {
            let export = StorageUri::new(listed.scheme, &listed.bucket, &folder);
            r.warn(
                "export under import",
                format!(
                    "annotations go to {export}, inside {listed} that project {} imports from; the import leaves \
                     {export} out, so they never become tasks",
                    import.project
                ),
            );
        }
    }
}

/// Reads a known object with `Origin: null` and checks the store lets a browser read it.
async fn check_object(r: &mut Report, storages: &Storages, object: &str) {
    let uri = match StorageUri::parse(object) {
        Ok(u) => u,
        Err(e) => return r.line(false, "object", e),
    };
    let opts = ReadOptions {
        method_head: true,
        ..ReadOptions::default()
    };
    match storages.read(&uri, &opts).await {
        Ok(object) => r.line(
            true,
            &format!("read {uri}"),
            format!(
                "{} bytes, {}",
                object.header("content-length").unwrap_or("?"),
                object.header("content-type").unwrap_or("?")
            ),
        ),
        Err(e) => return r.line(false, &format!("read {uri}"), e),
    }
    match storages.cors_answer(&uri, "null").await {
        Ok(acao) => {
            let acao = acao.unwrap_or_else(|| "?".to_owned());
            r.line(
                acao == "*" || acao == "null",
                "bucket CORS after a redirect",
                if acao == "*" || acao == "null" {
                    format!("Origin: null is allowed ({acao})")
                } else {
                    format!(
                        "Origin: null got Access-Control-Allow-Origin {acao:?}: browsers send `Origin: null` after the 303, \
                         so the bucket's CORS rule must allow origin * for GET and HEAD (docs/LABEL_STUDIO.md)"
                    )
                },
            );
        }
        Err(e) => r.line(false, "bucket CORS after a redirect", e),
    }
}

/// "1 check", "2 checks".
fn checks(n: usize) -> String {
    if n == 1 {
        "1 check".to_owned()
    } else {
        format!("{n} checks")
    }
}
