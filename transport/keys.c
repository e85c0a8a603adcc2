/* keys.c - the cluster's CurveZMQ key pair: the key file, curve server/client
 * socket setup, and the ZAP handler that admits only holders of the pair.
 *
 * Key file (docs/runtime.md "Keys"): text, at most 4 KiB; blank lines and
 * lines starting with '#' are ignored; exactly one line `public <Z85>` and
 * one line `secret <Z85>`, each key 40 Z85 characters (32 bytes), the public
 * key the one zmq_curve_public() derives from the secret.  Written with mode
 * 0600 and never over an existing file.
 *
 * Every process of a cluster holds the same pair: servers (ROUTER sockets
 * that bind) use it as their curve key pair, clients as their own pair and as
 * the server's key.  The handshake alone therefore keeps out anyone without
 * the public key; the ZAP handler (RFC 27, in a thread answering on
 * inproc://zeromq.zap.01 of the context) also requires the client to present
 * the cluster's public key as its own, which only a holder of the secret key
 * can do, and refuses every other mechanism (NULL, PLAIN) with status 400.
 * SPDX-License-Identifier: MIT
 */
#include "stc_proto.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93 /* a DRAFT option in libzmq 4.3; set when the library knows it */
#endif

#define KEY_FILE_MAX 4096
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_DOMAIN "stc"

static const char z85_chars[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

static void wipe(void *p, size_t n) { explicit_bzero(p, n); }

/* ------------------------------------------------------------- key file */

static stc_status_t write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return STC_E_IO;
        }
        p += k;
        n -= (size_t)k;
    }
    return STC_OK;
}

stc_status_t stc_keys_generate(const char *path, stc_keys_t *k, stc_err_t *err) {
    if (!path || !*path) return stc_err_set(err, STC_E_USAGE, "stc_keys_generate: no file name");
    char pub[41], sec[41];
    if (zmq_curve_keypair(pub, sec) != 0)
        return stc_err_set(err, STC_E_UNSUPPORTED, "%s: cannot make a CURVE key pair: %s (libzmq without CURVE?)",
                           path, zmq_strerror(zmq_errno()));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        int e = errno;
        wipe(sec, sizeof sec);
        if (e == EEXIST)
            return stc_err_set(err, STC_E_IO, "%s: already exists; a key file is never overwritten (remove it "
                               "first if you mean to replace the cluster's keys, or choose another name)", path);
        return stc_err_set(err, STC_E_IO, "%s: cannot create: %s", path, strerror(e));
    }
    char text[512];
    int n = snprintf(text, sizeof text,
                     "# stc cluster key pair (CurveZMQ, Z85). Every stc-coord and stc-node of the cluster\n"
                     "# uses it (--keys FILE). Keep it secret: whoever holds it can join the cluster.\n"
                     "public %s\nsecret %s\n", pub, sec);
    stc_status_t st = n > 0 && (size_t)n < sizeof text ? write_all(fd, text, (size_t)n) : STC_E_INTERNAL;
    int e = errno;
    if (st == STC_OK && fsync(fd) != 0) st = STC_E_IO, e = errno;
    if (close(fd) != 0 && st == STC_OK) st = STC_E_IO, e = errno;
    wipe(text, sizeof text);
    if (st != STC_OK) {
        unlink(path);
        wipe(sec, sizeof sec);
        return stc_err_set(err, st, "%s: cannot write the key file: %s", path, strerror(e));
    }
    if (k) {
        memcpy(k->pub, pub, sizeof k->pub);
        memcpy(k->sec, sec, sizeof k->sec);
    }
    wipe(sec, sizeof sec);
    return STC_OK;
}

/* A key on line `line`: exactly 40 Z85 characters that decode. */
static stc_status_t parse_key(const char *path, int line, const char *name, const char *v, size_t n, char out[41],
                              stc_err_t *err) {
    if (n != 40)
        return stc_err_set(err, STC_E_FORMAT, "%s:%d: %s key: expected 40 Z85 characters, found %zu", path, line,
                           name, n);
    for (size_t i = 0; i < n; i++)
        if (!v[i] || !strchr(z85_chars, v[i]))
            return stc_err_set(err, STC_E_FORMAT, "%s:%d: %s key: character %zu is not Z85 (expected 0-9 a-z A-Z "
                               ".-:+=^!/*?&<>()[]{}@%%$#)", path, line, name, i + 1);
    memcpy(out, v, 40);
    out[40] = 0;
    uint8_t bin[32];
    int ok = zmq_z85_decode(bin, out) != NULL;
    wipe(bin, sizeof bin);
    if (!ok)
        return stc_err_set(err, STC_E_FORMAT, "%s:%d: %s key: not a valid Z85 value (a group of 5 characters "
                           "exceeds 2^32-1)", path, line, name);
    return STC_OK;
}

