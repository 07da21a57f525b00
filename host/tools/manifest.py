#!/usr/bin/env python3
"""Validate manifest.toml and write build/manifest.json for the host.

usage: manifest.py MANIFEST.toml ROOT BUILD_DIR OUT.json

Every error names the file, the key and what was expected, and the build
stops: a bad manifest never reaches the host.
"""
import json
import os
import re
import sys
import tomllib

NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
STORE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
VAR = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:([0-9]{1,5}|\*))?$")
# outbound_body_limit: the host's default (HOST_OUTBOUND_BODY_LIMIT_DEFAULT in host/host.h) and
# the most a function may set, as large as the largest request body_limit
OUTBOUND_BODY_LIMIT = (16 << 20, 64 << 20)


class Bad(Exception):
    pass


def want(cond, path, key, expected):
    if not cond:
        raise Bad(f"{path}: {key}: expected {expected}")


def str_list(path, key, v, pattern, what):
    want(isinstance(v, list), path, key, f"a list of {what}")
    for i, s in enumerate(v):
        want(isinstance(s, str) and pattern.match(s), path, f"{key}[{i}]", what)
    return v


def main():
    src, root, build, out = sys.argv[1:5]
    try:
        with open(src, "rb") as f:
            doc = tomllib.load(f)
    except FileNotFoundError:
        sys.exit(f"{src}: not found")
    except tomllib.TOMLDecodeError as e:
        sys.exit(f"{src}: not valid TOML: {e}")
    try:
        result = convert(src, root, build, doc)
    except Bad as e:
        sys.exit(str(e))
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    os.replace(tmp, out)


# [server] limits: name → (default, min, max). docs/SECURITY.md explains each.
SERVER_LIMITS = {
    "max_connections": (1024, 1, 65536),        # open client connections in total
    "max_connections_per_ip": (64, 1, 65536),   # open connections from one client address
    "head_timeout_ms": (10000, 100, 600000),    # request head complete within, from accept
    "body_min_bytes_per_s": (1024, 0, 1 << 30),  # after a 2 s grace; 0 = no minimum
    "max_target_bytes": (8192, 64, 65536),      # longer request target → 414
    "max_header_bytes": (32768, 1024, 65536),   # larger header section → 431
    "exec_workers": (64, 1, 1024),              # threads that run guest code
    "exec_queue": (256, 0, 65536),              # complete requests waiting for a worker
    "drain_timeout_ms": (10000, 0, 600000),     # SIGTERM: how long in-flight work may finish
    "guest_log_bytes": (65536, 0, 16 << 20),    # a request's log output, the rest dropped
}


