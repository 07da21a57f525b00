"""Every function module is valid wasm and imports only the contract."""
import glob
import os
import subprocess

from conftest import BUILD

WASMS = sorted(glob.glob(os.path.join(BUILD, "functions", "*.wasm")))


def test_every_function_was_built():
    names = {os.path.basename(d.rstrip("/")) for d in glob.glob("functions/*/")}
    assert {os.path.basename(w)[:-5] for w in WASMS} == names


def test_modules_validate_and_import_only_the_contract():
    for w in WASMS:
        subprocess.run(["wasm-validate", w], check=True)
        out = subprocess.run(["wasm-objdump", "-x", "-j", "Import", w], check=True,
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if "<-" not in line:
                continue
            module = line.split("<-")[1].strip().rsplit(".", 1)[0]
            assert module.startswith("bastion:edge/") or module == "wasi_snapshot_preview1", (w, line)
