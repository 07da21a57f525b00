/*
 * Unit tests for shared/src/webhook_event.c: the event ledger that makes a
 * provider's event cause side effects at most once within 24 h (HOOK3), with
 * the claim released when processing fails (HOOK3) and the failure recorded
 * (HOOK5), and store failures answered 503/504 at once (HOOK6). The event id
 * is validated before anything is stored (HOOK4).
 *
 * Every kv and sql call goes to the scripted fake host (fake_host.c), which
 * records it; the claim itself is idempotency.c's bastion_dedup (tested in
 * idempotency_test.c). webhook_event.c passes SQL parameters from its own
 * stack, gone by the time a test reads fake.calls, so its bastion_sql_query
 * is renamed to a wrapper that copies them first. The clock webhook_event.c
 * reads is the test's.
 */
#include "fake_host.h"
#include "unit.h"

#include "bastion/log.h"
#include "bastion/webhook_event.h"

#define T0 1700000000123ull
static uint64_t test_clock = T0;

static uint64_t test_now_ms(void)
{
    return test_clock;
}

/* One sql.query as webhook_event.c made it. */
typedef struct {
    const char *sql; /* a literal in webhook_event.c */
    const char *db;
    size_t n_params;
    bastion_sql_value params[8]; /* text copied into text[i] */
    char text[8][256];
} seen_query;

static seen_query seen[8];
static size_t n_seen;

static bastion_host_rc seen_sql_query(bastion_ctx *cx, const char *db, const char *sql,
                                      const bastion_sql_value *params, size_t n_params,
                                      bastion_rows *out)
{
    assert_true(n_seen < 8 && n_params <= 8);
    seen_query *q = &seen[n_seen++];
    memset(q, 0, sizeof *q);
    q->sql = sql;
    q->db = db;
    q->n_params = n_params;
    for (size_t i = 0; i < n_params; i++) {
        q->params[i] = params[i];
        if (params[i].type == BASTION_SQL_TEXT) {
            assert_true(params[i].v.s.len < sizeof q->text[i]);
            if (params[i].v.s.len)
                memcpy(q->text[i], params[i].v.s.ptr, params[i].v.s.len);
            q->params[i].v.s = (bastion_str){q->text[i], params[i].v.s.len};
        }
    }
    return bastion_sql_query(cx, db, sql, params, n_params, out);
}

#define bastion_now_ms    test_now_ms
#define bastion_sql_query seen_sql_query
#include "../../shared/src/webhook_event.c"
#undef bastion_sql_query
#undef bastion_now_ms

#define KV   "hooks"
#define DB   "shop"
#define TYPE "checkout.session.completed"

static int setup(void **state)
{
    (void)state;
    fake_reset();
    memset(seen, 0, sizeof seen);
    n_seen = 0;
    test_clock = T0;
    return 0;
}

/* sql.query answers one row holding `attempts` (the upsert's RETURNING). */
static void script_attempts(int64_t attempts)
{
    static bastion_str cols[] = {BASTION_LIT("attempts")};
    static bastion_sql_value row[1];
    static __typeof__(*fake.rows.rows.ptr) list[1];
    row[0] = BASTION_SQL_INT(attempts);
    list[0].ptr = row;
    list[0].len = 1;
    fake.rows.columns.ptr = cols;
    fake.rows.columns.len = 1;
    fake.rows.rows.ptr = list;
    fake.rows.rows.len = 1;
    fake.rows.changes = 1;
}

/* sql.query answers no row: the upsert's WHERE found the event processed. */
static void script_no_row(void)
{
    memset(&fake.rows, 0, sizeof fake.rows);
}

static bastion_rc begin_as(bastion_ctx *cx, const char *provider, bastion_str id,
                           bastion_webhook_event *ev)
{
    unit_ctx(cx);
    return bastion_webhook_event_begin_or_problem(cx, KV, DB, provider, id, BASTION_LIT(TYPE), ev);
}

static bastion_rc begin(bastion_ctx *cx, const char *id, bastion_webhook_event *ev)
{
    return begin_as(cx, "stripe", bastion_cstr(id), ev);
}

