/*
 * tls_engine.c — TLS records with Node's own OpenSSL, over memory BIOs (issue 11, "native" TLS engine).
 *
 * Node 20's binary exports its bundled OpenSSL 3.0 (libssl + libcrypto symbols), and node-gyp's include
 * directory has its headers (include/node/openssl): this file links against nothing else, the symbols
 * resolve to the very OpenSSL that Node's `tls` uses. No cryptography of our own, and no kernel socket:
 * ciphertext comes from our TCP ByteStream and goes back to it, synchronously, inside the vector.
 *
 * Module functions (handles are napi externals; everything runs on the calling thread, no threads here):
 *   tlsContextNew(certPem, keyPem, ciphers12, suites13, groups, alpnWire, ticketKeys80, sessionTimeout)
 *       -> ctx      an SSL_CTX: TLS 1.2..1.3, the given cipher lists and groups, no renegotiation
 *                   (renegotiation_info still sent), stateless tickets under the given 80-byte key
 *                   (name 16, HMAC 32, AES 32), ALPN by server preference from alpnWire (a client
 *                   offering ALPN with nothing in common gets a fatal no_application_protocol, as
 *                   Node's tls does). Throws an Error whose code is ERR_SSL_<REASON> when OpenSSL
 *                   refuses the chain, the key or the pair.
 *   tlsSetState(Int32Array(4), Buffer)   where the calls below report: [0] flags, [1] ciphertext
 *                   pending output, [2] error class (1 protocol, 2 cipher, 3 other); and where tlsFeed
 *                   leaves plaintext that fits (valid until the next tlsFeed)
 *   tlsConnNew(ctx) -> conn       SSL_new in accept state with two memory BIOs; holds a reference to ctx
 *                   (a rotation's new context does not affect open connections)
 *   tlsFeed(conn, buf, off, len) -> number | Buffer | null   ciphertext in; handshake and/or
 *                   SSL_read; the plaintext that came out: its length in the shared Buffer, or a new
 *                   Buffer when it did not fit, or null if none. Flags: 1 handshake completed in this call,
 *                   2 peer sent close_notify, 4 fatal error (alert, if any, is in the output)
 *   tlsWritev(conn, chunks[], n, maxBytes, target?) -> number  plaintext bytes taken from the front of
 *                   chunks[0..n) (at most maxBytes, whole chunks except maybe the last), encrypted into
 *                   records of up to 16 KiB (small chunks coalesce into one record); the ciphertext is
 *                   pending, or, with a target Buffer big enough (maxBytes + 64 per record), written
 *                   at its start (state[3] = 1, state[1] = its length)
 *   tlsTakeOutput(conn) -> Buffer | null   the pending ciphertext (handshake, records, alerts, tickets)
 *   tlsShutdown(conn)     close_notify (pending output)
 *   tlsInfo(conn) -> [protocol, resumed, alpn]
 *   tlsErrorText(conn) -> string   the first OpenSSL error of the failure ('' if none)
 *   tlsFree(conn)         SSL_free now (also done by the finalizer if forgotten); idempotent
 *   tlsLive() -> number   SSL objects alive (tests check it returns to 0)
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define FLAG_DONE 1
#define FLAG_PEER_CLOSED 2
#define FLAG_FATAL 4

#define ERRCLASS_PROTOCOL 1
#define ERRCLASS_CIPHER 2
#define ERRCLASS_OTHER 3
#define ERRCLASS_KEY_UPDATE 4 /* the peer's KeyUpdates went over their rate limit */

/* TLS 1.3 KeyUpdate messages are rate limited per connection: each costs the server a key
 * derivation (~14 µs) and OpenSSL itself sets no limit (review M2). A token bucket: a burst of
 * KEY_UPDATE_BURST, then KEY_UPDATE_PER_SEC a second; a KeyUpdate beyond it is fatal. It used to
 * be "32 in a row without application data", which one byte of data between two KeyUpdates reset
 * (a client could then make every request cost 13x the CPU). A real client updates its keys after
 * gigabytes (RFC 8446 §5.5: 2^24.5 records for AES-GCM), or on a policy of minutes. */
