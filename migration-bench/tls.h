/*
 * tls.h: gnutls setup for the HTTP/3 client and server (TLS 1.3, ALPN "h3"),
 * including a self-signed certificate generated in memory at start and
 * SSLKEYLOGFILE support (NSS key log format, for Wireshark).
 */
#ifndef QASM_H3_TLS_H
#define QASM_H3_TLS_H

#include <gnutls/gnutls.h>

/*
 * qasm_tls_server_cred makes server credentials: from PEM files when both
 * |cert| and |key| are non-NULL, else a fresh self-signed ECDSA P-256
 * certificate for "localhost". When |write_cert|/|write_key| are non-NULL the
 * generated certificate/key are also saved there as PEM (for other servers).
 * Returns 0, or -1 with a message on stderr.
 */
int qasm_tls_server_cred(gnutls_certificate_credentials_t *pcred, const char *cert,
                         const char *key, const char *write_cert, const char *write_key);

/* qasm_tls_client_cred makes client credentials (no certificate verification). */
int qasm_tls_client_cred(gnutls_certificate_credentials_t *pcred);

/*
 * qasm_tls_session_new creates a QUIC TLS session (client or server) with the
 * project's priorities, ALPN h3, |cred|, SNI |sni| (client only, may be NULL),
 * the ngtcp2 crypto conn_ref |conn_ref| as session pointer, and the key log
 * hook when SSLKEYLOGFILE is set. Returns 0, or -1 with a message on stderr.
 */
int qasm_tls_session_new(gnutls_session_t *ps, int server, gnutls_certificate_credentials_t cred,
                         const char *sni, void *conn_ref);

#endif
