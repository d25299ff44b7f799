//! With the `tch` feature, bakes libtorch's library folder into the binaries' rpath, so they start
//! without `LD_LIBRARY_PATH`: `$LIBTORCH/lib`, or with `LIBTORCH_USE_PYTORCH=1` the `torch/lib`
//! folder of the Python that torch-sys uses (`python` in a virtualenv, `python3` otherwise).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_USE_PYTORCH");
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() {
        return;
    }
    let lib = if let Ok(root) = std::env::var("LIBTORCH") {
        Some(format!("{root}/lib"))
    } else if std::env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
            "python"
        } else {
            "python3"
        };
        Command::new(python)
            .args([
                "-c",
                "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
            ])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        None
    };
    match lib {
        Some(dir) => println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}"),
        None => println!(
            "cargo:warning=tch: set LIBTORCH or LIBTORCH_USE_PYTORCH=1 (scripts/setup_libtorch.sh); no rpath was set"
        ),
    }
}
