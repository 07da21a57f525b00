"""Rules every function module's C keeps, checked on its text.

These are the contracts the compiler cannot see (core.h's slice contract,
BASTION_COUNTOF), so a module that breaks one fails here by name and line,
long before the bug it invites shows up in a response. Each rule is also
proved on a snippet that breaks it, so a rule that can no longer fail is
itself a failure.
"""
import glob
import os
import re

import pytest

from conftest import ROOT

MODULES = sorted(glob.glob(os.path.join(ROOT, "functions", "*", "*.c")))
CORE = sorted(glob.glob(os.path.join(ROOT, "shared", "src", "*.c")))


def strip(src):
    """C text with comments removed and the contents of string and character
    literals blanked (quotes kept), so rules see code only."""
    def repl(m):
        t = m.group(0)
        if t.startswith("/*"):
            return re.sub(r"[^\n]", " ", t)
        if t.startswith("//"):
            return ""
        return t[0] + " " * (len(t) - 2) + t[-1]
    return re.sub(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*', repl, src,
                  flags=re.S)


def balanced(src, start, pair="()"):
    """The text from `start` (just after an opening bracket) to its match."""
    i, depth = start, 1
    while depth and i < len(src):
        depth += {pair[0]: 1, pair[1]: -1}.get(src[i], 0)
        i += 1
    return src[start:i - 1]


def calls(src, name):
    """(line, argument text) of every call of `name`."""
    for m in re.finditer(r"\b%s\s*\(" % re.escape(name), src):
        yield src.count("\n", 0, m.start()) + 1, balanced(src, m.end())


# --- the slice contract (core.h): no .ptr where a C string is expected ------

# Calls that read an argument as a NUL-terminated C string.
C_STRING_CALLS = [
    "bastion_sprintf", "snprintf", "sprintf", "printf", "fprintf", "cJSON_AddStringToObject",
    "cJSON_CreateString", "bastion_problem", "bastion_problem_ex", "bastion_problem_with",
    "bastion_field_problem", "bastion_error_add", "strlen", "strcmp", "strncmp", "strchr",
    "strstr", "bastion_cstr", "bastion_log_safe", "bastion_config", "bastion_jwt_has_role",
]
# .ptr used as a test (p.ptr ? …, p.ptr && …) or indexed is not a C string
PTR_AS_STRING = re.compile(r"\.ptr\b(?!\s*(?:\[|\?|&&|\|\||==|!=))")


def slice_ptr_as_c_string(src):
    bad = []
    for name in C_STRING_CALLS:
        for line, args in calls(src, name):
            while (m := re.search(r"\bBASTION_STR_ARG\s*\(", args)):
                args = args[:m.start()] + args[m.end() + len(balanced(args, m.end())) + 1:]
            if PTR_AS_STRING.search(args):
                bad.append(f"{line}: {name}(… .ptr …)")
    return bad


def test_slice_rule_catches_what_it_should():
    assert slice_ptr_as_c_string(strip('x = bastion_sprintf("for %s", in.str.ptr);'))
    assert slice_ptr_as_c_string(strip('cJSON_AddStringToObject(o, "d", in[0].str.ptr);'))
    assert slice_ptr_as_c_string(strip('bastion_problem(cx, rc, detail.ptr);'))
    assert not slice_ptr_as_c_string(strip(
        'x = bastion_sprintf("for " BASTION_STR_FMT, BASTION_STR_ARG(in[0].str));'))
    assert not slice_ptr_as_c_string(strip('snprintf(d, n, "%s", v.ptr ? "a" : "b");'))
    assert not slice_ptr_as_c_string(strip('/* printf("%s", s.ptr) */ x = 1;'))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: os.path.relpath(p, ROOT))
def test_modules_never_pass_a_slice_as_a_c_string(path):
    """core.h: slices are not NUL-terminated unless said so; print them with
    BASTION_STR_FMT / BASTION_STR_ARG, make C strings with bastion_str_dup."""
    with open(path) as f:
        assert slice_ptr_as_c_string(strip(f.read())) == []


# --- BASTION_COUNTOF: no hand-counted lengths --------------------------------

HAND_COUNT = re.compile(r"sizeof\s*\(?\s*(\w+)\s*\)?\s*/\s*sizeof\s*\(?\s*\(?\1\)?\s*\[\s*0\s*\]")


def test_countof_rule_catches_what_it_should():
    assert HAND_COUNT.search("n = sizeof x / sizeof x[0];")
    assert HAND_COUNT.search("n = sizeof(table) / sizeof((table)[0]);")
    assert not HAND_COUNT.search("n = BASTION_COUNTOF(x);")


@pytest.mark.parametrize("path", MODULES + CORE, ids=lambda p: os.path.relpath(p, ROOT))
def test_array_lengths_come_from_countof(path):
    with open(path) as f:
        src = strip(f.read())
    assert [src.count("\n", 0, m.start()) + 1 for m in HAND_COUNT.finditer(src)] == []


# --- typed row readers (rows.h): no reading of the value union by hand ------

UNION_READ = re.compile(r"(?:\.|->)v\s*\.\s*[isr]\b|(?:\.|->)rows\s*\[|(?:\]|\))\s*\.\s*type\b")


def test_row_rule_catches_what_it_should():
    assert UNION_READ.search("n = rows.rows[0][0].v.i;")
    assert UNION_READ.search("x = r[3].v.s;")
    assert UNION_READ.search("if (rows->rows[0][0].type == BASTION_SQL_TEXT)")
    assert not UNION_READ.search("n = bastion_row_int(&row, 0);")
    assert not UNION_READ.search("p = BASTION_SQL_INT(n);")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: os.path.relpath(p, ROOT))
