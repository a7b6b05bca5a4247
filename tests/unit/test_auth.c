/*
 * test_auth.c: the shared key (lib/auth.h, lib/keyfile.h) and the tracker's
 * access policy (tracker/core/access.h): handshake proofs against vectors
 * computed independently (Python's hmac), no reflection between roles, the
 * key MAC of reports (valid, absent, forged, bound to every field), key
 * files (mode, length, trailing newline, keygen), --allow prefixes, the
 * session state machine (one ERROR and close for anything but the
 * handshake) and report admission under each --trust mode.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "keyfile.h"
#include "proto.h"
#include "access.h"

static const char KEY[] = "0123456789abcdef0123456789abcdef";

static void key(struct qasm_auth_key *k, const char *s)
{
    assert_int_equal(qasm_auth_key_set(k, s, strlen(s)), 0);
}

static void hex(uint8_t *out, const char *h)
{
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void test_proof_vectors(void **state)
{
    (void)state;
    struct qasm_auth_key k;
    uint8_t cn[16], tn[16], p[16], want[16];
    key(&k, KEY);
    memset(cn, 1, sizeof(cn));
    memset(tn, 2, sizeof(tn));
    /* HMAC-SHA-256(key, "qasm-tracker session key proof" || role || cn || tn)[:16] */
    qasm_auth_proof(&k, QASM_AUTH_TRACKER, cn, tn, p);
    hex(want, "dc45877d048525ca7b427ca62bc36432");
    assert_memory_equal(p, want, 16);
    assert_true(qasm_auth_proof_ok(&k, QASM_AUTH_TRACKER, cn, tn, p));
    /* A tracker's proof is not a client's (no reflection), nor for other nonces. */
    assert_false(qasm_auth_proof_ok(&k, QASM_AUTH_CLIENT, cn, tn, p));
    assert_false(qasm_auth_proof_ok(&k, QASM_AUTH_TRACKER, tn, cn, p));
    qasm_auth_proof(&k, QASM_AUTH_CLIENT, cn, tn, p);
    hex(want, "4b85b73862b08fc82da190e2f90555f3");
    assert_memory_equal(p, want, 16);
    /* Another key, or none, does not verify. */
    struct qasm_auth_key k2;
    key(&k2, "0123456789abcdef0123456789abcdeF");
    assert_false(qasm_auth_proof_ok(&k2, QASM_AUTH_CLIENT, cn, tn, p));
    struct qasm_auth_key none = { 0 };
    assert_false(qasm_auth_proof_ok(&none, QASM_AUTH_CLIENT, cn, tn, p));
    /* Key length bounds. */
    uint8_t big[QASM_AUTH_KEY_MAX + 1] = { 0 };
    assert_int_equal(qasm_auth_key_set(&k2, big, 15), -EINVAL);
    assert_int_equal(qasm_auth_key_set(&k2, big, 16), 0);
    assert_int_equal(qasm_auth_key_set(&k2, big, QASM_AUTH_KEY_MAX), 0);
    assert_int_equal(qasm_auth_key_set(&k2, big, QASM_AUTH_KEY_MAX + 1), -EINVAL);
}

static void sample_report(struct qasm_proto_report *r)
{
    static const uint8_t secret[QASM_PROTO_SECRET_LEN] = { 9, 8, 7 };
    memset(r, 0, sizeof(*r));
    assert_int_equal(qasm_cid_parse(&r->odcid, "0102030405060708"), 0);
    assert_int_equal(qasm_addr_parse(&r->client0, "10.0.0.1:5000"), 0);
    r->client = r->client0;
    r->seq = 3;
    assert_int_equal(qasm_cid_parse(&r->scid, "c0"), 0);
    assert_int_equal(qasm_addr_parse(&r->server, "192.0.2.1:443"), 0);
    assert_int_equal(qasm_proto_report_sign(QASM_PROTO_REPORT_OPEN, r, secret), 0);
}