#define KEY_UPDATE_BURST 32
#define KEY_UPDATE_PER_SEC 1

#define RECORD_MAX 16384
/* Output up to this size is copied into a JS Buffer (the connection keeps its buffer); larger
 * output is handed over as an external Buffer (no copy; the connection starts a new one). */
#define OUT_COPY_MAX (16 * 1024)
/* Per-record overhead bound for preallocating output (header 5 + tag 16 + type 1 + padding). */
#define RECORD_OVERHEAD 64

typedef struct tls_ctx {
  SSL_CTX *ctx;
  unsigned char *alpn; /* wire format */
  unsigned alpn_len;
  int refs; /* the JS handle + one per connection */
} tls_ctx;

typedef struct tls_conn {
  SSL *ssl;
  BIO *rbio, *wbio; /* owned by ssl: a memory BIO in, our output BIO (below) out */
  unsigned char *obuf; /* ciphertext waiting to be taken */
  size_t olen, ocap;
  int fixed; /* obuf is the caller's Buffer for this tlsWritev: it does not grow */
  tls_ctx *ctx;
  int done;
  int dead;        /* fatal error: no more reads or writes */
  int peer_closed; /* close_notify received: what else comes in is ignored */
  double key_update_tokens; /* KeyUpdates the peer may still send now (token bucket) */
  int64_t key_update_at_ns; /* when the bucket was last filled (CLOCK_MONOTONIC), 0 = never */
  int key_update_flood; /* over the rate limit: fatal */
  char err[256];
} tls_conn;

static int64_t live_conns = 0; /* process-wide, atomic */
/* The Int32Array of tlsSetState (off-heap ArrayBuffer), per thread: each worker's env sets its own. */
static __thread int32_t *state = NULL;
static __thread napi_ref state_ref = NULL;

/* Per-thread scratch for plaintext (worker threads may each run an engine). */
static __thread unsigned char *scratch = NULL;
static __thread size_t scratch_cap = 0;
/* The JS Buffer of tlsSetState: plaintext that fits is left there (tlsFeed returns its length). */
static __thread unsigned char *shared_in = NULL;
static __thread size_t shared_cap = 0;
static __thread napi_ref shared_ref = NULL;
static __thread unsigned char staging[RECORD_MAX];

/* ---- the output BIO: OpenSSL's records are appended to conn->obuf (a memory BIO would grow by
 * clear-realloc, copying and wiping its buffer again and again under a 10 MB answer). */

static BIO_METHOD *out_method = NULL;

/* Large output buffers handed to JS come back (their Buffer's finalizer) to a small per-thread
 * pool: a 10 MB answer then reuses warm pages instead of faulting in fresh ones per batch. */
#define POOL_CAP ((size_t)256 * 1024 + 24 * RECORD_OVERHEAD)
#define POOL_MAX 16
static __thread unsigned char *pool[POOL_MAX];
static __thread int pool_n = 0;
static pthread_once_t out_once = PTHREAD_ONCE_INIT;
/* This thread's env is gone (its cleanup hook ran): buffers finalized later are freed, not pooled. */
static __thread int torn_down = 0;

/* Tags on the externals (review L1): a context passed as a connection, or any other external, is
 * refused instead of being cast to the wrong struct. */
static const napi_type_tag CTX_TAG = {0x9c1e4f0a6b3d2e71ULL, 0x5a7c8e2f1d3b4a69ULL};
static const napi_type_tag CONN_TAG = {0x2b6d9e1f4c8a3e57ULL, 0x7e1a5c3d9b2f6e48ULL};

static int has_tag(napi_env env, napi_value v, const napi_type_tag *tag) {
  bool ok = false;
  return napi_check_object_type_tag(env, v, tag, &ok) == napi_ok && ok;
}

static int out_reserve(tls_conn *c, size_t need) {
  if (c->ocap - c->olen >= need) return 1;
  if (c->fixed) return 0;
  if (c->obuf == NULL && need > OUT_COPY_MAX && need <= POOL_CAP) {
    unsigned char *p = pool_n > 0 ? pool[--pool_n] : malloc(POOL_CAP);
    if (p == NULL) return 0;
    c->obuf = p;
    c->ocap = POOL_CAP;
    return 1;
  }
  size_t cap = c->ocap ? c->ocap : 4096;
  while (cap - c->olen < need) cap *= 2;
  unsigned char *p = realloc(c->obuf, cap);
  if (p == NULL) return 0;
  c->obuf = p;
  c->ocap = cap;
  return 1;
}