/* A delivery that holds the claim, with attempt `attempts` in the ledger;
 * the call log is cleared afterwards. */
static void begin_ok(bastion_ctx *cx, bastion_webhook_event *ev, int64_t attempts)
{
    fake.ok_bool = true;
    script_attempts(attempts);
    assert_int_equal(begin(cx, "evt_1", ev), BASTION_OK);
    assert_int_equal(fake.n_calls, 2);
    fake.n_calls = 0;
    n_seen = 0;
}

/* The 200 a duplicate gets: exactly {"received":true,"duplicate":true}. */
static void assert_duplicate_200(const bastion_ctx *cx)
{
    assert_true(cx->responded);
    assert_int_equal(cx->status, 200);
    assert_true(unit_str_is(unit_resp_header(cx, "content-type"), "application/json"));
    cJSON *j = unit_body_json(cx);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "received")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "duplicate")));
    cJSON_Delete(j);
}

static bool logged(const char *needle)
{
    for (size_t i = 0; i < fake.n_logs; i++)
        if (strstr(fake.logs[i].msg, needle) || strstr(fake.logs[i].fields, needle))
            return true;
    return false;
}

static bool is_dedup_key(const char *key)
{
    if (strncmp(key, "dedup:", 6) != 0 || strlen(key) != 6 + 64)
        return false;
    for (size_t i = 6; key[i]; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return false;
    return true;
}

/* --- HOOK4: the event id ------------------------------------------------------ */

static void test_HOOK4_bad_event_id_is_400_before_any_store_call(void **state)
{
    (void)state;
    char id256[257];
    memset(id256, 'e', 256);
    id256[256] = 0;
    const bastion_str bad[] = {
        BASTION_STR_NULL,       BASTION_LIT(""),        bastion_cstr(id256),
        BASTION_LIT("evt\x01"), BASTION_LIT("evt 1"),   BASTION_LIT("evt\t1"),
        BASTION_LIT("evt\n"),   BASTION_LIT("evt\x7f"), BASTION_LIT("caf\xc3\xa9"),
        {"evt\0x", 5},
    };
    fake.ok_bool = true;
    script_attempts(1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bastion_ctx cx;
        bastion_webhook_event ev;
        if (begin_as(&cx, "stripe", bad[i], &ev) != BASTION_E_BAD_REQUEST)
            unit_fail("accepted event id #%zu", i);
        cJSON_Delete(unit_assert_problem(&cx, 400, "bad-request"));
        assert_false(ev.claim.claimed);
    }
    assert_int_equal(fake.n_calls, 0);
    /* the longest id and every printable character are fine */
    char id255[256];
    memset(id255, 'e', 255);
    id255[255] = 0;
    bastion_ctx cx;
    bastion_webhook_event ev;
    assert_int_equal(begin(&cx, id255, &ev), BASTION_OK);
    assert_int_equal(begin(&cx, "!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", &ev), BASTION_OK);
}

/* --- HOOK3: at most once --------------------------------------------------------- */

static void test_HOOK3_first_delivery_claims_and_records_attempt(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    fake.ok_bool = true;
    script_attempts(3);
    assert_int_equal(begin(&cx, "evt_1", &ev), BASTION_OK);
    assert_false(cx.responded);
    assert_int_equal(ev.attempts, 3);
    assert_true(ev.claim.claimed);
    assert_false(ev.finished);
    /* the claim first, one atomic add that outlives the request's deadline */
    assert_int_equal(fake.n_calls, 2);
    const fake_call *add = &fake.calls[0];
    assert_int_equal(add->fn, FAKE_KV_ADD);
    assert_string_equal(add->store, KV);
    assert_true(is_dedup_key(add->key));
    assert_int_equal(BASTION_WEBHOOK_CLAIM_TTL_S, 120);
    assert_int_equal(add->ttl_ms, 120000);
    assert_true(add->ttl_ms > 15000); /* unit_ctx's deadline */
    /* then the ledger: insert, or another attempt unless processed */
    assert_int_equal(fake.calls[1].fn, FAKE_SQL_QUERY);
    assert_string_equal(fake.calls[1].store, DB);
    assert_int_equal(n_seen, 1);
    const seen_query *q = &seen[0];
    assert_string_equal(q->db, DB);
    assert_non_null(strstr(q->sql, "INSERT INTO webhook_events"));
    assert_non_null(strstr(q->sql, "'processing', 1,"));
    assert_non_null(strstr(q->sql, "ON CONFLICT (provider, id) DO UPDATE"));
    assert_non_null(strstr(q->sql, "attempts = webhook_events.attempts + 1"));
    assert_non_null(strstr(q->sql, "WHERE webhook_events.status <> 'processed'"));
    assert_non_null(strstr(q->sql, "RETURNING attempts"));
    assert_int_equal(q->n_params, 4);
    assert_true(unit_str_is(q->params[0].v.s, "stripe"));
    assert_true(unit_str_is(q->params[1].v.s, "evt_1"));
    assert_true(unit_str_is(q->params[2].v.s, TYPE));
    assert_int_equal(q->params[3].type, BASTION_SQL_INTEGER);
    assert_int_equal(q->params[3].v.i, (int64_t)T0);
}

/* The claim names (provider, event id) and nothing else. */
static void test_HOOK3_claim_is_per_provider_and_event(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    fake.ok_bool = true;
    script_attempts(1);
    assert_int_equal(begin_as(&cx, "stripe", BASTION_LIT("evt_1"), &ev), BASTION_OK);
    assert_int_equal(begin_as(&cx, "stripe", BASTION_LIT("evt_1"), &ev), BASTION_OK);
    assert_int_equal(begin_as(&cx, "stripe", BASTION_LIT("evt_2"), &ev), BASTION_OK);
    assert_int_equal(begin_as(&cx, "shopify", BASTION_LIT("evt_1"), &ev), BASTION_OK);
    assert_int_equal(fake_count(FAKE_KV_ADD), 4);
    const fake_call *c = fake.calls; /* add, sql, add, sql, … */
    assert_string_equal(c[0].key, c[2].key);
    assert_string_not_equal(c[0].key, c[4].key);
    assert_string_not_equal(c[0].key, c[6].key);
    assert_string_not_equal(c[4].key, c[6].key);
    /* the id is hashed into the key, never stored as it is */
    assert_null(strstr(c[0].key, "evt_1"));
}

static void test_HOOK3_concurrent_duplicate_answers_200_without_side_effects(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    fake.ok_bool = false; /* another delivery holds the claim */
    script_attempts(1);
    assert_int_equal(begin(&cx, "evt_1", &ev), BASTION_ANSWERED);
    assert_duplicate_200(&cx);
    assert_false(ev.claim.claimed);
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(fake.calls[0].fn, FAKE_KV_ADD);
    assert_int_equal(fake_count(FAKE_SQL_QUERY), 0);
    assert_int_equal(fake_count(FAKE_KV_DELETE), 0); /* the holder's claim stays */
}

/* The kv forgot, the ledger did not: still a duplicate, and the kv memory is
 * re-armed for 24 h. */
static void test_HOOK3_processed_before_is_duplicate_and_claim_kept_24h(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    fake.ok_bool = true;
    script_no_row();
    assert_int_equal(begin(&cx, "evt_1", &ev), BASTION_ANSWERED);
    assert_duplicate_200(&cx);
    assert_true(ev.finished);
    assert_int_equal(fake.n_calls, 3);
    assert_int_equal(fake.calls[0].fn, FAKE_KV_ADD);
    assert_int_equal(fake.calls[1].fn, FAKE_SQL_QUERY);
    const fake_call *set = &fake.calls[2];
    assert_int_equal(set->fn, FAKE_KV_SET);
    assert_string_equal(set->store, KV);
    assert_string_equal(set->key, fake.calls[0].key);
    assert_string_equal(set->value, "processed");
    assert_int_equal(BASTION_WEBHOOK_KEEP_S, 86400);
    assert_int_equal(set->ttl_ms, 86400000ull);
    assert_int_equal(n_seen, 1); /* no ledger update: the row says processed */
    /* the claim is not released, and a late fail changes nothing */
    bastion_webhook_event_fail(&cx, &ev, "late");
    assert_int_equal(fake.n_calls, 3);
}

/* --- HOOK6: a failing store answers at once ---------------------------------------- */

static void test_HOOK6_claim_store_failure_is_503_504(void **state)
{
    (void)state;
    static const struct {
        bastion_host_rc rc;
        int status;
        const char *slug;
    } cases[] = {
        {BASTION_HOST_TIMEOUT, 504, "timeout"},
        {BASTION_HOST_UNAVAILABLE, 503, "unavailable"},
    };
    for (size_t i = 0; i < 2; i++) {
        setup(NULL);
        fake.error_tag = (int)cases[i].rc - 1;
        fake.error_fns = FAKE_FN_BIT(FAKE_KV_ADD);
        fake.ok_bool = true;
        script_attempts(1);
        bastion_ctx cx;
        bastion_webhook_event ev;
        assert_int_equal(begin(&cx, "evt_1", &ev), bastion_host_rc_problem(cases[i].rc));
        cJSON_Delete(unit_assert_problem(&cx, cases[i].status, cases[i].slug));
        assert_false(ev.claim.claimed);
        assert_int_equal(fake.n_calls, 1); /* no ledger, nothing to release */
    }
}

/* HOOK3 "If processing fails, the claim is released": a ledger that cannot
 * be written gives the claim back, so the provider's retry can run. */
static void test_HOOK3_ledger_failure_is_5xx_and_releases_claim(void **state)
{
    (void)state;
    static const struct {
        bastion_host_rc rc;
        int status;
        const char *slug;
    } cases[] = {
        {BASTION_HOST_UNAVAILABLE, 503, "unavailable"},
        {BASTION_HOST_TIMEOUT, 504, "timeout"},
        {BASTION_HOST_INTERNAL, 500, "internal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setup(NULL);
        fake.error_tag = (int)cases[i].rc - 1;
        fake.error_fns = FAKE_FN_BIT(FAKE_SQL_QUERY);
        fake.ok_bool = true;
        bastion_ctx cx;
        bastion_webhook_event ev;
        assert_int_equal(begin(&cx, "evt_1", &ev), bastion_host_rc_problem(cases[i].rc));
        cJSON_Delete(unit_assert_problem(&cx, cases[i].status, cases[i].slug));
        assert_int_equal(fake.n_calls, 3);
        assert_int_equal(fake.calls[0].fn, FAKE_KV_ADD);
        assert_int_equal(fake.calls[1].fn, FAKE_SQL_QUERY);
        const fake_call *del = &fake.calls[2];
        assert_int_equal(del->fn, FAKE_KV_DELETE);
        assert_string_equal(del->store, KV);
        assert_string_equal(del->key, fake.calls[0].key);
        assert_false(ev.claim.claimed);
        assert_true(logged("webhook ledger write"));
    }
}

/* --- HOOK3: done -------------------------------------------------------------------- */

static void test_HOOK3_done_marks_ledger_and_keeps_claim_24h(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin_ok(&cx, &ev, 1);
    char claim_key[256];
    snprintf(claim_key, sizeof claim_key, "%.*s", (int)ev.claim.kv_key.len, ev.claim.kv_key.ptr);
    test_clock = T0 + 5000;
    bastion_webhook_event_done(&cx, &ev, false);
    assert_false(cx.responded);
    assert_true(ev.finished);
    assert_int_equal(fake.n_calls, 2);
    /* the mark first, then the 24 h memory */
    assert_int_equal(fake.calls[0].fn, FAKE_SQL_QUERY);
    assert_int_equal(n_seen, 1);
    bastion_sql_value p[3];
    bastion_sql_stmt st = bastion_webhook_event_done_stmt(&ev, p);
    assert_string_equal(seen[0].sql, st.sql);
    assert_string_equal(seen[0].db, DB);
    assert_int_equal(seen[0].n_params, 3);
    assert_true(unit_str_is(seen[0].params[0].v.s, "stripe"));
    assert_true(unit_str_is(seen[0].params[1].v.s, "evt_1"));
    assert_int_equal(seen[0].params[2].v.i, (int64_t)(T0 + 5000));
    const fake_call *set = &fake.calls[1];
    assert_int_equal(set->fn, FAKE_KV_SET);
    assert_string_equal(set->store, KV);
    assert_string_equal(set->key, claim_key);
    assert_string_equal(set->value, "processed");
    assert_int_equal(set->ttl_ms, (uint64_t)BASTION_WEBHOOK_KEEP_S * 1000u);
    assert_int_equal(set->ttl_ms, 86400000ull);
}

/* The caller's own transaction ran the done statement: only the kv memory. */
static void test_HOOK3_done_marked_only_keeps_claim(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin_ok(&cx, &ev, 1);
    bastion_webhook_event_done(&cx, &ev, true);
    assert_false(cx.responded);
    assert_int_equal(fake.n_calls, 1);
    assert_int_equal(fake.calls[0].fn, FAKE_KV_SET);
    assert_string_equal(fake.calls[0].value, "processed");
    assert_int_equal(fake.calls[0].ttl_ms, 86400000ull);
    assert_int_equal(n_seen, 0);
}

/* The side effect has happened: a store failing afterwards is logged, never
 * turned into another answer, and the other layer still stops a replay. */
static void test_HOOK3_done_store_failures_are_logged_only(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin_ok(&cx, &ev, 1);
    bastion_respond(&cx, 200, BASTION_LIT("application/json"), BASTION_LIT("{\"ok\":1}"));
    fake.error_tag = (int)BASTION_HOST_UNAVAILABLE - 1;
    fake.error_fns = FAKE_FN_BIT(FAKE_SQL_QUERY);
    bastion_webhook_event_done(&cx, &ev, false);
    assert_int_equal(cx.status, 200);
    assert_true(unit_str_is(cx.resp_body, "{\"ok\":1}"));
    assert_int_equal(fake_count(FAKE_KV_SET), 1); /* the kv memory is still kept */
    assert_true(logged("not marked processed"));
    assert_true(logged("evt_1"));
    /* and the other way round */
    setup(NULL);
    begin_ok(&cx, &ev, 1);
    fake.error_tag = (int)BASTION_HOST_TIMEOUT - 1;
    fake.error_fns = FAKE_FN_BIT(FAKE_KV_SET);
    bastion_webhook_event_done(&cx, &ev, false);
    assert_false(cx.responded);
    assert_int_equal(fake_count(FAKE_SQL_QUERY), 1);
    assert_true(logged("not kept for 24 h"));
    assert_false(logged("not marked processed"));
}

static void test_HOOK3_done_stmt(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin_ok(&cx, &ev, 2);
    test_clock = T0 + 777;
    bastion_sql_value p[3];
    memset(p, 0xA5, sizeof p);
    bastion_sql_stmt st = bastion_webhook_event_done_stmt(&ev, p);
    assert_string_equal(st.sql, "UPDATE webhook_events SET status = 'processed', error = NULL, "
                                "processed_at = $3, updated_at = $3 "
                                "WHERE provider = $1 AND id = $2");
    assert_ptr_equal(st.params, p);
    assert_int_equal(st.n_params, 3);
    assert_false(st.has_expect);
    assert_int_equal(p[0].type, BASTION_SQL_TEXT);
    assert_true(unit_str_is(p[0].v.s, "stripe"));
    assert_int_equal(p[1].type, BASTION_SQL_TEXT);
    assert_true(unit_str_is(p[1].v.s, "evt_1"));
    assert_int_equal(p[2].type, BASTION_SQL_INTEGER);
    assert_int_equal(p[2].v.i, (int64_t)(T0 + 777));
    assert_int_equal(fake.n_calls, 0); /* a statement for the caller, not a call */
}

/* --- HOOK5: a failure is recorded, and retried --------------------------------------- */

static void test_HOOK5_fail_records_masked_error_then_releases_claim(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin_ok(&cx, &ev, 2);
    char claim_key[256];
    snprintf(claim_key, sizeof claim_key, "%.*s", (int)ev.claim.kv_key.len, ev.claim.kv_key.ptr);
    test_clock = T0 + 900;
    const char *why = "no customer for jane.doe@example.com";
    bastion_webhook_event_fail(&cx, &ev, why);
    assert_false(cx.responded); /* the caller writes the 5xx */
    assert_true(ev.finished);
    assert_false(ev.claim.claimed);
    assert_int_equal(fake.n_calls, 2);
    /* the ledger first: failed, with the error as a log line would show it */
    assert_int_equal(fake.calls[0].fn, FAKE_SQL_QUERY);
    const seen_query *q = &seen[0];
    assert_string_equal(q->db, DB);
    assert_non_null(strstr(q->sql, "UPDATE webhook_events SET status = 'failed', error = $3"));
    assert_non_null(strstr(q->sql, "WHERE provider = $1 AND id = $2 AND status = 'processing'"));
    assert_int_equal(q->n_params, 4);
    assert_true(unit_str_is(q->params[0].v.s, "stripe"));
    assert_true(unit_str_is(q->params[1].v.s, "evt_1"));
    assert_int_equal(q->params[2].type, BASTION_SQL_TEXT);
    assert_true(bastion_str_eq(q->params[2].v.s, bastion_log_mask(bastion_cstr(why))));
    assert_false(unit_contains(q->params[2].v.s, "jane.doe@example.com"));
    assert_true(unit_contains(q->params[2].v.s, "no customer for"));
    assert_int_equal(q->params[3].v.i, (int64_t)(T0 + 900));
    /* then the claim goes, so the provider's retry can run */
    const fake_call *del = &fake.calls[1];
    assert_int_equal(del->fn, FAKE_KV_DELETE);
    assert_string_equal(del->store, KV);
    assert_string_equal(del->key, claim_key);
    /* once only */
    bastion_webhook_event_fail(&cx, &ev, why);
    assert_int_equal(fake.n_calls, 2);
}

/* Even a ledger that cannot record the failure lets the retry run. */
static void test_HOOK5_fail_releases_claim_when_ledger_fails(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin_ok(&cx, &ev, 1);
    fake.error_tag = (int)BASTION_HOST_UNAVAILABLE - 1;
    fake.error_fns = FAKE_FN_BIT(FAKE_SQL_QUERY);
    bastion_webhook_event_fail(&cx, &ev, "boom");
    assert_false(cx.responded);
    assert_int_equal(fake.n_calls, 2);
    assert_int_equal(fake.calls[1].fn, FAKE_KV_DELETE);
    assert_true(logged("failure not recorded"));
}

static void test_HOOK3_fail_after_done_is_noop(void **state)
{
    (void)state;
    bastion_ctx cx;
    bastion_webhook_event ev;
    begin_ok(&cx, &ev, 1);
    bastion_webhook_event_done(&cx, &ev, false);
    size_t n = fake.n_calls;
    bastion_webhook_event_fail(&cx, &ev, "after the fact");
    assert_int_equal(fake.n_calls, n);
    assert_int_equal(fake_count(FAKE_KV_DELETE), 0); /* the 24 h memory stays */
    assert_int_equal(n_seen, 1);
}

/* --- the answers ------------------------------------------------------------------------ */

static void test_HOOK3_respond_received_and_ignored(void **state)
{
    (void)state;
    bastion_ctx cx;
    unit_ctx(&cx);
    bastion_webhook_respond_received(&cx, NULL);
    assert_int_equal(cx.status, 200);
    assert_true(unit_str_is(unit_resp_header(&cx, "content-type"), "application/json"));
    assert_true(unit_str_is(cx.resp_body, "{\"received\":true}"));
    unit_ctx(&cx);
    cJSON *extra = cJSON_CreateObject();
    cJSON_AddStringToObject(extra, "order", "o-1");
    cJSON_AddNumberToObject(extra, "n", 2);
    bastion_webhook_respond_received(&cx, extra);
    assert_int_equal(cx.status, 200);
    assert_true(unit_str_is(cx.resp_body, "{\"received\":true,\"order\":\"o-1\",\"n\":2}"));
    unit_ctx(&cx);
    bastion_webhook_respond_ignored(&cx);
    assert_int_equal(cx.status, 200);
    assert_true(unit_str_is(cx.resp_body, "{\"received\":true,\"ignored\":true}"));
    assert_int_equal(fake.n_calls, 0);
}

/* --- the deadline reserve while an event is claimed (HOOK6) --- */

#define LEFT_MS                                                                                    \
    1800u /* time left in every test: less than the cache budget, so kv budgets show it */

static bastion_sql_value attempts_row[1];
static __typeof__(*fake.rows.rows.ptr) one_row[1];
static bastion_str attempts_col[] = {BASTION_LIT("attempts")};

/* A store that answers: the claim is free and the ledger says attempt n. */
static void reserve_claim(int64_t n)
{
    fake_reset();
    fake.ok_bool = true; /* kv.add: added */
    attempts_row[0] = BASTION_SQL_INT(n);
    one_row[0].ptr = attempts_row;
    one_row[0].len = 1;
    fake.rows.columns.ptr = attempts_col;
    fake.rows.columns.len = 1;
    fake.rows.rows.ptr = one_row;
    fake.rows.rows.len = 1;
}

static void reserve_begin(bastion_ctx *cx, bastion_webhook_event *ev, bastion_rc want)
{
    unit_ctx(cx);
    test_clock = bastion_now_ms(); /* webhook_event.c's clock and the core's agree here */
    cx->deadline_ms = test_clock + LEFT_MS;
    assert_int_equal(bastion_webhook_event_begin_or_problem(cx, "webhooks", "billing", "stripe",
                                                            BASTION_LIT("evt_1"),
                                                            BASTION_LIT("x.y"), ev),
                     want);
}

/* HOOK6: while the event is processed, a store call's budget ends
 * BASTION_WEBHOOK_RESERVE_MS before the request's deadline, and done gives
 * the whole remainder back. */
static void test_HOOK6_processing_budgets_keep_the_reserve(void **state)
{
    (void)state;
    reserve_claim(1);
    bastion_ctx cx;
    bastion_webhook_event ev;
    reserve_begin(&cx, &ev, BASTION_OK);
    assert_int_equal(ev.attempts, 1);
    assert_int_equal(fake.n_calls, 2); /* kv.add, then the ledger row */
    assert_int_equal(fake.calls[0].fn, FAKE_KV_ADD);
    assert_int_equal(fake.calls[1].fn, FAKE_SQL_QUERY);
    assert_true(fake.calls[1].timeout_ms <= LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_true(bastion_remaining_ms(&cx) <= LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    bastion_webhook_event_done(&cx, &ev, false);
    assert_true(bastion_remaining_ms(&cx) > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    const fake_call *mark = &fake.calls[2], *keep = &fake.calls[3];
    assert_int_equal(mark->fn, FAKE_SQL_QUERY);
    assert_non_null(strstr(mark->key, "status = 'processed'"));
    assert_true(mark->timeout_ms > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(keep->fn, FAKE_KV_SET);
    assert_int_equal(keep->ttl_ms, (uint64_t)BASTION_WEBHOOK_KEEP_S * 1000u);
}

/* HOOK3 + HOOK6: a failure is recorded inside the reserve, then the claim is
 * released with time still left for it, and the deadline is the request's
 * own again. */
static void test_HOOK3_fail_records_then_releases_within_the_deadline(void **state)
{
    (void)state;
    reserve_claim(2);
    bastion_ctx cx;
    bastion_webhook_event ev;
    reserve_begin(&cx, &ev, BASTION_OK);
    uint64_t deadline = ev.deadline_ms;
    bastion_webhook_event_fail(&cx, &ev, "unknown order");
    assert_int_equal(cx.deadline_ms, deadline);
    assert_int_equal(fake.n_calls, 4);
    const fake_call *record = &fake.calls[2], *release = &fake.calls[3];
    assert_int_equal(record->fn, FAKE_SQL_QUERY);
    assert_non_null(strstr(record->key, "status = 'failed'"));
    assert_true(record->timeout_ms <= LEFT_MS - BASTION_WEBHOOK_RELEASE_MS);
    assert_true(record->timeout_ms > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(release->fn, FAKE_KV_DELETE);
    assert_string_equal(release->key, fake.calls[0].key); /* the claim taken */
    assert_true(release->timeout_ms > LEFT_MS - BASTION_WEBHOOK_RELEASE_MS);
    bastion_webhook_event_fail(&cx, &ev, "again");
    assert_int_equal(fake.n_calls, 4); /* once only */
}

/* HOOK6: the ledger write times out (a locked database) before the
 * deadline, so there is time to answer 504 and give the claim back. */
static void test_HOOK6_ledger_write_timeout_releases_the_claim(void **state)
{
    (void)state;
    reserve_claim(1);
    fake.error_tag = 0; /* timeout */
    fake.error_on_call = 2;
    bastion_ctx cx;
    bastion_webhook_event ev;
    reserve_begin(&cx, &ev, BASTION_E_TIMEOUT);
    cJSON_Delete(unit_assert_problem(&cx, 504, "timeout"));
    assert_int_equal(fake.n_calls, 3);
    assert_true(fake.calls[1].timeout_ms <= LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(fake.calls[2].fn, FAKE_KV_DELETE);
    assert_true(fake.calls[2].timeout_ms > LEFT_MS - BASTION_WEBHOOK_RESERVE_MS);
    assert_int_equal(cx.deadline_ms, ev.deadline_ms);
}

/* HOOK3: a delivery the ledger already calls processed (the kv forgot it)
 * is a duplicate: 200, nothing to do, the kv memory re-armed for 24 h. */
static void test_HOOK3_processed_in_the_ledger_is_a_duplicate(void **state)
{
    (void)state;
    reserve_claim(1);
    fake.rows.rows.len = 0; /* the upsert's WHERE kept the processed row */
    bastion_ctx cx;
    bastion_webhook_event ev;
    reserve_begin(&cx, &ev, BASTION_ANSWERED);
    assert_int_equal(cx.status, 200);
    cJSON *j = unit_body_json(&cx);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "received")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "duplicate")));
    assert_int_equal(fake_last()->fn, FAKE_KV_SET);
    assert_int_equal(fake_last()->ttl_ms, (uint64_t)BASTION_WEBHOOK_KEEP_S * 1000u);
    assert_int_equal(cx.deadline_ms, ev.deadline_ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_HOOK4_bad_event_id_is_400_before_any_store_call, setup),
        cmocka_unit_test_setup(test_HOOK3_first_delivery_claims_and_records_attempt, setup),
        cmocka_unit_test_setup(test_HOOK3_claim_is_per_provider_and_event, setup),
        cmocka_unit_test_setup(test_HOOK3_concurrent_duplicate_answers_200_without_side_effects,
                               setup),
        cmocka_unit_test_setup(test_HOOK3_processed_before_is_duplicate_and_claim_kept_24h, setup),
        cmocka_unit_test_setup(test_HOOK6_claim_store_failure_is_503_504, setup),
        cmocka_unit_test_setup(test_HOOK3_ledger_failure_is_5xx_and_releases_claim, setup),
        cmocka_unit_test_setup(test_HOOK3_done_marks_ledger_and_keeps_claim_24h, setup),
        cmocka_unit_test_setup(test_HOOK3_done_marked_only_keeps_claim, setup),
        cmocka_unit_test_setup(test_HOOK3_done_store_failures_are_logged_only, setup),
        cmocka_unit_test_setup(test_HOOK3_done_stmt, setup),
        cmocka_unit_test_setup(test_HOOK5_fail_records_masked_error_then_releases_claim, setup),
        cmocka_unit_test_setup(test_HOOK5_fail_releases_claim_when_ledger_fails, setup),
        cmocka_unit_test_setup(test_HOOK3_fail_after_done_is_noop, setup),
        cmocka_unit_test_setup(test_HOOK3_respond_received_and_ignored, setup),
        cmocka_unit_test(test_HOOK6_processing_budgets_keep_the_reserve),
        cmocka_unit_test(test_HOOK3_fail_records_then_releases_within_the_deadline),
        cmocka_unit_test(test_HOOK6_ledger_write_timeout_releases_the_claim),
        cmocka_unit_test(test_HOOK3_processed_in_the_ledger_is_a_duplicate),
    };
    return cmocka_run_group_tests_name("webhook_event", tests, NULL, NULL);
}