static void test_report_key_mac(void **state)
{
    (void)state;
    struct qasm_auth_key k, k2;
    struct qasm_proto_report r, x;
    key(&k, KEY);
    key(&k2, "another key, 16 bytes at least");
    sample_report(&r);
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_OPEN, &r), QASM_AUTH_NONE);
    assert_int_equal(qasm_auth_report_sign(&k, QASM_PROTO_REPORT_OPEN, &r), 0);
    assert_int_equal(r.key_mac_len, QASM_PROTO_MAC_LEN);
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_OPEN, &r), QASM_AUTH_VALID);
    /* Through the codec: still valid. */
    struct qasm_proto_msg m, d;
    uint8_t buf[QASM_PROTO_MAX_MSG];
    qasm_proto_msg_init(&m, QASM_PROTO_REPORT_OPEN, 0);
    m.u.report = r;
    ssize_t n = qasm_proto_encode(buf, sizeof(buf), &m);
    assert_true(n > 0);
    assert_int_equal(qasm_proto_decode(&d, buf, (size_t)n), 0);
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_OPEN, &d.u.report),
                     QASM_AUTH_VALID);
    /* Forged: another key, another type, any field changed, the connection MAC changed. */
    assert_int_equal(qasm_auth_report_check(&k2, QASM_PROTO_REPORT_OPEN, &r), QASM_AUTH_FORGED);
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_REFRESH, &r), QASM_AUTH_FORGED);
    x = r;
    x.seq++;
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_OPEN, &x), QASM_AUTH_FORGED);
    x = r;
    x.client.ip[3] ^= 1;
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_OPEN, &x), QASM_AUTH_FORGED);
    x = r;
    x.mac[0] ^= 1;
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_OPEN, &x), QASM_AUTH_FORGED);
    x = r;
    x.key_mac[15] ^= 1;
    assert_int_equal(qasm_auth_report_check(&k, QASM_PROTO_REPORT_OPEN, &x), QASM_AUTH_FORGED);
    /* A tracker without a key cannot verify one: forged for it too (the daemon ignores it then). */
    struct qasm_auth_key none = { 0 };
    assert_int_equal(qasm_auth_report_check(&none, QASM_PROTO_REPORT_OPEN, &r), QASM_AUTH_FORGED);
    assert_int_equal(qasm_auth_report_sign(&none, QASM_PROTO_REPORT_OPEN, &x), -EINVAL);
}