static int out_write_ex(BIO *b, const char *data, size_t len, size_t *written) {
  tls_conn *c = BIO_get_data(b);
  *written = 0;
  if (c == NULL || !out_reserve(c, len)) return 0;
  memcpy(c->obuf + c->olen, data, len);
  c->olen += len;
  *written = len;
  return 1;
}

static long out_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  tls_conn *c = BIO_get_data(b);
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
      return c ? (long)c->olen : 0;
    default:
      return 0;
  }
}

static int out_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static void out_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vpp-server tls output");
  if (m == NULL) return;
  if (!BIO_meth_set_write_ex(m, out_write_ex) || !BIO_meth_set_ctrl(m, out_ctrl) || !BIO_meth_set_create(m, out_create)) {
    BIO_meth_free(m);
    return;
  }
  out_method = m;
}

static void ctx_unref(tls_ctx *c) {
  if (--c->refs > 0) return;
  SSL_CTX_free(c->ctx);
  free(c->alpn);
  free(c);
}

static void set_state(int flags, size_t pending, int errclass) {
  if (state == NULL) return;
  state[0] = flags;
  state[1] = pending > INT32_MAX ? INT32_MAX : (int32_t)pending;
  state[2] = errclass;
}

static void throw_ssl(napi_env env, const char *what) {
  unsigned long e = ERR_peek_last_error();
  char code[96], msg[512], buf[256];
  const char *reason = e ? ERR_reason_error_string(e) : NULL;
  snprintf(code, sizeof code, "ERR_SSL_%s", reason ? reason : "UNKNOWN");
  for (char *p = code; *p; p++) {
    if (*p == ' ') *p = '_';
    else if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 'a' + 'A');
  }
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  else snprintf(buf, sizeof buf, "unknown error");
  snprintf(msg, sizeof msg, "%s: %s", what, buf);
  ERR_clear_error();
  napi_throw_error(env, code, msg);
}

/* No password prompt (review L2): OpenSSL's default callback reads the controlling terminal and
 * blocks the thread; an encrypted key is refused instead. */
static int no_password(char *buf, int size, int rwflag, void *u) {
  (void)buf;
  (void)size;
  (void)rwflag;
  (void)u;
  return 0;
}

static int get_buffer(napi_env env, napi_value v, void **data, size_t *len) {
  bool is;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a Buffer");
    return 0;
  }
  return napi_get_buffer_info(env, v, data, len) == napi_ok;
}

