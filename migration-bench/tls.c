/* tls.c: gnutls credentials and sessions for QUIC (see tls.h). */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

static const char tls_priority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:"
    "+CHACHA20-POLY1305:+AES-128-CCM:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:"
    "+GROUP-SECP384R1:+GROUP-SECP521R1:%DISABLE_TLS13_COMPAT_MODE";

static FILE *keylog_file;

static int save_pem(const char *path, const gnutls_datum_t *d)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return -1;
    }
    int ok = fwrite(d->data, 1, d->size, f) == d->size;
    if (fclose(f) != 0 || !ok) {
        fprintf(stderr, "%s: write failed\n", path);
        return -1;
    }
    return 0;
}

static int generate_self_signed(gnutls_certificate_credentials_t cred, const char *write_cert,
                                const char *write_key)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    unsigned char serial[8];
    time_t now = time(NULL);
    int rv;

    if ((rv = gnutls_x509_privkey_init(&key)) < 0 ||
        (rv = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                           GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0)) < 0 ||
        (rv = gnutls_x509_crt_init(&crt)) < 0 ||
        (rv = gnutls_x509_crt_set_version(crt, 3)) < 0 ||
        (rv = gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial))) < 0)
        goto fail;
    serial[0] &= 0x7f;
    if ((rv = gnutls_x509_crt_set_serial(crt, serial, sizeof(serial))) < 0 ||
        (rv = gnutls_x509_crt_set_activation_time(crt, now - 3600)) < 0 ||
        (rv = gnutls_x509_crt_set_expiration_time(crt, now + 30 * 86400)) < 0 ||
        (rv = gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost",
                                            9)) < 0 ||
        (rv = gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
                                                   GNUTLS_FSAN_SET)) < 0 ||
        (rv = gnutls_x509_crt_set_key(crt, key)) < 0 ||
        (rv = gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE)) < 0 ||
        (rv = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0)) < 0 ||
        (rv = gnutls_certificate_set_x509_key(cred, &crt, 1, key)) < 0)
        goto fail;
    if (write_cert && write_key) {
        gnutls_datum_t c = {NULL, 0}, k = {NULL, 0};
        rv = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &c);
        if (rv >= 0)
            rv = gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL, 0, &k);
        if (rv >= 0 && (save_pem(write_cert, &c) != 0 || save_pem(write_key, &k) != 0))
            rv = GNUTLS_E_FILE_ERROR;
        gnutls_free(c.data);
        gnutls_free(k.data);
        if (rv < 0)
            goto fail;
    }
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return 0;
fail:
    fprintf(stderr, "self-signed certificate: %s\n", gnutls_strerror(rv));
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return -1;
}

int qasm_tls_server_cred(gnutls_certificate_credentials_t *pcred, const char *cert,
                         const char *key, const char *write_cert, const char *write_key)
{
    int rv = gnutls_certificate_allocate_credentials(pcred);
    if (rv < 0) {
        fprintf(stderr, "gnutls credentials: %s\n", gnutls_strerror(rv));
        return -1;
    }
    if (cert && key) {
        rv = gnutls_certificate_set_x509_key_file(*pcred, cert, key, GNUTLS_X509_FMT_PEM);
        if (rv < 0) {
            fprintf(stderr, "%s / %s: %s\n", cert, key, gnutls_strerror(rv));
            return -1;
        }
        return 0;
    }
    return generate_self_signed(*pcred, write_cert, write_key);
}

int qasm_tls_client_cred(gnutls_certificate_credentials_t *pcred)
{
    int rv = gnutls_certificate_allocate_credentials(pcred);
    if (rv < 0) {
        fprintf(stderr, "gnutls credentials: %s\n", gnutls_strerror(rv));
        return -1;
    }
    return 0;
}

static int keylog_cb(gnutls_session_t s, const char *label, const gnutls_datum_t *secret)
{
    gnutls_datum_t crand, srand;
    if (!keylog_file)
        return 0;
    gnutls_session_get_random(s, &crand, &srand);
    fprintf(keylog_file, "%s ", label);
    for (unsigned i = 0; i < crand.size; i++)
        fprintf(keylog_file, "%02x", crand.data[i]);
    fputc(' ', keylog_file);
    for (unsigned i = 0; i < secret->size; i++)
        fprintf(keylog_file, "%02x", secret->data[i]);
    fputc('\n', keylog_file);
    fflush(keylog_file);
    return 0;
}

int qasm_tls_session_new(gnutls_session_t *ps, int server, gnutls_certificate_credentials_t cred,
                         const char *sni, void *conn_ref)
{
    static const gnutls_datum_t alpn = {(unsigned char *)"h3", 2};
    static int keylog_checked;
    unsigned flags = server ? GNUTLS_SERVER : (GNUTLS_CLIENT | GNUTLS_ENABLE_EARLY_DATA);
    int rv = gnutls_init(ps, flags | GNUTLS_NO_END_OF_EARLY_DATA);
    if (rv < 0) {
        fprintf(stderr, "gnutls_init: %s\n", gnutls_strerror(rv));
        return -1;
    }
    rv = server ? ngtcp2_crypto_gnutls_configure_server_session(*ps)
                : ngtcp2_crypto_gnutls_configure_client_session(*ps);
    if (rv != 0) {
        fprintf(stderr, "ngtcp2_crypto_gnutls_configure_session failed\n");
        goto fail;
    }
    rv = gnutls_priority_set_direct(*ps, tls_priority, NULL);
    if (rv >= 0)
        rv = gnutls_credentials_set(*ps, GNUTLS_CRD_CERTIFICATE, cred);
    if (rv >= 0)
        rv = gnutls_alpn_set_protocols(*ps, &alpn, 1, GNUTLS_ALPN_MANDATORY);
    if (rv >= 0 && !server && sni) {
        unsigned char tmp[16];
        int numeric = inet_pton(AF_INET, sni, tmp) == 1 || inet_pton(AF_INET6, sni, tmp) == 1;
        const char *name = numeric ? "localhost" : sni;
        rv = gnutls_server_name_set(*ps, GNUTLS_NAME_DNS, name, strlen(name));
    }
    if (rv < 0) {
        fprintf(stderr, "gnutls session setup: %s\n", gnutls_strerror(rv));
        goto fail;
    }
    gnutls_session_set_ptr(*ps, conn_ref);
    if (!keylog_checked) {
        const char *path = getenv("SSLKEYLOGFILE");
        keylog_checked = 1;
        if (path && *path && !(keylog_file = fopen(path, "a")))
            perror(path);
    }
    if (keylog_file)
        gnutls_session_set_keylog_function(*ps, keylog_cb);
    return 0;
fail:
    gnutls_deinit(*ps);
    *ps = NULL;
    return -1;
}