static char *tmpfile_with(const char *content, size_t n, mode_t mode)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/qasm-test-auth.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, n), (ssize_t)n);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_keyfile(void **state)
{
    (void)state;
    struct qasm_auth_key k, want;
    char err[256];
    key(&want, KEY);
    char *p = tmpfile_with("0123456789abcdef0123456789abcdef\n", 33, 0600);
    assert_int_equal(qasm_keyfile_load(&k, p, err, sizeof(err)), 0);
    assert_int_equal(k.len, want.len); /* the newline is not part of it */
    assert_memory_equal(k.bytes, want.bytes, want.len);
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(qasm_keyfile_load(&k, p, err, sizeof(err)), -EPERM);
    assert_non_null(strstr(err, "group or other"));
    assert_int_equal(chmod(p, 0604), 0);
    assert_int_equal(qasm_keyfile_load(&k, p, err, sizeof(err)), -EPERM);
    unlink(p);
    p = tmpfile_with("0123456789abcde\r\n", 17, 0400); /* 15 bytes */
    assert_int_equal(qasm_keyfile_load(&k, p, err, sizeof(err)), -EINVAL);
    unlink(p);
    assert_int_equal(qasm_keyfile_load(&k, "/nonexistent/key", err, sizeof(err)), -ENOENT);
    /* keygen: mode 0600, loads, never overwrites. */
    char gen[64];
    snprintf(gen, sizeof(gen), "/tmp/qasm-test-keygen.%d", (int)getpid());
    unlink(gen);
    assert_int_equal(qasm_keyfile_generate(gen, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(gen, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(qasm_keyfile_load(&k, gen, err, sizeof(err)), 0);
    assert_int_equal(k.len, 64);
    assert_int_equal(qasm_keyfile_generate(gen, err, sizeof(err)), -EEXIST);
    unlink(gen);
}

static void test_allow(void **state)
{
    (void)state;
    struct qasm_access a;
    memset(&a, 0, sizeof(a));
    struct qasm_addr x;
    assert_int_equal(qasm_addr_parse(&x, "10.1.2.3:5"), 0);
    assert_true(qasm_access_allowed(&a, &x)); /* no list: everyone */
    assert_int_equal(qasm_access_allow_add(&a, "10.1.0.0/16"), 0);
    assert_int_equal(qasm_access_allow_add(&a, "2001:db8::/33"), 0);
    assert_int_equal(qasm_access_allow_add(&a, "127.0.0.2"), 0);
    assert_true(qasm_access_allowed(&a, &x));
    assert_int_equal(qasm_addr_parse(&x, "10.2.0.1:5"), 0);
    assert_false(qasm_access_allowed(&a, &x));
    assert_int_equal(qasm_addr_parse(&x, "127.0.0.2:1"), 0);
    assert_true(qasm_access_allowed(&a, &x));
    assert_int_equal(qasm_addr_parse(&x, "127.0.0.3:1"), 0);
    assert_false(qasm_access_allowed(&a, &x));
    assert_int_equal(qasm_addr_parse(&x, "[2001:db8:7fff::1]:1"), 0);
    assert_true(qasm_access_allowed(&a, &x));
    assert_int_equal(qasm_addr_parse(&x, "[2001:db8:8000::1]:1"), 0);
    assert_false(qasm_access_allowed(&a, &x));
    assert_int_equal(a.n.allow_refused, 3);
    static const char *bad[] = { "", "/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8x",
                                 "host", "[::1]/128", "10.0.0.0/-1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(qasm_access_allow_add(&a, bad[i]), -EINVAL);
    assert_int_equal(qasm_addr_parse(&x, "127.9.9.9:1"), 0);
    assert_true(qasm_access_is_loopback(&x));
    assert_int_equal(qasm_addr_parse(&x, "[::1]:1"), 0);
    assert_true(qasm_access_is_loopback(&x));
    assert_int_equal(qasm_addr_parse(&x, "[::]:1"), 0);
    assert_false(qasm_access_is_loopback(&x));
    assert_int_equal(qasm_addr_parse(&x, "0.0.0.0:1"), 0);
    assert_false(qasm_access_is_loopback(&x));
}

static int step(struct qasm_access *a, struct qasm_access_sess *st, int *auth, uint8_t type,
                const struct qasm_proto_auth *body, struct qasm_proto_msg *out)
{
    struct qasm_proto_msg m;
    qasm_proto_msg_init(&m, type, 5);
    if (body)
        m.u.auth = *body;
    return qasm_access_session_msg(a, st, auth, 0, &m, out);
}

static void test_session_handshake(void **state)
{
    (void)state;
    struct qasm_access a;
    struct qasm_access_sess st;
    struct qasm_proto_msg out;
    struct qasm_proto_auth b;
    uint8_t tn[16];
    memset(&a, 0, sizeof(a));
    memset(tn, 0x77, sizeof(tn));
    /* No key: authenticated from the start; HELLO gets ERROR 6, the session goes on. */
    int auth = qasm_access_sess_init(&a, &st, tn);
    assert_int_equal(auth, 1);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_DUMP, NULL, &out), QASM_ACCESS_HANDLE);
    memset(&b, 0, sizeof(b));
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_HELLO, &b, &out), QASM_ACCESS_REPLY);
    assert_int_equal(out.hdr.type, QASM_PROTO_ERROR);
    assert_int_equal(out.u.error.code, QASM_PROTO_E_AUTH);

    key(&a.key, KEY);
    /* A request first: one ERROR 6, close. A malformed message too. */
    auth = qasm_access_sess_init(&a, &st, tn);
    assert_int_equal(auth, 0);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_DUMP, NULL, &out), QASM_ACCESS_CLOSE);
    assert_int_equal(out.hdr.type, QASM_PROTO_ERROR);
    assert_int_equal(out.u.error.code, QASM_PROTO_E_AUTH);
    assert_int_equal(out.hdr.req_id, 5);
    struct qasm_proto_msg m;
    qasm_proto_msg_init(&m, QASM_PROTO_HELLO, 1);
    assert_int_equal(qasm_access_session_msg(&a, &st, &auth, -EPROTO, &m, &out),
                     QASM_ACCESS_CLOSE);
    assert_int_equal(a.n.auth_required, 2);
    /* AUTH before HELLO: failed. */
    auth = qasm_access_sess_init(&a, &st, tn);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_AUTH, &b, &out), QASM_ACCESS_CLOSE);
    assert_int_equal(a.n.auth_failed, 1);
    /* HELLO -> CHALLENGE with the tracker's nonce and proof; a wrong proof: close. */
    auth = qasm_access_sess_init(&a, &st, tn);
    memset(b.nonce, 0x11, sizeof(b.nonce));
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_HELLO, &b, &out), QASM_ACCESS_REPLY);
    assert_int_equal(out.hdr.type, QASM_PROTO_CHALLENGE);
    assert_memory_equal(out.u.auth.nonce, tn, 16);
    assert_true(qasm_auth_proof_ok(&a.key, QASM_AUTH_TRACKER, b.nonce, tn, out.u.auth.proof));
    struct qasm_proto_auth reply = { { 0 }, { 0 } };
    /* Reflecting the tracker's own proof back does not pass. */
    memcpy(reply.proof, out.u.auth.proof, 16);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_AUTH, &reply, &out), QASM_ACCESS_CLOSE);
    assert_int_equal(auth, 0);
    assert_int_equal(a.n.auth_failed, 2);
    /* A second HELLO: failed. */
    auth = qasm_access_sess_init(&a, &st, tn);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_HELLO, &b, &out), QASM_ACCESS_REPLY);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_HELLO, &b, &out), QASM_ACCESS_CLOSE);
    /* The right proof: OK, authenticated; requests handled from then on. */
    auth = qasm_access_sess_init(&a, &st, tn);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_HELLO, &b, &out), QASM_ACCESS_REPLY);
    qasm_auth_proof(&a.key, QASM_AUTH_CLIENT, b.nonce, tn, reply.proof);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_AUTH, &reply, &out), QASM_ACCESS_REPLY);
    assert_int_equal(out.hdr.type, QASM_PROTO_OK);
    assert_int_equal(auth, 1);
    assert_int_equal(a.n.auth_ok, 1);
    assert_int_equal(step(&a, &st, &auth, QASM_PROTO_DUMP, NULL, &out), QASM_ACCESS_HANDLE);
}