static char *get_string(napi_env env, napi_value v) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a string");
    return NULL;
  }
  char *s = malloc(n + 1);
  if (s == NULL) return NULL;
  napi_get_value_string_utf8(env, v, s, n + 1, &n);
  return s;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                       unsigned int inlen, void *arg) {
  (void)ssl;
  tls_ctx *c = arg;
  unsigned char *o = NULL;
  /* server preference: our list first */
  int r = SSL_select_next_proto(&o, outlen, c->alpn, c->alpn_len, in, inlen);
  if (r != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

static void ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ctx_unref(data);
}

static napi_value m_context_new(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "tlsContextNew needs 8 arguments");
    return NULL;
  }
  void *cert, *key, *alpn, *tk;
  size_t cert_len, key_len, alpn_len, tk_len;
  if (!get_buffer(env, argv[0], &cert, &cert_len) || !get_buffer(env, argv[1], &key, &key_len) ||
      !get_buffer(env, argv[5], &alpn, &alpn_len) || !get_buffer(env, argv[6], &tk, &tk_len))
    return NULL;
  if (tk_len != 80) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "ticket keys must be 80 bytes");
    return NULL;
  }
  uint32_t timeout = 7200;
  napi_get_value_uint32(env, argv[7], &timeout);
  char *c12 = get_string(env, argv[2]), *s13 = get_string(env, argv[3]), *groups = get_string(env, argv[4]);
  tls_ctx *c = calloc(1, sizeof *c);
  napi_value result = NULL;
  X509 *x = NULL;
  EVP_PKEY *pk = NULL;
  BIO *bio = NULL;
  if (c12 == NULL || s13 == NULL || groups == NULL || c == NULL) goto out;
  ERR_clear_error();
  c->ctx = SSL_CTX_new(TLS_server_method());
  if (c->ctx == NULL) {
    throw_ssl(env, "SSL_CTX_new");
    goto out;
  }
  c->refs = 1;
  SSL_CTX *ctx = c->ctx;
  if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
    throw_ssl(env, "protocol versions");
    goto out;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (!SSL_CTX_set_cipher_list(ctx, c12)) {
    throw_ssl(env, "cipher list");
    goto out;
  }
  if (!SSL_CTX_set_ciphersuites(ctx, s13)) {
    throw_ssl(env, "TLS 1.3 cipher suites");
    goto out;
  }
  if (!SSL_CTX_set1_groups_list(ctx, groups)) {
    throw_ssl(env, "groups");
    goto out;
  }
  /* Tickets only (as Node's tls server: no internal session cache), 80-byte key. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  static const unsigned char sid_ctx[] = "vpp-server";
  SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
  SSL_CTX_set_timeout(ctx, timeout);
  if (SSL_CTX_set_tlsext_ticket_keys(ctx, tk, 80) != 1) {
    throw_ssl(env, "ticket keys");
    goto out;
  }
  if (alpn_len > 0) {
    c->alpn = malloc(alpn_len);
    if (c->alpn == NULL) goto out;
    memcpy(c->alpn, alpn, alpn_len);
    c->alpn_len = (unsigned)alpn_len;
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, c);
  }
  /* The chain: the leaf, then any intermediates, from one PEM. */
  bio = BIO_new_mem_buf(cert, (int)cert_len);
  if (bio == NULL || (x = PEM_read_bio_X509(bio, NULL, no_password, NULL)) == NULL) {
    throw_ssl(env, "certificate");
    goto out;
  }
  if (SSL_CTX_use_certificate(ctx, x) != 1) {
    throw_ssl(env, "certificate");
    goto out;
  }
  X509_free(x);
  x = NULL;
  for (;;) {
    X509 *extra = PEM_read_bio_X509(bio, NULL, no_password, NULL);
    if (extra == NULL) break;
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      throw_ssl(env, "chain certificate");
      goto out;
    }
  }
  ERR_clear_error(); /* the end of the PEM stream */
  BIO_free(bio);
  bio = BIO_new_mem_buf(key, (int)key_len);
  if (bio == NULL || (pk = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL)) == NULL) {
    throw_ssl(env, "private key");
    goto out;
  }
  if (SSL_CTX_use_PrivateKey(ctx, pk) != 1) {
    throw_ssl(env, "private key");
    goto out;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw_ssl(env, "key and certificate");
    goto out;
  }
  if (napi_create_external(env, c, ctx_finalize, NULL, &result) != napi_ok) {
    result = NULL;
    goto out;
  }
  c = NULL; /* owned by the external now */
  if (napi_type_tag_object(env, result, &CTX_TAG) != napi_ok) result = NULL;
out:
  if (x) X509_free(x);
  if (pk) EVP_PKEY_free(pk);
  if (bio) BIO_free(bio);
  if (c) {
    if (c->ctx) SSL_CTX_free(c->ctx);
    free(c->alpn);
    free(c);
  }
  free(c12);
  free(s13);
  free(groups);
  return result;
}

static napi_value m_set_state(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_typedarray_type t;
  size_t n;
  void *data;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &t, &n, &data, NULL, NULL) != napi_ok || t != napi_int32_array ||
      n < 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected an Int32Array(4)");
    return NULL;
  }
  if (state_ref != NULL) napi_delete_reference(env, state_ref);
  napi_create_reference(env, argv[0], 1, &state_ref);
  state = data;
  if (argc >= 2) {
    void *b;
    size_t blen;
    if (!get_buffer(env, argv[1], &b, &blen)) return NULL;
    if (shared_ref != NULL) napi_delete_reference(env, shared_ref);
    napi_create_reference(env, argv[1], 1, &shared_ref);
    shared_in = b;
    shared_cap = blen;
  }
  return NULL;
}

