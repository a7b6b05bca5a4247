/*
 * test_agent_api: a program that LINKS libqasm-agent.so (before libngtcp2,
 * no LD_PRELOAD) and uses client-agent/qasm_agent.h. It creates a real
 * ngtcp2 0.12 client connection in-process (no packets are exchanged) and
 * checks, on a loopback UDP socket standing in for the tracker, the reports
 * the agent sends: OPEN through the interposed client_new, explicit calls
 * (track, learn_cid, dcid_status) deduped, an address change through the
 * interposed set_local_addr, CLOSE through the interposed conn_del.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include "client-agent/qasm_agent.h"
#include "proto.h"

static int sink_fd = -1;

/* A report that must come: generous (it normally takes microseconds, but a loaded
 * machine may not run the sender for a while); recv_report returns as soon as it is
 * there. A report that must not come is waited for 100 ms only: that wait can only
 * make the test pass too easily under load, never fail it. */
#define REPORT_WAIT_MS 30000

/* Receives one report within |ms|; returns 1 and fills |m|, or 0 if none came. */
static int recv_report(struct qasm_proto_msg *m, int ms)
{
    uint8_t buf[QASM_PROTO_MAX_MSG];
    struct pollfd p = { .fd = sink_fd, .events = POLLIN };
    ssize_t n;

    if (poll(&p, 1, ms) <= 0)
        return 0;
    n = recv(sink_fd, buf, sizeof(buf), 0);
    assert_true(n > 0);
    assert_int_equal(qasm_proto_decode(m, buf, (size_t)n), 0);
    return 1;
}

static void rand_cb(uint8_t *dest, size_t len, const ngtcp2_rand_ctx *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++)
        dest[i] = (uint8_t)(i * 37 + 11);
}