def test_modules_read_rows_through_the_typed_readers(path):
    """A wrong storage class is a 500 from bastion_row_or_problem, never a
    reinterpreted union member."""
    with open(path) as f:
        src = strip(f.read())
    assert [src.count("\n", 0, m.start()) + 1 for m in UNION_READ.finditer(src)] == []


# --- warnings stay on: designated rule tables, no pragma in a public header --

HEADERS = sorted(glob.glob(os.path.join(ROOT, "shared", "include", "bastion", "*.h")))
RULE_TABLE = re.compile(r"\bbastion_field\s+\w+\s*(?:\[[^\]]*\])?\s*=\s*\{")


def positional_rules(src):
    """Lines of bastion_field initializers that are not designated: an entry
    whose first member is not `.member =`."""
    bad = []
    for m in RULE_TABLE.finditer(src):
        block = "{" + balanced(src, m.end(), "{}") + "}"
        for e in re.finditer(r"\{\s*(?=[^\s.{\[}])", block):
            bad.append(src.count("\n", 0, m.end() - 1 + e.start()) + 1)
    return bad


def test_rule_table_rule_catches_what_it_should():
    assert positional_rules(strip('static const bastion_field f[] = {{"a", T, 0, 1, 2}};'))
    assert positional_rules(strip('static const bastion_field f = {"a", T};'))
    assert positional_rules(strip('bastion_field f[N] = {[A] = {"a", T}};'))
    assert not positional_rules(strip(
        'static const bastion_field f[] = {\n    {.name = "a", .type = T, .max = 2},\n};'))
    assert not positional_rules(strip('bastion_field f[N] = {[A] = {.name = "a", .type = T}};'))


@pytest.mark.parametrize("path", MODULES + CORE, ids=lambda p: os.path.relpath(p, ROOT))
def test_rule_tables_use_designated_initializers(path):
    with open(path) as f:
        assert positional_rules(strip(f.read())) == []


@pytest.mark.parametrize("path", HEADERS, ids=os.path.basename)
def test_public_headers_switch_no_warning_off(path):
    """A pragma in a header bastion.h includes would weaken -Wall -Wextra for
    every module (validate.h once hid -Wmissing-field-initializers)."""
    with open(path) as f:
        assert not re.search(r"#\s*pragma\s+(GCC|clang)\s+diagnostic", strip(f.read()))


# --- one idiom for a 422 (item 4): the core's, never built by hand ----------

def strip_comments(src):
    """C text without comments, string literals kept."""
    return re.sub(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|/\*.*?\*/|//[^\n]*',
                  lambda m: m.group(0) if m.group(0)[0] in "\"'" else
                  re.sub(r"[^\n]", " ", m.group(0)), src, flags=re.S)


HAND_BUILT_422 = re.compile(
    r'"pointer"'                                  # an errors[] entry assembled field by field
    r'|bastion_problem(?:_ex|_with)?\s*\(\s*cx\s*,\s*BASTION_E_UNPROCESSABLE'  # a 422 by hand
    r'|cJSON_Detach\w*\s*\('                       # a nested object validated by hand
    r'|bastion_validate\s*\(')                     # the rules run outside the front door


def test_422_rule_catches_what_it_should():
    assert HAND_BUILT_422.search('cJSON_AddStringToObject(e, "pointer", "/plate");')
    assert HAND_BUILT_422.search("bastion_problem_ex(cx, BASTION_E_UNPROCESSABLE, d, e, 0);")
    assert HAND_BUILT_422.search('c = cJSON_DetachItemFromObjectCaseSensitive(root, "customer");')
    assert HAND_BUILT_422.search("bastion_validate(root, rules, 1, &v, errors);")
    assert not HAND_BUILT_422.search('bastion_field_problem(cx, "/plate", "must be …");')
    assert not HAND_BUILT_422.search("if (bastion_errors_or_problem(cx, errors)) return;")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: os.path.relpath(p, ROOT))
def test_modules_answer_422_through_the_core(path):
    """bastion_field_problem for one field, bastion_error_add +
    bastion_errors_or_problem for several, BASTION_FIELD_OBJECT for nested
    members: the same problem shape from every function."""
    with open(path) as f:
        src = strip_comments(f.read())
    assert [src.count("\n", 0, m.start()) + 1 for m in HAND_BUILT_422.finditer(src)] == []


# --- NUL refused everywhere (core.h): no raw query reads in a module --------

RAW_QUERY = re.compile(r"\bbastion_query_get\s*\(")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: os.path.relpath(p, ROOT))
def test_modules_read_the_query_through_its_front_door(path):
    """bastion_query_get may hold a decoded %00; bastion_query_or_problem
    refuses it (422) and runs the field rules."""
    with open(path) as f:
        src = strip(f.read())
    assert [src.count("\n", 0, m.start()) + 1 for m in RAW_QUERY.finditer(src)] == []


# --- tables every function repeats live once, in shared/schema/ ---------------

SHARED_TABLES = {"email_failures": "email_failures.sql", "webhook_events": "webhook_events.sql"}


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "functions", "*",
                                                               "schema.sql"))),
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_DATA1_shared_tables_are_included_never_copied(path):
    """The outbox and the webhook ledger are defined in shared/schema/ only;
    a schema.sql brings them in with `-- bastion:include`, which
    `bastion migrate` expands, so no copy can drift from the core's code."""
    with open(path) as f:
        text = f.read()
    for table, file in SHARED_TABLES.items():
        assert not re.search(rf"CREATE TABLE[^(]*\b{table}\b", text, re.I), (path, table)
        if f"shared/schema/{file}" in text:
            assert f"-- bastion:include ../../shared/schema/{file}" in text.splitlines(), path
            assert os.path.exists(os.path.join(ROOT, "shared", "schema", file))