static void conn_release(tls_conn *c) {
  if (c->ssl == NULL) return;
  BIO_set_data(c->wbio, NULL);
  SSL_free(c->ssl);
  c->ssl = NULL;
  if (c->ocap == POOL_CAP && pool_n < POOL_MAX && !torn_down) pool[pool_n++] = c->obuf;
  else free(c->obuf);
  c->obuf = NULL;
  c->olen = c->ocap = 0;
  __atomic_sub_fetch(&live_conns, 1, __ATOMIC_RELAXED);
  ctx_unref(c->ctx);
  c->ctx = NULL;
}

static void conn_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  conn_release(data);
  free(data);
}

static tls_conn *get_conn(napi_env env, napi_value v) {
  void *p = NULL;
  if (!has_tag(env, v, &CONN_TAG) || napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a TLS connection");
    return NULL;
  }
  return p;
}

static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg);

static napi_value m_conn_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  if (argc < 1 || !has_tag(env, argv[0], &CTX_TAG) || napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a TLS context");
    return NULL;
  }
  tls_ctx *ctx = p;
  tls_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  ERR_clear_error();
  pthread_once(&out_once, out_method_init);
  c->ssl = SSL_new(ctx->ctx);
  c->rbio = BIO_new(BIO_s_mem());
  c->wbio = out_method ? BIO_new(out_method) : NULL;
  if (c->ssl == NULL || c->rbio == NULL || c->wbio == NULL) {
    if (c->ssl) SSL_free(c->ssl);
    if (c->rbio) BIO_free(c->rbio);
    if (c->wbio) BIO_free(c->wbio);
    free(c);
    throw_ssl(env, "SSL_new");
    return NULL;
  }
  /* An empty read BIO says "retry later", not EOF. */
  BIO_set_mem_eof_return(c->rbio, -1);
  BIO_set_data(c->wbio, c);
  SSL_set_bio(c->ssl, c->rbio, c->wbio);
  SSL_set_accept_state(c->ssl);
  SSL_set_msg_callback(c->ssl, msg_cb);
  SSL_set_msg_callback_arg(c->ssl, c);
  c->ctx = ctx;
  ctx->refs++;
  __atomic_add_fetch(&live_conns, 1, __ATOMIC_RELAXED);
  napi_value r;
  if (napi_create_external(env, c, conn_finalize, NULL, &r) != napi_ok) {
    conn_release(c);
    free(c);
    return NULL;
  }
  if (napi_type_tag_object(env, r, &CONN_TAG) != napi_ok) return NULL; /* the finalizer frees c */
  return r;
}

/* Rate-limits the peer's KeyUpdate handshake messages (content type 22, handshake type 24),
 * KEY_UPDATE_BURST then KEY_UPDATE_PER_SEC. Beyond it the rest of the input is dropped (OpenSSL
 * then stops with "want read" after this record instead of working through thousands more) and
 * m_feed makes the connection fatal. The clock is read only for a KeyUpdate. */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg) {
  (void)version;
  (void)ssl;
  tls_conn *c = arg;
  if (write_p || c == NULL || content_type != SSL3_RT_HANDSHAKE || len < 1) return;
  if (((const unsigned char *)buf)[0] != SSL3_MT_KEY_UPDATE) return;
  if (c->key_update_flood) return;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  if (c->key_update_at_ns == 0) c->key_update_tokens = KEY_UPDATE_BURST;
  else {
    c->key_update_tokens += (double)(now - c->key_update_at_ns) * KEY_UPDATE_PER_SEC / 1e9;
    if (c->key_update_tokens > KEY_UPDATE_BURST) c->key_update_tokens = KEY_UPDATE_BURST;
  }
  c->key_update_at_ns = now;
  if (c->key_update_tokens >= 1) {
    c->key_update_tokens -= 1;
    return;
  }
  c->key_update_flood = 1;
  (void)BIO_reset(c->rbio);
}