static int new_cid_cb(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t len, void *ud)
{
    (void)conn;
    (void)ud;
    memset(cid->data, 0x5a, len);
    cid->datalen = len;
    memset(token, 0, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
}

static int app_dcid_calls;

static int app_dcid_status(ngtcp2_conn *conn, int type, uint64_t seq, const ngtcp2_cid *cid,
                           const uint8_t *token, void *ud)
{
    (void)conn, (void)type, (void)seq, (void)cid, (void)token;
    assert_ptr_equal(ud, &app_dcid_calls); /* user_data untouched */
    app_dcid_calls++;
    return 0;
}

static void mkcid(ngtcp2_cid *c, uint8_t tag, size_t len)
{
    c->datalen = len;
    for (size_t i = 0; i < len; i++)
        c->data[i] = (uint8_t)(tag + i);
}

static void fill_callbacks(ngtcp2_callbacks *pcb)
{
    memset(pcb, 0, sizeof(*pcb));
    pcb->client_initial = ngtcp2_crypto_client_initial_cb;
    pcb->recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
    pcb->encrypt = ngtcp2_crypto_encrypt_cb;
    pcb->decrypt = ngtcp2_crypto_decrypt_cb;
    pcb->hp_mask = ngtcp2_crypto_hp_mask_cb;
    pcb->recv_retry = ngtcp2_crypto_recv_retry_cb;
    pcb->rand = rand_cb;
    pcb->get_new_connection_id = new_cid_cb;
    pcb->update_key = ngtcp2_crypto_update_key_cb;
    pcb->delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
    pcb->delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
    pcb->get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
    pcb->version_negotiation = ngtcp2_crypto_version_negotiation_cb;
}

static void test_link_and_explicit_api(void **state)
{
    (void)state;
    struct sockaddr_in sink = { .sin_family = AF_INET }, local = { .sin_family = AF_INET },
                       remote = { .sin_family = AF_INET }, local2;
    socklen_t sl = sizeof(sink);
    char spec[64];
    struct qasm_proto_msg m;
    struct qasm_agent_stats st;
    ngtcp2_callbacks cb;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    ngtcp2_path path;
    ngtcp2_conn *conn = NULL;
    ngtcp2_cid dcid, scid, spare;
    ngtcp2_addr a2;
    int nrecv = 0;

    sink.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sink_fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(sink_fd >= 0);
    assert_int_equal(bind(sink_fd, (struct sockaddr *)&sink, sizeof(sink)), 0);
    assert_int_equal(getsockname(sink_fd, (struct sockaddr *)&sink, &sl), 0);
    snprintf(spec, sizeof(spec), "127.0.0.1:%u", ntohs(sink.sin_port));

    /* Explicit configuration before the first connection; only once. */
    assert_int_equal(qasm_agent_init(spec, 0), 0);
    assert_int_equal(qasm_agent_init(spec, 0), -EALREADY);
    assert_int_equal(qasm_agent_enabled(), 1);
    assert_int_equal(qasm_agent_track(NULL), -EINVAL);

    fill_callbacks(&cb);
    cb.dcid_status = app_dcid_status;
    ngtcp2_settings_default(&settings);
    settings.initial_ts = 1000000;
    ngtcp2_transport_params_default(&params);
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    local.sin_port = htons(40001);
    remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    remote.sin_port = htons(4433);
    path.local.addr = (ngtcp2_sockaddr *)&local;
    path.local.addrlen = sizeof(local);
    path.remote.addr = (ngtcp2_sockaddr *)&remote;
    path.remote.addrlen = sizeof(remote);
    path.user_data = NULL;
    mkcid(&dcid, 0xd0, 18);
    mkcid(&scid, 0x50, 8);

    /* Interposed by link order: OPEN with the O-DCID = our dcid. */
    assert_int_equal(ngtcp2_conn_client_new(&conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb,
                                            &settings, &params, NULL, &app_dcid_calls),
                     0);
    assert_true(recv_report(&m, REPORT_WAIT_MS));
    nrecv++;
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_OPEN);
    assert_int_equal(m.u.report.odcid.len, 18);
    assert_memory_equal(m.u.report.odcid.data, dcid.data, 18);
    assert_int_equal(m.u.report.scid.len, 8);
    assert_int_equal(m.u.report.client0.port, 40001);
    assert_int_equal(m.u.report.server.port, 4433);

    /* Explicit calls: track is a no-op for a tracked conn. */
    assert_int_equal(qasm_agent_track(conn), 0);
    assert_false(recv_report(&m, 100));

    mkcid(&spare, 0x90, 18);
    qasm_agent_learn_cid(conn, 3, &spare);
    assert_true(recv_report(&m, REPORT_WAIT_MS));
    nrecv++;
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_DCID_NEW);
    assert_int_equal(m.u.report.dcid.seq, 3);
    qasm_agent_learn_cid(conn, 3, &spare); /* known: nothing */
    assert_false(recv_report(&m, 100));

    /* The app's dcid_status is still called with its user_data by ngtcp2; an
     * explicit dcid_status for a spare reports it active (same seq). */
    qasm_agent_dcid_status(conn, NGTCP2_CONNECTION_ID_STATUS_TYPE_DEACTIVATE, 3, &spare);
    assert_true(recv_report(&m, REPORT_WAIT_MS));
    nrecv++;
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_DCID_RETIRE);

    /* The next path announced ahead: ADDR for it now, once; bad calls refused. */
    local2 = local;
    local2.sin_port = htons(40002);
    assert_int_equal(qasm_agent_announce_path(conn, (struct sockaddr *)&local2,
                                              sizeof(local2)), 0);
    assert_true(recv_report(&m, REPORT_WAIT_MS));
    nrecv++;
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_ADDR);
    assert_int_equal(m.u.report.client.port, 40002);
    assert_int_equal(qasm_agent_announce_path(conn, (struct sockaddr *)&local2,
                                              sizeof(local2)), 0);
    assert_int_equal(qasm_agent_announce_path(conn, (struct sockaddr *)&local,
                                              sizeof(local)), 0); /* the current one */
    assert_false(recv_report(&m, 100));
    assert_int_equal(qasm_agent_announce_path(conn, NULL, 0), -EINVAL);
    assert_int_equal(qasm_agent_announce_path(conn, (struct sockaddr *)&local2, 2), -EINVAL);
    assert_int_equal(qasm_agent_announce_path((ngtcp2_conn *)&local2, (struct sockaddr *)&local2,
                                              sizeof(local2)), -ENOENT);
    qasm_agent_get_stats(&st);
    assert_int_equal(st.paths_announced, 1);
    {
        /* The sized call never writes past |size|; the unsized symbol that
         * older binaries link to fills only the struct they know of. */
        struct qasm_agent_stats part;
        memset(&part, 0xab, sizeof(part));
        assert_int_equal(qasm_agent_get_stats_sized(&part, sizeof(uint64_t)), sizeof(part));
        assert_int_equal(part.conns_tracked, st.conns_tracked);
        assert_int_equal(part.conns_live, 0xababababababababULL);
        memset(&part, 0xab, sizeof(part));
        (qasm_agent_get_stats)(&part);
        assert_int_equal(part.conns_tracked, st.conns_tracked);
        assert_int_not_equal(part.busy_ns, 0xababababababababULL);
        assert_int_equal(part.paths_announced, 0xababababababababULL);
        assert_int_equal(part.paths_replaced, 0xababababababababULL);
    }

    /* NAT rebinding through the interposed set_local_addr, to the announced
     * address: ADDR again (it becomes the current one at the tracker). */
    a2.addr = (ngtcp2_sockaddr *)&local2;
    a2.addrlen = sizeof(local2);
    ngtcp2_conn_set_local_addr(conn, &a2);
    assert_true(recv_report(&m, REPORT_WAIT_MS));
    nrecv++;
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_ADDR);
    assert_int_equal(m.u.report.client.port, 40002);
    assert_int_equal(m.u.report.client0.port, 40001);

    qasm_agent_get_stats(&st);
    assert_int_equal(st.conns_tracked, 1);
    assert_int_equal(st.conns_live, 1);
    assert_int_equal(st.reports_sent, (uint64_t)nrecv);
    assert_int_equal(st.send_errors, 0);

    /* Close through the interposed conn_del. */
    ngtcp2_conn_del(conn);
    assert_true(recv_report(&m, REPORT_WAIT_MS));
    assert_int_equal(m.hdr.type, QASM_PROTO_REPORT_CLOSE);
    qasm_agent_get_stats(&st);
    assert_int_equal(st.conns_live, 0);
    assert_int_equal(st.closes, 1);
    assert_int_equal(app_dcid_calls, 0); /* no handshake, so ngtcp2 never called it */
    close(sink_fd);
}