def convert(path, root, build, doc):
    known = {"server", "vars", "functions", "routes", "cron"}
    for k in doc:
        want(k in known, path, k, f"one of the tables {sorted(known)}")
    server = doc.get("server", {})
    want(isinstance(server, dict), path, "server", "a table")
    defaults = {
        "timeout_ms": server.get("default_timeout_ms", 15000),
        "memory_mb": server.get("default_memory_mb", 32),
        "body_limit": server.get("default_body_limit", 1048576),
    }
    trusted = str_list(path, "server.trusted_proxies", server.get("trusted_proxies", []),
                       re.compile(r"^[0-9a-fA-F:.]+$"), "an IP address")
    # SAFE1/SAFE3: every limit a client or a module can run into (docs/SECURITY.md)
    known_server = {"default_timeout_ms", "default_memory_mb", "default_body_limit",
                    "trusted_proxies", *SERVER_LIMITS}
    for k in server:
        want(k in known_server, path, f"server.{k}", f"one of {sorted(known_server)}")
    limits = {}
    for k, (default, lo, hi) in SERVER_LIMITS.items():
        v = server.get(k, default)
        want(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, path,
             f"server.{k}", f"an integer {lo}..{hi}")
        limits[k] = v

    vars_out = {}
    for name, v in doc.get("vars", {}).items():
        key = f"vars.{name}"
        want(VAR.match(name), path, key, "a name of [a-z0-9_]")
        want(isinstance(v, dict), path, key, "a table")
        for k in v:
            want(k in ("required", "secret", "default", "description"), path, f"{key}.{k}",
                 "one of required, secret, default, description")
        want(isinstance(v.get("required", False), bool), path, f"{key}.required", "a boolean")
        want(isinstance(v.get("secret", False), bool), path, f"{key}.secret", "a boolean")
        want("default" not in v or isinstance(v["default"], str), path, f"{key}.default",
             "a string")
        want(not (v.get("secret") and "default" in v), path, f"{key}.default",
             "no default for a secret")
        vars_out[name] = {"required": v.get("required", False), "secret": v.get("secret", False),
                          "default": v.get("default")}

    fns = doc.get("functions", {})
    want(isinstance(fns, dict) and fns, path, "functions", "at least one [functions.NAME] table")
    fns_out = {}
    for name, f in fns.items():
        key = f"functions.{name}"
        want(NAME.match(name), path, key, "a name of [a-z0-9-]")
        want(isinstance(f, dict), path, key, "a table")
        allowed = {"source", "timeout_ms", "memory_mb", "body_limit", "kv", "sql", "vars",
                   "outbound", "outbound_body_limit", "max_concurrency"}
        for k in f:
            want(k in allowed, path, f"{key}.{k}", f"one of {sorted(allowed)}")
        source = f.get("source", f"functions/{name}")
        want(isinstance(source, str), path, f"{key}.source", "a path")
        src_dir = os.path.join(root, source)
        want(os.path.isdir(src_dir), path, f"{key}.source", f"an existing directory ({source})")
        timeout = f.get("timeout_ms", defaults["timeout_ms"])
        want(isinstance(timeout, int) and 1 <= timeout <= 300000, path, f"{key}.timeout_ms",
             "an integer 1..300000")
        mem = f.get("memory_mb", defaults["memory_mb"])
        want(isinstance(mem, int) and 1 <= mem <= 4095, path, f"{key}.memory_mb",
             "an integer 1..4095")
        limit = f.get("body_limit", defaults["body_limit"])
        want(isinstance(limit, int) and 0 <= limit <= 64 << 20, path, f"{key}.body_limit",
             "an integer 0..67108864 (bytes)")
        conc = f.get("max_concurrency", max(1, limits["exec_workers"] // 2))
        want(isinstance(conc, int) and 1 <= conc <= 4096, path, f"{key}.max_concurrency",
             "an integer 1..4096 (requests running at once)")
        kv = str_list(path, f"{key}.kv", f.get("kv", []), STORE, "a store name")
        sql = str_list(path, f"{key}.sql", f.get("sql", []), STORE, "a database name")
        fvars = str_list(path, f"{key}.vars", f.get("vars", []), VAR, "a variable name")
        for i, v in enumerate(fvars):
            want(v in vars_out, path, f"{key}.vars[{i}]", f"a variable declared in [vars] ({v})")
        outbound = str_list(path, f"{key}.outbound", f.get("outbound", []), ORIGIN,
                            "an origin scheme://host[:port|:*]")
        # a fetched response body past this fails the call with `invalid` (wit/bastion.wit)
        out_limit = f.get("outbound_body_limit", OUTBOUND_BODY_LIMIT[0])
        want(isinstance(out_limit, int) and not isinstance(out_limit, bool) and
             1 <= out_limit <= OUTBOUND_BODY_LIMIT[1], path, f"{key}.outbound_body_limit",
             f"an integer 1..{OUTBOUND_BODY_LIMIT[1]} (bytes)")
        schema = os.path.join(src_dir, "schema.sql")
        fns_out[name] = {
            "so": os.path.join(build, "functions", name + ".so"),
            "wasm": os.path.join(build, "functions", name + ".wasm"),
            "source": src_dir,
            "schema": schema if os.path.exists(schema) else None,
            "timeout_ms": timeout, "memory_mb": mem, "body_limit": limit,
            "max_concurrency": conc,
            "kv": kv, "sql": sql, "vars": fvars, "outbound": outbound,
            "outbound_body_limit": out_limit,
        }
        want(fns_out[name]["schema"] is None or sql, path, f"{key}.sql",
             "a database for schema.sql")

    routes = doc.get("routes", [])
    want(isinstance(routes, list), path, "routes", "an array of [[routes]] tables")
    routes_out, seen = [], set()
    for i, r in enumerate(routes):
        key = f"routes[{i}]"
        want(isinstance(r, dict), path, key, "a table")
        want(isinstance(r.get("path"), str) and r["path"].startswith("/"), path, f"{key}.path",
             "a path starting with /")
        for seg in r["path"].split("/")[1:]:
            want(seg != "" or r["path"] == "/", path, f"{key}.path", "no empty segments")
            if "{" in seg or "}" in seg:
                want(re.match(r"^\{[a-z_][a-z0-9_]*\}$", seg), path, f"{key}.path",
                     "parameters as whole segments like {name}")
        want(r["path"] not in seen, path, f"{key}.path", "a path not routed twice")
        seen.add(r["path"])
        want(r.get("function") in fns_out, path, f"{key}.function",
             f"one of the functions {sorted(fns_out)}")
        routes_out.append({"path": r["path"], "function": r["function"]})

    cron_out, cron_names = [], set()
    for i, c in enumerate(doc.get("cron", [])):
        key = f"cron[{i}]"
        want(isinstance(c, dict), path, key, "a table")
        for k in c:
            want(k in ("name", "function", "every_s", "jitter_s", "timeout_ms"), path,
                 f"{key}.{k}", "one of name, function, every_s, jitter_s, timeout_ms")
        want(c.get("function") in fns_out, path, f"{key}.function", "a declared function")
        name = c.get("name", c["function"])
        want(isinstance(name, str) and NAME.match(name), path, f"{key}.name",
             "a name of [a-z0-9-]")
        want(name not in cron_names, path, f"{key}.name", "a job name not used twice")
        cron_names.add(name)
        want(isinstance(c.get("every_s"), int) and 1 <= c["every_s"] <= 86400 * 7, path,
             f"{key}.every_s", "an integer 1..604800 (seconds)")
        jitter = c.get("jitter_s", 0)
        want(isinstance(jitter, int) and 0 <= jitter <= c["every_s"], path, f"{key}.jitter_s",
             "an integer 0..every_s (seconds)")
        # the job's deadline; its lease in kv lives as long (one run at a time)
        timeout = c.get("timeout_ms", fns_out[c["function"]]["timeout_ms"])
        want(isinstance(timeout, int) and 1 <= timeout <= 300000, path, f"{key}.timeout_ms",
             "an integer 1..300000")
        cron_out.append({"name": name, "function": c["function"], "every_s": c["every_s"],
                         "jitter_s": jitter, "timeout_ms": timeout})

    return {"functions": fns_out, "routes": routes_out, "vars": vars_out, "cron": cron_out,
            "trusted_proxies": trusted, "limits": limits, "root": root}


if __name__ == "__main__":
    main()