static int flood_fail(tls_conn *c) {
  if (c->err[0] == 0) snprintf(c->err, sizeof c->err, "key-update-flood: TLS KeyUpdates over %d at once or %d a second", KEY_UPDATE_BURST, KEY_UPDATE_PER_SEC);
  ERR_clear_error();
  c->dead = 1;
  return ERRCLASS_KEY_UPDATE;
}

/* The class of a failure, from OpenSSL's first error, remembered with its text. */
static int fail(tls_conn *c) {
  unsigned long e = ERR_peek_error();
  if (c->err[0] == 0) {
    if (e) ERR_error_string_n(e, c->err, sizeof c->err);
    else snprintf(c->err, sizeof c->err, "TLS failure without an OpenSSL error");
  }
  int cls = ERRCLASS_OTHER;
  if (e && ERR_GET_LIB(e) == ERR_LIB_SSL) {
    switch (ERR_GET_REASON(e)) {
      case SSL_R_UNSUPPORTED_PROTOCOL:
      case SSL_R_VERSION_TOO_LOW:
      case SSL_R_WRONG_VERSION_NUMBER:
      case SSL_R_UNKNOWN_PROTOCOL:
        cls = ERRCLASS_PROTOCOL;
        break;
      case SSL_R_NO_SHARED_CIPHER:
      case SSL_R_NO_CIPHERS_AVAILABLE:
      case SSL_R_NO_SHARED_GROUPS:
        cls = ERRCLASS_CIPHER;
        break;
      default:
        break;
    }
  }
  ERR_clear_error();
  c->dead = 1;
  return cls;
}

static int grow_scratch(size_t need) {
  if (scratch_cap >= need) return 1;
  size_t cap = scratch_cap ? scratch_cap : 65536;
  while (cap < need) cap *= 2;
  unsigned char *p = realloc(scratch, cap);
  if (p == NULL) return 0;
  scratch = p;
  scratch_cap = cap;
  return 1;
}

static napi_value m_feed(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tls_conn *c = get_conn(env, argv[0]);
  if (c == NULL) return NULL;
  void *data;
  size_t blen;
  if (!get_buffer(env, argv[1], &data, &blen)) return NULL;
  uint32_t off = 0, len = 0;
  napi_get_value_uint32(env, argv[2], &off);
  napi_get_value_uint32(env, argv[3], &len);
  napi_value result;
  napi_get_null(env, &result);
  if (c->ssl == NULL || c->dead || c->peer_closed) {
    set_state(c->dead ? FLAG_FATAL : 0, 0, 0);
    return result;
  }
  if ((size_t)off > blen || (size_t)len > blen - off) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "off/len outside the buffer");
    return NULL;
  }
  int flags = 0, errclass = 0;
  if (len > 0 && BIO_write(c->rbio, (unsigned char *)data + off, (int)len) != (int)len) {
    flags |= FLAG_FATAL;
    errclass = fail(c);
    goto done;
  }
  ERR_clear_error();
  if (!c->done) {
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
      c->done = 1;
      flags |= FLAG_DONE;
    } else {
      int e = SSL_get_error(c->ssl, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        flags |= FLAG_FATAL;
        errclass = fail(c);
        goto done;
      }
    }
  }
  if (c->done) {
    size_t n = 0;
    unsigned char *dst = shared_in;
    size_t cap = shared_cap;
    int own = 0; /* in scratch (then copied into a new Buffer) rather than in the shared one */
    for (;;) {
      if (cap - n < RECORD_MAX) {
        if (!grow_scratch(n + RECORD_MAX)) {
          flags |= FLAG_FATAL;
          errclass = fail(c);
          break;
        }
        if (!own && n > 0) memcpy(scratch, dst, n);
        own = 1;
        dst = scratch;
        cap = scratch_cap;
      }
      size_t got = 0;
      int r = SSL_read_ex(c->ssl, dst + n, cap - n, &got);
      if (r == 1) {
        n += got;
        continue;
      }
      if (c->key_update_flood) {
        flags |= FLAG_FATAL;
        errclass = flood_fail(c);
        break;
      }
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) break;
      if (e == SSL_ERROR_ZERO_RETURN) {
        flags |= FLAG_PEER_CLOSED;
        c->peer_closed = 1;
        ERR_clear_error();
        break;
      }
      flags |= FLAG_FATAL;
      errclass = fail(c);
      break;
    }
    if (n > 0 && own) {
      void *out;
      if (napi_create_buffer_copy(env, n, scratch, &out, &result) != napi_ok) return NULL;
    } else if (n > 0) {
      napi_create_double(env, (double)n, &result);
    }
  }