#define NTHREADS 4
#define NCONNS 50

/* One thread: NCONNS client connections, each opened, given 3 spares, rebound and deleted. */
static void *conn_churn(void *arg)
{
    uintptr_t t = (uintptr_t)arg;
    ngtcp2_callbacks cb;
    ngtcp2_settings settings;
    ngtcp2_transport_params params;
    struct sockaddr_in local = { .sin_family = AF_INET }, remote = { .sin_family = AF_INET },
                       local2;
    ngtcp2_path path;
    ngtcp2_addr a2;

    fill_callbacks(&cb);
    ngtcp2_settings_default(&settings);
    ngtcp2_transport_params_default(&params);
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    remote.sin_port = htons(4433);
    path.remote.addr = (ngtcp2_sockaddr *)&remote;
    path.remote.addrlen = sizeof(remote);
    path.user_data = NULL;
    for (int i = 0; i < NCONNS; i++) {
        ngtcp2_conn *conn = NULL;
        ngtcp2_cid dcid, scid, spare;

        local.sin_port = htons((uint16_t)(20000 + t * 1000 + (uintptr_t)i));
        path.local.addr = (ngtcp2_sockaddr *)&local;
        path.local.addrlen = sizeof(local);
        mkcid(&dcid, (uint8_t)(t * 64 + (uintptr_t)i), 18);
        mkcid(&scid, (uint8_t)i, 8);
        settings.initial_ts = 1000000;
        if (ngtcp2_conn_client_new(&conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &cb,
                                   &settings, &params, NULL, NULL) != 0)
            return (void *)1;
        for (uint64_t k = 1; k <= 3; k++) {
            mkcid(&spare, (uint8_t)(0x80 + k * 8 + (uint64_t)i), 18);
            qasm_agent_learn_cid(conn, k, &spare);
        }
        local2 = local;
        local2.sin_port = htons((uint16_t)(40000 + t * 1000 + (uintptr_t)i));
        a2.addr = (ngtcp2_sockaddr *)&local2;
        a2.addrlen = sizeof(local2);
        ngtcp2_conn_set_local_addr(conn, &a2);
        ngtcp2_conn_del(conn);
    }
    return NULL;
}

/* Connections on several threads at once: counters add up, nothing leaks (ASan build). */
/*
 * A tracker address that names no peer is refused at init, not accepted and
 * then failed on every send. Each spec runs in a child: init happens once
 * per process.
 */
static void test_bad_tracker_refused(void **state)
{
    (void)state;
    static const char *bad[] = { ":::", "127.0.0.1:99999", "127.0.0.1:", "foo", "0.0.0.0:4433",
                                 "[::1]:0", "127.0.0.1:4790,127.0.0.1:", "[::1]:4790,foo" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int st = 0;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int rv = qasm_agent_init(bad[i], 0);
            _exit(rv == -EINVAL && !qasm_agent_enabled() ? 0 : 1);
        }
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            fail_msg("tracker \"%s\" was not refused", bad[i]);
    }
}

static void test_threads(void **state)
{
    (void)state;
    struct qasm_agent_stats before, after;
    pthread_t th[NTHREADS];

    assert_int_equal(qasm_agent_enabled(), 1);
    qasm_agent_get_stats(&before);
    for (uintptr_t t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_create(&th[t], NULL, conn_churn, (void *)t), 0);
    for (int t = 0; t < NTHREADS; t++) {
        void *rv;
        assert_int_equal(pthread_join(th[t], &rv), 0);
        assert_null(rv);
    }
    qasm_agent_get_stats(&after);
    assert_int_equal(after.conns_tracked - before.conns_tracked, NTHREADS * NCONNS);
    assert_int_equal(after.conns_live, 0);
    assert_int_equal(after.closes - before.closes, NTHREADS * NCONNS);
    assert_int_equal(after.spares_learnt - before.spares_learnt, 3 * NTHREADS * NCONNS);
    assert_int_equal(after.addr_changes - before.addr_changes, NTHREADS * NCONNS);
    /* OPEN + 3 spares + address + CLOSE per connection, each sent or counted as an error. */
    assert_int_equal((after.reports_sent + after.send_errors) -
                         (before.reports_sent + before.send_errors),
                     6 * NTHREADS * NCONNS);
    assert_int_equal(after.encode_errors, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_tracker_refused),
        cmocka_unit_test(test_link_and_explicit_api),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
