//! `micro cli`: the interactive session. One registry for the whole session (so what it
//! registers can be found, called and deregistered from the next line), a `micro> ` prompt
//! with line editing and history on a terminal, plain lines from a pipe or a script.
//!
//! Each line is split into words (`split_words`, on the `shlex` crate) and parsed by the
//! same clap types as the command line, then run by `crate::run`; the session's
//! registrations are deregistered when it ends. From a pipe, a failed line makes the
//! session exit 1 at the end.

use crate::cmd::{print, Failure, Outcome};
use crate::session::Session;
use crate::{Cli, Opts};
use clap::{CommandFactory, Parser};
use std::io::IsTerminal;
use tokio::io::AsyncBufReadExt;

/// Splits a line into words the way a POSIX shell does (the `shlex` crate), except that a
/// bare word (one that does not start with a quote) is taken as typed, so unquoted JSON such
/// as {"name":"x"} stays intact. A word that starts with ' or " runs to the matching quote
/// (quotes removed; inside "…" a backslash escapes " \ $ and `), and what follows that
/// quote up to the next blank is taken as typed too. A quote left open is an error.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    // shlex would take the quotes inside a bare word as shell quoting ({"name":"x"} would
    // become {name:x}), so this pass hands shlex each bare part already quoted by shlex's
    // own quoter, which shlex gives back exactly as typed, and each leading quoted part as
    // it was written. It only has to find where words and quotes end.
    let quoter = shlex::Quoter::new().allow_nul(true);
    let mut shell = String::with_capacity(line.len() + 16);
    let mut rest = line;
    loop {
        rest = rest.trim_start_matches(is_blank);
        if rest.is_empty() {
            break;
        }
        if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
            let end = closing_quote(rest, q).ok_or_else(|| format!("unclosed {q} quote"))?;
            shell.push_str(&rest[..=end]);
            rest = &rest[end + 1..];
        }
        let bare_end = rest.find(is_blank).unwrap_or(rest.len());
        if bare_end > 0 {
            let bare = quoter.quote(&rest[..bare_end]).map_err(|e| format!("cannot read the line: {e:?}"))?;
            shell.push_str(&bare);
        }
        shell.push(' ');
        rest = &rest[bare_end..];
    }
    shlex::split(&shell).ok_or_else(|| "cannot split the line into words".to_string())
}

/// The blanks between words, as shlex has them.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

/// The byte index of the quote that closes the one `word` starts with (`q`, ' or "): the
/// next ' for ', the next unescaped " for ".
fn closing_quote(word: &str, q: char) -> Option<usize> {
    let mut chars = word.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Some(i);
        }
        if c == '\\' && q == '"' {
            chars.next();
        }
    }
    None
}