static stc_status_t parse_keys(const char *path, const char *d, size_t n, stc_keys_t *k, stc_err_t *err) {
    int line = 0, pub_line = 0, sec_line = 0;
    size_t i = 0;
    while (i < n) {
        line++;
        size_t e = i;
        while (e < n && d[e] != '\n') e++;
        size_t next = e < n ? e + 1 : e;
        while (e > i && (d[e - 1] == '\r' || d[e - 1] == ' ' || d[e - 1] == '\t')) e--;
        while (i < e && (d[i] == ' ' || d[i] == '\t')) i++;
        if (memchr(d + i, 0, e - i))
            return stc_err_set(err, STC_E_FORMAT, "%s:%d: a NUL byte (expected a text file)", path, line);
        if (i == e || d[i] == '#') {
            i = next;
            continue;
        }
        size_t w = i;
        while (w < e && d[w] != ' ' && d[w] != '\t') w++;
        int is_pub = w - i == 6 && !memcmp(d + i, "public", 6);
        int is_sec = w - i == 6 && !memcmp(d + i, "secret", 6);
        if (!is_pub && !is_sec) {
            char q[64];
            stc_escape(q, sizeof q, d + i, w - i, 16);
            return stc_err_set(err, STC_E_FORMAT, "%s:%d: expected 'public <key>' or 'secret <key>' (or a '#' "
                               "comment), found '%s'", path, line, q);
        }
        int *seen = is_pub ? &pub_line : &sec_line;
        const char *name = is_pub ? "public" : "secret";
        if (*seen)
            return stc_err_set(err, STC_E_FORMAT, "%s:%d: a second '%s' line (the first is line %d)", path, line,
                               name, *seen);
        while (w < e && (d[w] == ' ' || d[w] == '\t')) w++;
        stc_status_t st = parse_key(path, line, name, d + w, e - w, is_pub ? k->pub : k->sec, err);
        if (st != STC_OK) return st;
        *seen = line;
        i = next;
    }
    if (!pub_line || !sec_line)
        return stc_err_set(err, STC_E_FORMAT, "%s: no '%s' line (expected 'public <40 Z85 characters>' and 'secret "
                           "<40 Z85 characters>'; stc-coord keygen writes such a file)", path,
                           pub_line ? "secret" : "public");
    char derived[41];
    if (zmq_curve_public(derived, k->sec) != 0)
        return stc_err_set(err, STC_E_UNSUPPORTED, "%s: cannot derive the public key: %s (libzmq without CURVE?)",
                           path, zmq_strerror(zmq_errno()));
    if (strcmp(derived, k->pub))
        return stc_err_set(err, STC_E_FORMAT, "%s: the public key (line %d) is not the one of the secret key (line "
                           "%d): the file is damaged or mixes two key pairs", path, pub_line, sec_line);
    return STC_OK;
}

stc_status_t stc_keys_load(const char *path, stc_keys_t *k, stc_err_t *err) {
    if (!path || !*path) return stc_err_set(err, STC_E_USAGE, "stc_keys_load: no file name");
    memset(k, 0, sizeof *k);
    unsigned char *data = NULL;
    size_t n = 0;
    stc_status_t st = stc_read_file(path, KEY_FILE_MAX, &data, &n, err);
    if (st != STC_OK) return st;
    st = parse_keys(path, (const char *)data, n, k, err);
    wipe(data, n);
    free(data);
    if (st != STC_OK) {
        wipe(k, sizeof *k);
        return st;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077))
        stc_log(STC_LOG_WARN, "keys", "%s: other users may read this key file (mode %03o); chmod 600 it", path,
                (unsigned)(sb.st_mode & 0777));
    return STC_OK;
}

/* ---------------------------------------------------------- socket setup */

static stc_status_t set_opt(void *sock, int opt, const void *v, size_t n, const char *what, stc_err_t *err) {
    if (zmq_setsockopt(sock, opt, v, n) != 0)
        return stc_err_set(err, STC_E_IO, "cannot make the socket a CURVE %s (option %d): %s", what, opt,
                           zmq_strerror(zmq_errno()));
    return STC_OK;
}