static void test_report_admission(void **state)
{
    (void)state;
    struct qasm_access a;
    struct qasm_proto_report r, plain;
    memset(&a, 0, sizeof(a));
    sample_report(&plain);
    r = plain;
    struct qasm_auth_key k;
    key(&k, KEY);
    assert_int_equal(qasm_auth_report_sign(&k, QASM_PROTO_REPORT_OPEN, &r), 0);
    struct qasm_proto_report forged = r;
    forged.key_mac[0] ^= 0x80;
    /* No key: key MACs mean nothing; the store's trust decides. */
    assert_int_equal(qasm_access_report(&a, QASM_PROTO_REPORT_OPEN, &forged), 0);
    assert_false(qasm_access_store_trust_any(&a));
    a.key = k;
    for (int trust = QASM_TRUST_SOURCE; trust <= QASM_TRUST_MAC; trust++) {
        a.trust = (enum qasm_access_trust)trust;
        memset(&a.n, 0, sizeof(a.n));
        assert_int_equal(qasm_access_report(&a, QASM_PROTO_REPORT_OPEN, &r), 0);
        assert_int_equal(qasm_access_report(&a, QASM_PROTO_REPORT_OPEN, &forged), -EPERM);
        assert_int_equal(qasm_access_report(&a, QASM_PROTO_REPORT_OPEN, &plain),
                         trust == QASM_TRUST_MAC ? -EPERM : 0);
        assert_int_equal(a.n.reports_key_mac, 1);
        assert_int_equal(a.n.rejected_key_mac, 1);
        assert_int_equal(a.n.rejected_no_key_mac, trust == QASM_TRUST_MAC);
        assert_int_equal(qasm_access_store_trust_any(&a), trust != QASM_TRUST_SOURCE);
    }
}

/* Why --trust source refused a report: the claimed address, and the fix for the family case. */
static void test_trust_refusal(void **state)
{
    (void)state;
    struct qasm_proto_report r;
    struct qasm_addr src4, src6, v6, other4;
    const char *fix = NULL;
    memset(&r, 0, sizeof(r));
    assert_int_equal(qasm_addr_parse(&src4, "127.0.0.1:40000"), 0);
    assert_int_equal(qasm_addr_parse(&src6, "[::1]:40000"), 0);
    assert_int_equal(qasm_addr_parse(&v6, "[::1]:5000"), 0);
    assert_int_equal(qasm_addr_parse(&other4, "10.9.9.9:5000"), 0);
    /* an IPv6 connection reported over IPv4: the family fix */
    r.client = r.client0 = v6;
    assert_ptr_equal(qasm_access_trust_refusal(&r, &src4, &fix), &r.client);
    assert_non_null(strstr(fix, "another address family"));
    assert_non_null(strstr(fix, "QASM_TRACKER=127.0.0.1:P,[::1]:P"));
    /* same family, another IP: a NAT or another host */
    r.client = r.client0 = other4;
    assert_ptr_equal(qasm_access_trust_refusal(&r, &src4, &fix), &r.client);
    assert_non_null(strstr(fix, "--trust mac"));
    assert_null(strstr(fix, "address family"));
    /* the client address is the source's, the first one is not (a report creating a connection) */
    r.client = src4;
    r.client0 = v6;
    assert_ptr_equal(qasm_access_trust_refusal(&r, &src4, &fix), &r.client0);
    assert_non_null(strstr(fix, "another address family"));
    r.client = v6;
    assert_ptr_equal(qasm_access_trust_refusal(&r, &src6, &fix), &r.client0);
    assert_null(strstr(fix, "address family"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proof_vectors),
        cmocka_unit_test(test_report_key_mac),
        cmocka_unit_test(test_keyfile),
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_session_handshake),
        cmocka_unit_test(test_report_admission),
        cmocka_unit_test(test_trust_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
