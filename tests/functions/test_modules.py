"""Every function module is valid wasm and imports only what the host provides."""
import glob
import os
import re
import subprocess

import pytest

from conftest import BUILD, ROOT

WASMS = sorted(glob.glob(os.path.join(BUILD, "functions", "*.wasm")))


def provided():
    """The (module, name) pairs of host/imports/imports.c's one list of bindings."""
    with open(os.path.join(ROOT, "host", "imports", "imports.c")) as f:
        pairs = set(re.findall(r'BIND\("([^"]+)", "([^"]+)",', f.read()))
    assert len(pairs) >= 11, pairs  # kv ×6, sql ×2, http-out, config, log at least
    return pairs


def imports(wasm):
    """Every import of a module, from wasm-objdump; fails when the listing is
    not what this parser expects (so an empty listing can never pass)."""
    subprocess.run(["wasm-validate", wasm], check=True)
    out = subprocess.run(["wasm-objdump", "-x", "-j", "Import", wasm], check=True,
                         capture_output=True, text=True).stdout
    count = re.search(r"^Import\[(\d+)\]:", out, re.M)
    assert count, out
    found = []
    for line in out.splitlines():
        m = re.search(r"<- (.+)\.([^.]+)$", line)
        if m:
            found.append((m.group(1), m.group(2)))
    assert len(found) == int(count.group(1)) > 0, out
    return found


def test_every_function_was_built():
    names = {os.path.basename(d.rstrip("/")) for d in glob.glob("functions/*/")}
    assert {os.path.basename(w)[:-5] for w in WASMS} == names


@pytest.mark.parametrize("wasm", WASMS, ids=os.path.basename)
def test_modules_validate_and_import_only_the_contract(wasm):
    extra = set(imports(wasm)) - provided()
    assert not extra, extra


def test_the_import_check_refuses_an_unknown_import():
    # the badimport fixture imports bastion:edge/kv@0.1.0 flush-all
    bad = os.path.join(BUILD, "test", "functions", "badimport.wasm")
    assert set(imports(bad)) - provided() == {("bastion:edge/kv@0.1.0", "flush-all")}