stc_status_t stc_keys_server(void *sock, const stc_keys_t *k, stc_err_t *err) {
    if (!k) return STC_OK;
    int one = 1;
    stc_status_t st;
    if ((st = set_opt(sock, ZMQ_CURVE_SERVER, &one, sizeof one, "server", err)) != STC_OK) return st;
    if ((st = set_opt(sock, ZMQ_CURVE_SECRETKEY, k->sec, 40, "server", err)) != STC_OK) return st;
    if ((st = set_opt(sock, ZMQ_ZAP_DOMAIN, ZAP_DOMAIN, strlen(ZAP_DOMAIN), "server", err)) != STC_OK) return st;
    /* with it, a context without a ZAP handler refuses every client instead of admitting them all */
    if (zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0)
        stc_log(STC_LOG_DEBUG, "keys", "ZMQ_ZAP_ENFORCE_DOMAIN not supported by this libzmq: %s",
                zmq_strerror(zmq_errno()));
    return STC_OK;
}

stc_status_t stc_keys_client(void *sock, const stc_keys_t *k, stc_err_t *err) {
    if (!k) return STC_OK;
    stc_status_t st;
    if ((st = set_opt(sock, ZMQ_CURVE_SERVERKEY, k->pub, 40, "client", err)) != STC_OK) return st;
    if ((st = set_opt(sock, ZMQ_CURVE_PUBLICKEY, k->pub, 40, "client", err)) != STC_OK) return st;
    if ((st = set_opt(sock, ZMQ_CURVE_SECRETKEY, k->sec, 40, "client", err)) != STC_OK) return st;
    return STC_OK;
}

/* ----------------------------------------------------------- ZAP handler */

#define ZAP_MAX_FRAMES 8 /* a CURVE request has 7; more is malformed (the rest are drained) */

struct stc_zap {
    void *ctl;         /* the caller's end of the stop pair */
    void *rep, *ctl_in; /* the handler thread's sockets */
    pthread_t th;
    uint8_t key[32];   /* the cluster's public key, binary */
};

static int frame_is(zmq_msg_t *f, const char *s) {
    size_t n = strlen(s);
    return zmq_msg_size(f) == n && !memcmp(zmq_msg_data(f), s, n);
}

/* Answer one request.  Returns -1 when the socket is gone (context terminated). */
static int zap_serve(stc_zap_t *z) {
    zmq_msg_t f[ZAP_MAX_FRAMES];
    int nf = 0, overflow = 0, more = 1, rc = 0;
    while (more) {
        zmq_msg_t scratch, *dst = nf < ZAP_MAX_FRAMES ? &f[nf] : &scratch;
        zmq_msg_init(dst);
        if (zmq_msg_recv(dst, z->rep, 0) < 0) {
            zmq_msg_close(dst);
            if (zmq_errno() == EINTR) continue;
            rc = -1;
            break;
        }
        more = zmq_msg_more(dst);
        if (dst == &scratch) {
            zmq_msg_close(&scratch);
            overflow = 1;
        } else {
            nf++;
        }
    }
    if (rc == 0) {
        const char *status = "400", *text = "denied", *user = "";
        if (overflow || nf < 6 || !frame_is(&f[0], "1.0")) {
            status = "500";
            text = "malformed ZAP request";
        } else if (!frame_is(&f[5], "CURVE")) {
            text = "only CURVE clients holding the cluster's keys are admitted";
        } else if (nf != 7 || zmq_msg_size(&f[6]) != 32) {
            status = "500";
            text = "malformed CURVE credentials";
        } else {
            const uint8_t *key = zmq_msg_data(&f[6]);
            uint8_t diff = 0;
            for (int i = 0; i < 32; i++) diff |= key[i] ^ z->key[i];
            if (diff) {
                text = "not the cluster's key";
            } else {
                status = "200";
                text = "OK";
                user = "stc";
            }
        }
        if (status[0] != '2' && stc_log_enabled(STC_LOG_INFO)) {
            char mech[40] = "?", addr[80] = "?";
            if (nf >= 6) stc_escape(mech, sizeof mech, zmq_msg_data(&f[5]), zmq_msg_size(&f[5]), 16);
            if (nf >= 4) stc_escape(addr, sizeof addr, zmq_msg_data(&f[3]), zmq_msg_size(&f[3]), 60);
            stc_log(STC_LOG_INFO, "zap", "refused a %s client from %s: %s", mech, addr, text);
        }
        const void *rid = nf >= 2 ? zmq_msg_data(&f[1]) : "";
        size_t rid_n = nf >= 2 ? zmq_msg_size(&f[1]) : 0;
        if (zmq_send(z->rep, "1.0", 3, ZMQ_SNDMORE) < 0 || zmq_send(z->rep, rid, rid_n, ZMQ_SNDMORE) < 0 ||
            zmq_send(z->rep, status, 3, ZMQ_SNDMORE) < 0 ||
            zmq_send(z->rep, text, strlen(text), ZMQ_SNDMORE) < 0 ||
            zmq_send(z->rep, user, strlen(user), ZMQ_SNDMORE) < 0 || zmq_send(z->rep, "", 0, 0) < 0)
            rc = zmq_errno() == ETERM ? -1 : 0;
    }
    for (int i = 0; i < nf; i++) zmq_msg_close(&f[i]);
    return rc;
}