done:
  set_state(flags, c->olen, errclass);
  return result;
}

static void out_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  if ((size_t)(uintptr_t)hint == POOL_CAP && pool_n < POOL_MAX && !torn_down) pool[pool_n++] = data;
  else free(data);
}

static napi_value m_take_output(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tls_conn *c = get_conn(env, argv[0]);
  if (c == NULL) return NULL;
  napi_value result;
  napi_get_null(env, &result);
  if (c->ssl == NULL) return result;
  size_t n = c->olen;
  if (n == 0) return result;
  if (n <= OUT_COPY_MAX) {
    void *out;
    if (napi_create_buffer_copy(env, n, c->obuf, &out, &result) != napi_ok) return NULL;
    c->olen = 0;
    if (c->ocap > 4 * OUT_COPY_MAX) {
      if (c->ocap == POOL_CAP && pool_n < POOL_MAX && !torn_down) pool[pool_n++] = c->obuf;
      else free(c->obuf);
      c->obuf = NULL;
      c->ocap = 0;
    }
    return result;
  }
  if (napi_create_external_buffer(env, n, c->obuf, out_finalize, (void *)(uintptr_t)c->ocap, &result) != napi_ok) return NULL;
  c->obuf = NULL;
  c->olen = c->ocap = 0;
  return result;
}

static int write_all(tls_conn *c, const unsigned char *p, size_t n) {
  while (n > 0) {
    size_t w = 0;
    if (SSL_write_ex(c->ssl, p, n, &w) != 1) return 0;
    p += w;
    n -= w;
  }
  return 1;
}

static napi_value m_writev(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tls_conn *c = get_conn(env, argv[0]);
  if (c == NULL) return NULL;
  uint32_t count = 0;
  double maxd = 0;
  napi_get_value_uint32(env, argv[2], &count);
  napi_get_value_double(env, argv[3], &maxd);
  size_t max = maxd <= 0 ? 0 : (size_t)maxd;
  size_t taken = 0, staged = 0;
  int flags = 0, errclass = 0;
  if (c->ssl == NULL || !c->done || c->dead) {
    set_state(c->dead ? FLAG_FATAL : 0, 0, 0);
    napi_value z;
    napi_create_uint32(env, 0, &z);
    return z;
  }
  /* Every chunk must be a Buffer: checked before a target slab is installed as c->obuf, so no
   * early return can leave JS memory there (review M1). */
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    void *data;
    size_t n;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok) break;
    if (!get_buffer(env, el, &data, &n)) return NULL;
  }
  ERR_clear_error();
  /* A target Buffer (a slab JS recycles once TCP has sent it): the records go straight there. */
  unsigned char *saved = NULL;
  size_t saved_cap = 0, in_target = 0;
  int use_target = 0;
  if (argc >= 5 && c->olen == 0) {
    bool is = false;
    if (napi_is_buffer(env, argv[4], &is) == napi_ok && is) {
      void *t;
      size_t tlen;
      if (napi_get_buffer_info(env, argv[4], &t, &tlen) == napi_ok && tlen >= max + (max / RECORD_MAX + 2) * RECORD_OVERHEAD) {
        saved = c->obuf;
        saved_cap = c->ocap;
        c->obuf = t;
        c->ocap = tlen;
        c->fixed = 1;
        use_target = 1;
      }
    }
  }
  /* Room for all the records up front: no regrowth while OpenSSL appends them. */
  if (!use_target && max < (size_t)1 << 30) out_reserve(c, max + (max / RECORD_MAX + 2) * RECORD_OVERHEAD);
  for (uint32_t i = 0; i < count && taken < max; i++) {
    napi_value el;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok) break;
    void *data;
    size_t n;
    if (!get_buffer(env, el, &data, &n)) goto done; /* not reached: checked above */
    const unsigned char *p = data;
    if (n > max - taken) n = max - taken;
    taken += n;
    while (n > 0) {
      if (staged == 0 && n >= RECORD_MAX) {
        size_t big = n - n % RECORD_MAX;
        if (!write_all(c, p, big)) goto failed;
        p += big;
        n -= big;
        continue;
      }
      size_t k = RECORD_MAX - staged < n ? RECORD_MAX - staged : n;
      memcpy(staging + staged, p, k);
      staged += k;
      p += k;
      n -= k;
      if (staged == RECORD_MAX) {
        if (!write_all(c, staging, staged)) goto failed;
        staged = 0;
      }
    }
  }
  if (staged > 0 && !write_all(c, staging, staged)) goto failed;
  goto done;
