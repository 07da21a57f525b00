"""Every function's core module under Wasmtime's core-module API: it imports
nothing beyond what the native host provides (host/imports/imports.c
host_bindings: bastion:edge/* and a WASI preview1 subset), each import with
the flat signature the canonical ABI gives its WIT function, and it
instantiates against exactly that list (each import a host function that
traps if called) with the exports a host calls."""
import glob
import os
import re

import pytest
import wasmtime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
I32, I64 = "i32", "i64"
# The canonical ABI's lowering (ABI-NOTES.md): string and list → (ptr, len);
# u32 → i32; u64/s64 → i64; option<list> → (disc, ptr, len); a result or
# other value that flattens past one value comes back through a return
# pointer, the last parameter, and the function returns nothing.
FLAT = {
    # get(store: string, key: string, timeout-ms: u32) -> result<option<list<u8>>, error>
    ("bastion:edge/kv@0.1.0", "get"): ((I32,) * 5 + (I32,), ()),
    # set(store, key, value: list<u8>, ttl-ms: u64, timeout-ms) -> result<_, error>
    ("bastion:edge/kv@0.1.0", "set"): ((I32,) * 6 + (I64, I32, I32), ()),
    ("bastion:edge/kv@0.1.0", "add"): ((I32,) * 6 + (I64, I32, I32), ()),
    # increment(store, key, delta: s64, ttl-ms: u64, timeout-ms) -> result<s64, error>
    ("bastion:edge/kv@0.1.0", "increment"): ((I32,) * 4 + (I64, I64, I32, I32), ()),
    # swap(store, key, expected: option<list<u8>>, value, ttl-ms, timeout-ms) -> result<bool, error>
    ("bastion:edge/kv@0.1.0", "swap"): ((I32,) * 9 + (I64, I32, I32), ()),
    ("bastion:edge/kv@0.1.0", "delete"): ((I32,) * 6, ()),
    # query(db: string, sql: string, params: list<value>, timeout-ms) -> result<rows, error>
    ("bastion:edge/sql@0.1.0", "query"): ((I32,) * 8, ()),
    # transaction(db: string, statements: list<statement>, timeout-ms) -> result<list<rows>, error>
    ("bastion:edge/sql@0.1.0", "transaction"): ((I32,) * 6, ()),
    # send(method, url: string, headers: list<header>, body: list<u8>, timeout-ms) -> result<response, error>
    ("bastion:edge/http-out@0.1.0", "send"): ((I32,) * 10, ()),
    # get(name: string) -> option<string>
    ("bastion:edge/config@0.1.0", "get"): ((I32,) * 3, ()),
    # write(level: level, message: string, fields: list<tuple<string, string>>)
    ("bastion:edge/log@0.1.0", "write"): ((I32,) * 5, ()),
    # WASI preview1 (witx): errno results
    ("wasi_snapshot_preview1", "clock_time_get"): ((I32, I64, I32), (I32,)),
    ("wasi_snapshot_preview1", "random_get"): ((I32, I32), (I32,)),
    ("wasi_snapshot_preview1", "fd_write"): ((I32,) * 4, (I32,)),
    ("wasi_snapshot_preview1", "fd_close"): ((I32,), (I32,)),
    ("wasi_snapshot_preview1", "fd_seek"): ((I32, I64, I32, I32), (I32,)),
    ("wasi_snapshot_preview1", "proc_exit"): ((I32,), ()),
}
EXPORTS = {"memory", "cabi_realloc", "bastion:edge/handler@0.1.0#handle",
           "cabi_post_bastion:edge/handler@0.1.0#handle"}


def host_list():
    """(module, name) of every BIND in host/imports/imports.c, in order."""
    with open(os.path.join(ROOT, "host", "imports", "imports.c")) as f:
        return re.findall(r'BIND\("([^"]+)", "([^"]+)", host_import_\w+\)', f.read())


def valtype(name):
    return wasmtime.ValType.i32() if name == I32 else wasmtime.ValType.i64()


def modules():
    return sorted(glob.glob(os.path.join(ROOT, "build", "functions", "*.wasm")))


def test_the_host_list_is_this_table():
    """The table above is the host's list, no more and no less."""
    assert sorted(host_list()) == sorted(FLAT)


@pytest.mark.parametrize("path", modules(), ids=lambda p: os.path.basename(p)[:-5])
def test_core_module_imports_only_the_host_list_and_instantiates(path):
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, path)
    allowed = set(host_list())
    for imp in module.imports:
        key = (imp.module, imp.name)
        assert key in allowed, f"{os.path.basename(path)} imports {key}, which the host lacks"
        t = imp.type
        got = (tuple(str(p) for p in t.params), tuple(str(r) for r in t.results))
        assert got == FLAT[key], f"{key}: flat signature {got}, the canonical ABI gives {FLAT[key]}"
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    called = []
    for mod, name in host_list():
        params, results = FLAT[(mod, name)]
        ft = wasmtime.FuncType([valtype(p) for p in params], [valtype(r) for r in results])

        def refuse(*args, _n=(mod, name)):
            called.append(_n)
            raise wasmtime.Trap(f"{_n} called during instantiation")
        linker.define_func(mod, name, ft, refuse)
    inst = linker.instantiate(store, module)
    exports = inst.exports(store)
    missing = EXPORTS - set(exports.keys() if hasattr(exports, "keys") else
                            [e.name for e in module.exports])
    assert not missing, f"missing exports {missing}"
    if "_initialize" in [e.name for e in module.exports]:
        exports["_initialize"](store)  # the reactor's constructors, no host call
    realloc = exports["cabi_realloc"]
    p = realloc(store, 0, 0, 8, 64)
    assert p > 0 and p % 8 == 0, f"cabi_realloc(0, 0, 8, 64) = {p}"
    assert called == []