static void *zap_main(void *arg) {
    stc_zap_t *z = arg;
    for (;;) {
        zmq_pollitem_t it[2] = {{z->rep, 0, ZMQ_POLLIN, 0}, {z->ctl_in, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, -1) < 0) {
            if (zmq_errno() == EINTR) continue;
            break;
        }
        if (it[1].revents & ZMQ_POLLIN) break;
        if ((it[0].revents & ZMQ_POLLIN) && zap_serve(z) < 0) break;
    }
    zmq_close(z->rep);
    zmq_close(z->ctl_in);
    return NULL;
}

static void *new_socket(void *ctx, int type) {
    void *s = zmq_socket(ctx, type);
    int zero = 0;
    if (s) zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    return s;
}

stc_zap_t *stc_zap_start(void *ctx, const stc_keys_t *k, stc_err_t *err) {
    if (!ctx || !k) {
        stc_err_set(err, STC_E_USAGE, "stc_zap_start: no %s", ctx ? "keys" : "ZeroMQ context");
        return NULL;
    }
    stc_zap_t *z = calloc(1, sizeof *z);
    if (!z) {
        stc_err_set(err, STC_E_NOMEM, "ZAP handler: out of memory");
        return NULL;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://stc-zap-stop-%p", (void *)z);
    const char *fail = NULL;
    int e = 0;
    if (!zmq_z85_decode(z->key, k->pub)) {
        stc_err_set(err, STC_E_FORMAT, "ZAP handler: the cluster's public key is not 40 Z85 characters");
        free(z);
        return NULL;
    }
    if (!(z->rep = new_socket(ctx, ZMQ_REP))) fail = "cannot make its socket";
    else if (zmq_bind(z->rep, ZAP_ENDPOINT) != 0) fail = "cannot bind " ZAP_ENDPOINT;
    else if (!(z->ctl_in = new_socket(ctx, ZMQ_PAIR)) || zmq_bind(z->ctl_in, ep) != 0) fail = "cannot make its stop socket";
    else if (!(z->ctl = new_socket(ctx, ZMQ_PAIR)) || zmq_connect(z->ctl, ep) != 0) fail = "cannot connect its stop socket";
    if (fail) e = zmq_errno();
    else if ((e = pthread_create(&z->th, NULL, zap_main, z)) != 0) fail = "cannot start its thread";
    if (fail) {
        if (e == EADDRINUSE)
            stc_err_set(err, STC_E_USAGE, "ZAP handler: one is already running in this ZeroMQ context (%s is bound)",
                        ZAP_ENDPOINT);
        else
            stc_err_set(err, STC_E_IO, "ZAP handler: %s: %s", fail, zmq_strerror(e));
        if (z->rep) zmq_close(z->rep);
        if (z->ctl_in) zmq_close(z->ctl_in);
        if (z->ctl) zmq_close(z->ctl);
        free(z);
        return NULL;
    }
    return z;
}

void stc_zap_stop(stc_zap_t **zp) {
    if (!zp || !*zp) return;
    stc_zap_t *z = *zp;
    zmq_send(z->ctl, "", 0, 0); /* fails only when the context is gone, and then the thread has left too */
    pthread_join(z->th, NULL);
    zmq_close(z->ctl);
    wipe(z, sizeof *z);
    free(z);
    *zp = NULL;
}
