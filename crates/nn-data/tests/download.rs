//! The downloader against a local HTTP server on 127.0.0.1, started inside
//! each test, serving the files of `tests/download_files`: a good response,
//! one cut short (the next call resumes it with a range request), a
//! corrupted one, a missing file. No test touches the network outside this
//! machine. Run with `cargo test -p nn-data --features download --test download`.

#![cfg(feature = "download")]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nn_data::download::{download_file, download_files, RemoteFile};
use nn_data::DataError;

const POEM: RemoteFile<'static> = RemoteFile {
    name: "poem.txt",
    sha256: "abb139b706bb24659697c0c437298e085a215cd391beeba85997912e6e7b53a6",
    gunzip: false,
};
const BYTES: RemoteFile<'static> = RemoteFile {
    name: "bytes.gz",
    sha256: "5f707b057486e95de7dc0e7775cd0b3862755eada8cad0a10e98bad9c6135bce",
    gunzip: true,
};

fn served(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/download_files")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Serves `/MODE/NAME` for at most `max_requests` connections, one
/// request each: `ok` honours ranges; `truncated` announces the whole file
/// but sends half of it unless asked for a range; `corrupt` flips one byte;
/// any other mode is a 404. Returns the base URL.
fn serve(max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(max_requests) {
            let Ok(stream) = stream else { continue };
            let _ = answer(stream);
        }
    });
    url
}

fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range_start = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(r) = lower.strip_prefix("range: bytes=") {
            range_start = r.trim().trim_end_matches('-').parse::<usize>().ok();
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let (mode, name) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let file_exists = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/download_files")
        .join(name)
        .is_file();
    if !file_exists || !["ok", "truncated", "corrupt"].contains(&mode) {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let mut body = served(name);
    if mode == "corrupt" {
        let mid = body.len() / 2;
        body[mid] ^= 0x55;
    }
    let (status, from) = match range_start {
        Some(start) if start < body.len() => ("206 Partial Content", start),
        Some(_) => return stream.write_all(
            b"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
        None => ("200 OK", 0),
    };
    let rest = &body[from..];
    let sent = if mode == "truncated" && range_start.is_none() {
        &rest[..rest.len() / 2]
    } else {
        rest
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        rest.len()
    )?;
    stream.write_all(sent)?;
    stream.flush()
}

/// A fresh empty folder per test.
fn folder(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nn-data-download-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn part(path: &Path) -> PathBuf {
    PathBuf::from(format!("{}.part", path.display()))
}

#[test]
fn downloads_and_checks_every_file() {
    let url = serve(8);
    let dir = folder("ok");
    download_files(&format!("{url}/ok/"), &[POEM, BYTES], &dir).unwrap();
    for f in [POEM, BYTES] {
        assert_eq!(std::fs::read(dir.join(f.name)).unwrap(), served(f.name));
        assert!(!part(&dir.join(f.name)).exists());
    }
    // Present files are not fetched again: a dead server does not matter.
    download_files("http://127.0.0.1:9/none/", &[POEM, BYTES], &dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_truncated_response_resumes_on_the_next_call() {
    let url = serve(8);
    let dir = folder("truncated");
    for f in [POEM, BYTES] {
        let dest = dir.join(f.name);
        let target = format!("{url}/truncated/{}", f.name);
        let err = download_file(&target, &dest, &f).unwrap_err();
        assert!(matches!(err, DataError::Download { .. }), "{err}");
        assert!(err.to_string().contains("resume"), "{err}");
        // Nothing under the final name; half the file waits in `.part`.
        assert!(!dest.exists());
        let half = std::fs::metadata(part(&dest)).unwrap().len();
        assert_eq!(half as usize, served(f.name).len() / 2);
        // The second call asks for the rest with a range request.
        download_file(&target, &dest, &f).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), served(f.name));
        assert!(!part(&dest).exists());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupted_response_fails_and_leaves_nothing() {
    let url = serve(8);
    let dir = folder("corrupt");
    for f in [POEM, BYTES] {
        let dest = dir.join(f.name);
        let err = download_file(&format!("{url}/corrupt/{}", f.name), &dest, &f).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("deleted"), "{msg}");
        if !f.gunzip {
            assert!(msg.contains(f.sha256), "{msg}");
        }
        assert!(!dest.exists() && !part(&dest).exists(), "{msg}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_missing_file_is_an_error_naming_the_status() {
    let url = serve(2);
    let dir = folder("missing");
    let dest = dir.join("absent.txt");
    let err = download_file(&format!("{url}/ok/absent.txt"), &dest, &POEM).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    assert!(!dest.exists() && !part(&dest).exists());
    let _ = std::fs::remove_dir_all(&dir);
}