failed:
  flags |= FLAG_FATAL;
  errclass = fail(c);
done:
  if (use_target) {
    in_target = c->olen;
    c->obuf = saved;
    c->ocap = saved_cap;
    c->olen = 0;
    c->fixed = 0;
  }
  set_state(flags, use_target ? in_target : c->olen, errclass);
  if (state != NULL) state[3] = use_target;
  napi_value r;
  napi_create_double(env, (double)taken, &r);
  return r;
}

static napi_value m_shutdown(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tls_conn *c = get_conn(env, argv[0]);
  if (c == NULL) return NULL;
  size_t pending = 0;
  if (c->ssl != NULL && c->done && !c->dead) {
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* 0: our close_notify is written; we do not wait for the peer's */
    ERR_clear_error();
    pending = c->olen;
  }
  set_state(0, pending, 0);
  return NULL;
}

static napi_value m_info(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tls_conn *c = get_conn(env, argv[0]);
  if (c == NULL) return NULL;
  napi_value arr, v;
  napi_create_array_with_length(env, 3, &arr);
  if (c->ssl == NULL) return arr;
  napi_create_string_utf8(env, SSL_get_version(c->ssl), NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, arr, 0, v);
  napi_get_boolean(env, SSL_session_reused(c->ssl) == 1, &v);
  napi_set_element(env, arr, 1, v);
  const unsigned char *alpn = NULL;
  unsigned alen = 0;
  SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
  if (alpn != NULL && alen > 0) napi_create_string_latin1(env, (const char *)alpn, alen, &v);
  else napi_get_boolean(env, false, &v);
  napi_set_element(env, arr, 2, v);
  return arr;
}

static napi_value m_error_text(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tls_conn *c = get_conn(env, argv[0]);
  if (c == NULL) return NULL;
  napi_value v;
  napi_create_string_utf8(env, c->err, NAPI_AUTO_LENGTH, &v);
  return v;
}

static napi_value m_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  tls_conn *c = get_conn(env, argv[0]);
  if (c == NULL) return NULL;
  conn_release(c);
  return NULL;
}

/* This thread's env is going away (a worker exits): its pools and scratch are freed (review L3). */
static void thread_cleanup(void *arg) {
  (void)arg;
  torn_down = 1;
  while (pool_n > 0) free(pool[--pool_n]);
  free(scratch);
  scratch = NULL;
  scratch_cap = 0;
  state = NULL;
  state_ref = NULL;
  shared_in = NULL;
  shared_ref = NULL;
  shared_cap = 0;
}

static napi_value m_live(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_double(env, (double)__atomic_load_n(&live_conns, __ATOMIC_RELAXED), &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  static const struct {
    const char *name;
    napi_callback cb;
  } fns[] = {
      {"tlsContextNew", m_context_new}, {"tlsSetState", m_set_state},     {"tlsConnNew", m_conn_new},
      {"tlsFeed", m_feed},              {"tlsTakeOutput", m_take_output}, {"tlsWritev", m_writev},
      {"tlsShutdown", m_shutdown},      {"tlsInfo", m_info},              {"tlsErrorText", m_error_text},
      {"tlsFree", m_free},              {"tlsLive", m_live},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn) == napi_ok)
      napi_set_named_property(env, exports, fns[i].name, fn);
  }
  napi_value v;
  if (napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, exports, "opensslVersion", v);
  napi_add_env_cleanup_hook(env, thread_cleanup, NULL);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