/// The list `help` prints: every command but `cli`, `completion` and clap's `help`, with
/// its first line of help, and the session's own `help` and `quit`.
fn interactive_help() -> String {
    let cmd = Cli::command();
    let mut rows: Vec<(String, String)> = cmd
        .get_subcommands()
        .filter(|c| !matches!(c.get_name(), "cli" | "completion" | "help"))
        .map(|c| (c.get_name().to_string(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect();
    rows.push(("help".into(), "This help (also ?); `COMMAND --help` for one command".into()));
    rows.push(("quit".into(), "Leave the session (also exit, Ctrl-D)".into()));
    rows.sort();
    let width = rows.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut out = String::from("Commands:\n");
    for (n, a) in rows {
        out.push_str(&format!("\t{n:width$}\t{}\n", a.lines().next().unwrap_or("")));
    }
    out
}

/// The lines of an interactive session: on a terminal a line editor (rustyline: editing,
/// history kept in `~/.micro_history`, Ctrl-C clears the line, Ctrl-D leaves); from a pipe
/// or a script, plain lines.
enum Lines {
    Editor { editor: Option<rustyline::DefaultEditor>, history: Option<std::path::PathBuf> },
    Piped(tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>),
}

impl Lines {
    fn new(tty: bool) -> Lines {
        let piped = || Lines::Piped(tokio::io::BufReader::new(tokio::io::stdin()).lines());
        if !tty {
            return piped();
        }
        match rustyline::DefaultEditor::new() {
            Ok(mut editor) => {
                let history = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".micro_history"));
                if let Some(h) = &history {
                    let _ = editor.load_history(h);
                }
                Lines::Editor { editor: Some(editor), history }
            }
            Err(e) => {
                eprintln!("micro: no line editing ({e}); reading plain lines");
                piped()
            }
        }
    }

    /// The next line; `None` at the end of input.
    async fn next(&mut self) -> Option<String> {
        let (slot, history) = match self {
            Lines::Piped(lines) => return lines.next_line().await.ok().flatten(),
            Lines::Editor { editor, history } => (editor, history),
        };
        let mut editor = slot.take()?;
        // The editor blocks on the terminal: off the runtime's workers.
        let (mut editor, read) = tokio::task::spawn_blocking(move || {
            let read = editor.readline("micro> ");
            (editor, read)
        })
        .await
        .ok()?;
        let line = match read {
            Ok(line) => line,
            Err(rustyline::error::ReadlineError::Interrupted) => String::new(),
            Err(_) => return None,
        };
        if !line.trim().is_empty() {
            // Saved as each line is read (a killed session keeps its history), so there is
            // nothing left to save at the end.
            let _ = editor.add_history_entry(line.as_str());
            if let Some(h) = history {
                let _ = editor.save_history(h);
            }
        }
        *slot = Some(editor);
        Some(line)
    }
}

/// Runs the session on stdin until `quit`, `exit` or the end of input.
pub async fn run(opts: &Opts) -> Outcome {
    let sess = Session::new(opts, true);
    let tty = std::io::stdin().is_terminal();
    let mut lines = Lines::new(tty);
    let mut failures = 0u32;
    loop {
        let Some(line) = lines.next().await else { break };
        let mut words = match split_words(line.trim()) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{e}");
                continue;
            }
        };
        match words.first().map(String::as_str) {
            None => continue,
            Some("quit" | "exit") => break,
            Some("help" | "?") => {
                print(&interactive_help());
                continue;
            }
            // `get NAME` works as well as `get service NAME`.
            Some("get") if words.len() == 2 && words[1] != "service" => words.insert(1, "service".into()),
            Some(w)
                if !Cli::command()
                    .get_subcommands()
                    .any(|c| c.get_name() == w || c.get_all_aliases().any(|a| a == w)) =>
            {
                eprintln!("unknown command {w:?}: type help for the list");
                failures += 1;
                continue;
            }
            _ => {}
        }
        let parsed = Cli::try_parse_from(std::iter::once("micro".to_string()).chain(words));
        let cli = match parsed {
            Ok(c) => c,
            Err(e) => {
                let _ = e.print();
                if e.use_stderr() {
                    failures += 1;
                }
                continue;
            }
        };
        // The session keeps its registry; per-line options (--output, --address …) apply.
        let mut line_opts = cli.opts;
        line_opts.registry = opts.registry.clone();
        if let Err(f) = crate::run(cli.cmd, &line_opts, &sess).await {
            eprintln!("{}", f.text());
            failures += 1;
        }
    }
    sess.release().await;
    if failures > 0 && !tty {
        return Err(Failure::Failed(format!("{failures} command(s) failed")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"call greeter Greeter.Hello '{"name": "J o"}'"#).unwrap(),
            vec!["call", "greeter", "Greeter.Hello", r#"{"name": "J o"}"#]
        );
        assert_eq!(split_words(r#"a "b \"c\"" d"#).unwrap(), vec!["a", r#"b "c""#, "d"]);
        assert!(split_words("a 'b").is_err());
        assert_eq!(
            split_words(r#"register service {"name":"foo"}"#).unwrap(),
            vec!["register", "service", r#"{"name":"foo"}"#]
        );
    }

    /// Where shlex alone would differ, the session keeps what it always did: bare words as
    /// typed (quotes, backslashes, a leading #), what follows a closing quote as typed, and
    /// an open quote named in the error. Inside "…" shlex's POSIX escapes apply (\$ and \`).
    #[test]
    fn bare_words_are_taken_as_typed() {
        assert_eq!(split_words(r#"a\"b #c 'x'"y" ''"#).unwrap(), vec![r#"a\"b"#, "#c", r#"x"y""#, ""]);
        assert_eq!(split_words("call\ts  E {\"a\":\"x\\\"y\"}").unwrap(), vec!["call", "s", "E", r#"{"a":"x\"y"}"#]);
        assert_eq!(split_words(r#""\$HOME \` \n""#).unwrap(), vec![r"$HOME ` \n"]);
        assert_eq!(split_words(r#"a "b"#).unwrap_err(), "unclosed \" quote");
        assert_eq!(split_words(r#"a "b\"#).unwrap_err(), "unclosed \" quote");
        assert_eq!(split_words("a 'b").unwrap_err(), "unclosed ' quote");
        assert_eq!(split_words("  \t ").unwrap(), Vec::<String>::new());
    }
}
