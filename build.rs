//! Embeds every `domains/*.toml` file in the binary. The list is generated so that adding a
//! domain is adding a file: nothing else to register.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=domains");
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("domains");
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        files.push((stem.to_owned(), path.clone()));
    }
    files.sort();
    let mut out = String::from(
        "/// Every domain file, sorted by name: (domain name, file contents).\n\
         pub static DOMAIN_FILES: &[(&str, &str)] = &[\n",
    );
    for (stem, path) in &files {
        out.push_str(&format!(
            "    ({stem:?}, include_str!({:?})),\n",
            path.display().to_string()
        ));
    }
    out.push_str("];\n");
    fs::write(
        PathBuf::from(env::var("OUT_DIR")?).join("domain_files.rs"),
        out,
    )?;
    Ok(())
}
