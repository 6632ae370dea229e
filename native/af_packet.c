/*
 * af_packet.c — the only C in vpp-server: a Node-API addon for an AF_PACKET socket.
 *
 * One class, AfPacketSocket:
 *   new AfPacketSocket(ifname, options, offset: Uint32Array, length: Uint32Array,
 *                      vlanTpid: Uint16Array, vlanTci: Uint16Array)
 *   .ring            ArrayBuffer over the mmapped RX ring (created once, detached by close())
 *   .ifindex .mtu .mac(Buffer) .ringVersion .blockSize .blockCount .frameSize .frameCount
 *   .qdiscBypass .ignoreOutgoing .promiscuous   (what is really in effect)
 *   .start(handler(count), onError?)  poll the fd on the libuv loop, deliver vectors
 *   .stop()                            stop polling (the ring keeps filling, then drops)
 *   .send(buf, offsets, lengths, count, csumStart?, gsoSize?, first?) -> frames the kernel took
 *                                      (frames first..count-1, one sendmmsg per 1024; with .txOffload
 *                                      every frame goes through the TX socket with a virtio_net_hdr
 *                                      built from csumStart / gsoSize, Uint16Arrays, 0 = none). It
 *                                      stops at a frame refused with EAGAIN/ENOBUFS:
 *   .txStop .txStopAt .txAccepted      why ('EAGAIN'/'ENOBUFS'/''), at which index (count = did not
 *                                      stop), and how many the kernel took, for the last send()
 *   .onWritable(fn|null) .watchWritable(on)  one-shot writable watch on the socket that sends
 *                                      (txfd, else the RX fd's poll handle READABLE|WRITABLE)
 *   .txOffload                         a PACKET_VNET_HDR TX socket is in use (option txOffload)
 *   .sendBufferSize                    SO_SNDBUF of the sending socket as granted
 *   .stats()  -> plain object of counters (kernel PACKET_STATISTICS accumulated)
 *   .multicast(mac, join)              PACKET_ADD_MEMBERSHIP / PACKET_DROP_MEMBERSHIP, PACKET_MR_MULTICAST:
 *                                      receive an Ethernet group (IPv6 ND) on a macvlan; no capability needed
 *   .ref() / .unref()                  whether an active poll keeps the loop alive
 *   .setRxMode(mode, adaptiveIdleMs?)  'interrupt' (epoll wakes us, the default), 'polling' (a uv_idle
 *                                      handle drains the ring on every loop turn, and an idle ring is
 *                                      spun on in C for up to POLL_SLICE_NS (100 µs) per turn, ended
 *                                      early (~10 µs) when another fd of the loop has an event: the
 *                                      loop never sleeps in epoll but still runs timers and other I/O),
 *                                      'adaptive' (interrupt until a wakeup finds frames, then polling
 *                                      until adaptiveIdleMs pass without a frame)
 *   .close()                           idempotent; also done by the finalizer / env cleanup
 *   options.receive false              a send-only socket (bound with protocol 0)
 *   options.fanout 1 | 2, fanoutId     RX queue in a PACKET_FANOUT_HASH group: 1 = new group with a
 *                                      kernel-chosen unique id, 2 = join fanoutId; .fanoutId = the id
 * setThreadAffinity(cpu) threadId() threadCpu()   the calling thread's CPU pinning, LWP, current CPU
 *
 * Module functions for the data path: copyBytes(dst, dstOff, src, srcOff, len) (a memmove that, unlike
 * Buffer#copy of a sub-range on Node 20, allocates no view) and sum16(buf, off, len, initial) (the
 * Internet checksum's one's complement sum, folded, not complemented).
 *
 * RX: TPACKET_V2 (frame ring, default: wakes per frame) or TPACKET_V3 (block ring). Per wakeup the frames
 * the kernel handed over are described in the descriptor arrays JS passed at construction
 * (offset into the ring, length, VLAN TPID/TCI the kernel stripped), the JS handler is
 * called with the count (several times when there are more frames than descriptors, at
 * most maxVectorsPerWakeup times per wakeup), then the blocks/frames go back to the kernel,
 * each exactly once (rx_drain walks at most one lap of the ring per wakeup).
 * No protocol logic here.
 */
#define _GNU_SOURCE 1
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <endian.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Log2 buckets in µs: 0 = below 1 µs, k = [2^(k-1), 2^k) µs, the last one everything from 2^14 µs (16 ms) on. */
#define LAT_BUCKETS 16
static inline uint32_t lat_bucket(uint64_t ns) {
  uint64_t us = ns / 1000u;
  uint32_t k = us == 0 ? 0 : 64u - (uint32_t)__builtin_clzll(us);
  return k < LAT_BUCKETS ? k : LAT_BUCKETS - 1;
}

#define FANOUT_NONE 0
#define FANOUT_NEW 1
#define FANOUT_JOIN 2
#define TX_BATCH_MAX 1024u /* UIO_MAXIOV: sendmmsg takes at most this many messages */
#define TX_OFFLOAD_SNDBUF (4 * 1024 * 1024) /* asked for on the TX offload socket by default */

#define NAPI_OK(call)                                                                \
  do {                                                                               \
    if ((call) != napi_ok) goto napi_fail;                                           \
  } while (0)

/* The mapping is shared by the socket and the ArrayBuffer JS sees: unmapped when both let go. */
typedef struct {
  void *addr;
  size_t len;
  int refs;
} ring_map_t;

typedef struct afp {
  napi_env env;
  int fd;
  int closed;
  int in_rx;          /* inside rx_drain: close() must defer the teardown */
  int close_pending;
  int stop_pending;

  char ifname[IFNAMSIZ];
  int ifindex;
  int mtu;
  unsigned char mac[6];
  int promisc;
  /* RX: 0 = a send-only socket (bound with protocol 0: the kernel queues nothing on it). */
  int receive;
  /* PACKET_FANOUT: FANOUT_NONE, FANOUT_NEW (id 0 + PACKET_FANOUT_FLAG_UNIQUEID: the kernel picks an
   * id no group of this netns has) or FANOUT_JOIN (fanout_id, no flag). fanout_id: the group's id. */
  int fanout_mode;
  uint32_t fanout_id;

  /* ring geometry */
  int version; /* 2 or 3 */
  uint32_t block_size, block_count, frame_size, frame_count, frames_per_block, retire_ms;
  ring_map_t *map;
  uint8_t *ring;
  size_t ring_len;
  napi_ref ring_ab_ref; /* weak */

  /* descriptor arrays (JS owned, pinned by strong refs) */
  napi_ref desc_ref[5];
  uint32_t *d_off, *d_len;
  uint16_t *d_tpid, *d_tci;
  uint8_t *d_flags;
  uint32_t cap;

  /* RX position: V3 block + packet inside it; V2 frame */
  uint32_t cur;       /* V3: current block; V2: current frame */
  uint32_t pkt_idx;   /* V3: packets already consumed in the current block */
  uint32_t ppd_off;   /* V3: offset of the next packet header inside the current block */
  uint32_t unreleased; /* blocks (V3) / frames (V2) before cur not yet handed back */
  uint64_t mark_ns;    /* CLOCK_MONOTONIC at the start of this stretch of the drain (for af-packet-input's runtime) */
  uint32_t max_vectors;

  /* polling */
  uv_poll_t *poll;
  int polling;        /* receiving (start() .. stop()) */
  /* rx-mode (see setRxMode): while `spinning`, the idle handle drains the ring on every loop turn
   * and the poll handle watches only for socket errors (EPOLLERR comes with any event mask). */
  int rx_mode;        /* RX_MODE_* */
  int spinning;
  uv_idle_t *idle;
  struct afp *spin_next;   /* this thread's spinning sockets (spin_head), linked while `spinning` */
  uint64_t adaptive_idle_ns;
  uint64_t last_frame_ns;  /* adaptive: when the last poll found frames */
  uint32_t empty_run;      /* adaptive: empty polls in a row (the clock is read every 16) */
  int unrefd;
  napi_ref handler_ref, onerror_ref, self_ref;
  napi_async_context actx;
  int cleanup_hook;

  /* TX */
  struct mmsghdr *msgs;
  struct iovec *iovs;             /* 3 per message: [vnet header,] frame[, external payload] */
  struct virtio_net_hdr *vnet;    /* one per message when tx_offload */
  uint32_t *msg_frame;            /* message -> index of its frame in the caller's arrays */
  int txfd;                       /* TX-only socket with PACKET_VNET_HDR, or -1 */
  int tx_offload;                 /* txfd is usable: checksum offload and TCPv4/TCPv6 GSO */
  int sndbuf;                     /* SO_SNDBUF of the sending socket, as the kernel granted it */
  int tx_stop;                    /* errno that stopped the last send (EAGAIN/ENOBUFS), or 0 */
  uint32_t tx_accepted;           /* frames the kernel took in the last send */
  uint32_t tx_stop_at;            /* index of the frame the last send stopped at (= count: none) */

  /* TX writable watch: one-shot, armed by JS only while it holds frames the kernel refused.
   * On txfd its own poll handle; without txfd it shares `poll` (libuv allows one handle per fd),
   * which then watches READABLE|WRITABLE while armed. */
  int tx_armed;
  int in_tx;                      /* inside the writable callback */
  uv_poll_t *txpoll;
  napi_ref writable_ref;
  napi_async_context tx_actx;

  /* counters */
  uint64_t k_packets, k_drops, k_freezes;
  uint64_t rx_frames, rx_bytes, rx_vectors, rx_wakeups, rx_rechecks, rx_outgoing, rx_truncated;
  uint64_t rx_spin_breaks; /* spun slices this (head) socket ended early for the loop's other fds */
  uint64_t rx_polls, rx_empty_polls, rx_to_polling, rx_to_interrupt;
  uint64_t tx_frames, tx_bytes, tx_errors, tx_eagain, tx_enobufs, tx_invalid, tx_other;
  uint64_t tx_csum_offloaded, tx_gso_frames;
  uint64_t tx_gso_too_big;        /* GSO frames of 65,536 bytes or more refused (the kernel would drop them silently) */
  uint64_t tx_writable_wakeups;
  uint64_t socket_errors, handler_errors;
  int last_socket_error, last_tx_errno;

  /* Latency histograms (see lat_bucket): where a frame's time goes between the kernel and the
   * reply. Always on: one CLOCK_REALTIME read per vector and a few instructions per frame.
   *   ring wait  per frame: the kernel's RX timestamp (tp_sec/tp_nsec, CLOCK_REALTIME, taken when
   *              the packet socket queued it) to its vector's pickup (wakeup + loop turn; for a
   *              frame that came in while the handler ran, the handler's return); each frame once;
   *   handler    per vector: the JS handler's run (the graph, applications, the TX flush);
   *   reply      per send() made inside a handler: the vector's pickup to sendmmsg's return (a
   *              reply handed to the kernel inside the vector that carried its request). */
  uint64_t drain_rt_ns;    /* CLOCK_REALTIME at the current vector's pickup (pickup_now) */
  uint64_t drain_mono_ns;  /* CLOCK_MONOTONIC at the current vector's pickup */
  uint64_t lat_ring[LAT_BUCKETS], lat_handler[LAT_BUCKETS], lat_reply[LAT_BUCKETS];
} afp_t;

/* ---------------------------------------------------------------- errors */

static const char *errno_name(int e) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char *n = strerrorname_np(e);
  if (n) return n;
#endif
  switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENODEV: return "ENODEV";
    case ENXIO: return "ENXIO";
    case ENETDOWN: return "ENETDOWN";
    case ENOMEM: return "ENOMEM";
    case ENOBUFS: return "ENOBUFS";
    case EAGAIN: return "EAGAIN";
    case EINVAL: return "EINVAL";
    case EBUSY: return "EBUSY";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EMFILE: return "EMFILE";
    default: return "UNKNOWN";
  }
}

static void throw_code(napi_env env, const char *code, int err, const char *syscall, const char *msg) {
  napi_value c, m, e, v;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok) return;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok) return;
  if (napi_create_error(env, c, m, &e) != napi_ok) return;
  if (err != 0 && napi_create_int32(env, -err, &v) == napi_ok) napi_set_named_property(env, e, "errno", v);
  if (syscall && napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, e, "syscall", v);
  napi_throw(env, e);
}

static void throw_errno(napi_env env, int err, const char *syscall, const char *ifname, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s failed on interface '%s': %s (%s)", what, syscall, ifname,
           strerror(err), errno_name(err));
  throw_code(env, errno_name(err), err, syscall, msg);
}

/* ---------------------------------------------------------------- teardown */

static void map_unref(ring_map_t *m) {
  if (m && --m->refs == 0) {
    munmap(m->addr, m->len);
    free(m);
  }
}

static void ring_ab_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  map_unref((ring_map_t *)hint);
}

static void poll_closed(uv_handle_t *h) { free(h); }

static void del_ref(napi_env env, napi_ref *r) {
  if (*r) {
    napi_delete_reference(env, *r);
    *r = NULL;
  }
}

static void on_poll(uv_poll_t *h, int status, int events);

#define RX_MODE_INTERRUPT 0
#define RX_MODE_POLLING 1
#define RX_MODE_ADAPTIVE 2
static const char *const rx_mode_names[] = {"interrupt", "polling", "adaptive"};

/* What the shared poll handle on the RX fd watches: READABLE while receiving in interrupt mode
 * (while the idle handle spins, only PRIORITIZED, which a packet socket never signals: the watch
 * is there for EPOLLERR, e.g. ENETDOWN, which epoll reports whatever the mask), WRITABLE while a
 * TX watch is armed and the RX fd is the one that sends (no TX offload socket). */
static int rx_poll_events(const afp_t *a) {
  return (a->polling ? (a->spinning ? UV_PRIORITIZED : UV_READABLE) : 0) | (a->tx_armed && a->txfd < 0 ? UV_WRITABLE : 0);
}

static int apply_rx_poll(afp_t *a) {
  if (!a->poll) return 0;
  int ev = rx_poll_events(a);
  return ev == 0 ? uv_poll_stop(a->poll) : uv_poll_start(a->poll, ev, on_poll);
}

static void spin_stop(afp_t *a);

static void stop_polling(afp_t *a, int in_finalizer) {
  a->polling = 0;
  spin_stop(a);
  apply_rx_poll(a);
  if (a->in_rx) {
    /* Called from the handler: it and onError stay referenced until the drain is over. */
    a->stop_pending = 1;
    return;
  }
  a->stop_pending = 0;
  if (!in_finalizer && a->actx) {
    napi_async_destroy(a->env, a->actx);
    a->actx = NULL;
  }
  del_ref(a->env, &a->handler_ref);
  del_ref(a->env, &a->onerror_ref);
  /* The started socket pinned its own JS object; let it go. */
  del_ref(a->env, &a->self_ref);
}

static void env_cleanup(void *arg);

/* Releases everything the kernel or the loop holds. Safe to call twice. */
static void teardown(afp_t *a, int in_finalizer) {
  if (a->closed) return;
  a->closed = 1;
  a->tx_armed = 0; /* before stop_polling: it must not re-arm the shared handle for WRITABLE */
  stop_polling(a, in_finalizer);
  if (a->poll) {
    a->poll->data = NULL;
    uv_close((uv_handle_t *)a->poll, poll_closed);
    a->poll = NULL;
  }
  if (a->txpoll) {
    a->txpoll->data = NULL;
    uv_close((uv_handle_t *)a->txpoll, poll_closed);
    a->txpoll = NULL;
  }
  if (a->idle) {
    a->idle->data = NULL;
    uv_close((uv_handle_t *)a->idle, poll_closed);
    a->idle = NULL;
  }
  del_ref(a->env, &a->writable_ref);
  /* Inside the writable callback its async context is still in use: tx_fire destroys it after. */
  if (!in_finalizer && a->tx_actx && !a->in_tx) {
    napi_async_destroy(a->env, a->tx_actx);
    a->tx_actx = NULL;
  }
  if (!in_finalizer && a->ring_ab_ref) {
    napi_value ab;
    if (napi_get_reference_value(a->env, a->ring_ab_ref, &ab) == napi_ok && ab != NULL) {
      bool detached = false;
      if (napi_is_detached_arraybuffer(a->env, ab, &detached) == napi_ok && !detached)
        napi_detach_arraybuffer(a->env, ab);
    }
  }
  del_ref(a->env, &a->ring_ab_ref);
  for (int i = 0; i < 5; i++) del_ref(a->env, &a->desc_ref[i]);
  a->d_off = a->d_len = NULL;
  a->d_tpid = a->d_tci = NULL;
  a->d_flags = NULL;
  if (a->fd >= 0) {
    /* If JS still holds the ring (not detachable), the mapping keeps the socket alive:
     * unbind it so the kernel stops filling a ring nobody reads. */
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = 0;
    sll.sll_ifindex = a->ifindex;
    if (a->promisc) {
      struct packet_mreq mr;
      memset(&mr, 0, sizeof mr);
      mr.mr_ifindex = a->ifindex;
      mr.mr_type = PACKET_MR_PROMISC;
      setsockopt(a->fd, SOL_PACKET, PACKET_DROP_MEMBERSHIP, &mr, sizeof mr);
    }
    bind(a->fd, (struct sockaddr *)&sll, sizeof sll);
    close(a->fd);
    a->fd = -1;
  }
  if (a->txfd >= 0) {
    close(a->txfd);
    a->txfd = -1;
  }
  a->tx_offload = 0;
  map_unref(a->map);
  a->map = NULL;
  a->ring = NULL;
  free(a->msgs);
  free(a->iovs);
  free(a->vnet);
  free(a->msg_frame);
  a->msgs = NULL;
  a->iovs = NULL;
  a->vnet = NULL;
  a->msg_frame = NULL;
  if (a->cleanup_hook) {
    a->cleanup_hook = 0;
    napi_remove_env_cleanup_hook(a->env, env_cleanup, a);
  }
}

static void env_cleanup(void *arg) {
  afp_t *a = arg;
  a->cleanup_hook = 0; /* being run: must not be removed */
  teardown(a, 1);
}

static void afp_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  afp_t *a = data;
  teardown(a, 1);
  free(a);
}

/* ---------------------------------------------------------------- argument helpers */

static afp_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *p = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not an AfPacketSocket");
    return NULL;
  }
  return p;
}

static int opt_u32(napi_env env, napi_value obj, const char *name, uint32_t def, uint32_t *out) {
  bool has = false;
  napi_value v;
  napi_valuetype t;
  *out = def;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok) return -1;
  if (!has) return 0;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return -1;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) return 0;
  if (t != napi_number) {
    char msg[128];
    snprintf(msg, sizeof msg, "option %s must be a number", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  double d;
  napi_get_value_double(env, v, &d);
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) {
    char msg[128];
    snprintf(msg, sizeof msg, "option %s must be an unsigned 32-bit integer", name);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return -1;
  }
  *out = (uint32_t)d;
  return 0;
}

static int opt_bool(napi_env env, napi_value obj, const char *name, int def, int *out) {
  bool has = false, b = false;
  napi_value v;
  napi_valuetype t;
  *out = def;
  if (napi_has_named_property(env, obj, name, &has) != napi_ok) return -1;
  if (!has) return 0;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return -1;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_undefined) return 0;
  if (t != napi_boolean) {
    char msg[128];
    snprintf(msg, sizeof msg, "option %s must be a boolean", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  napi_get_value_bool(env, v, &b);
  *out = b;
  return 0;
}

/* A typed array of the given type; returns its data pointer and element count. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, const char *what, void **data,
                     size_t *len) {
  bool is = false;
  napi_typedarray_type t;
  if (napi_is_typedarray(env, v, &is) != napi_ok) return -1;
  if (is && napi_get_typedarray_info(env, v, &t, len, data, NULL, NULL) == napi_ok && t == want) return 0;
  char msg[128];
  snprintf(msg, sizeof msg, "%s must be a %s", what,
           want == napi_uint32_array ? "Uint32Array" : want == napi_uint16_array ? "Uint16Array" : "Uint8Array");
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return -1;
}

static void set_u32(napi_env env, napi_value obj, const char *name, uint32_t v) {
  napi_value x;
  if (napi_create_uint32(env, v, &x) == napi_ok) napi_set_named_property(env, obj, name, x);
}

static void set_num(napi_env env, napi_value obj, const char *name, double v) {
  napi_value x;
  if (napi_create_double(env, v, &x) == napi_ok) napi_set_named_property(env, obj, name, x);
}

static void set_bool(napi_env env, napi_value obj, const char *name, int v) {
  napi_value x;
  if (napi_get_boolean(env, v != 0, &x) == napi_ok) napi_set_named_property(env, obj, name, x);
}

static void set_str(napi_env env, napi_value obj, const char *name, const char *v) {
  napi_value x;
  if (napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &x) == napi_ok) napi_set_named_property(env, obj, name, x);
}

/* ---------------------------------------------------------------- RX */

static void report_error(afp_t *a, napi_value err) {
  napi_env env = a->env;
  napi_value cb = NULL, global, result;
  if (a->onerror_ref) napi_get_reference_value(env, a->onerror_ref, &cb);
  if (cb) {
    napi_get_global(env, &global);
    if (napi_make_callback(env, a->actx, global, cb, 1, &err, &result) == napi_ok) return;
    napi_value again;
    if (napi_get_and_clear_last_exception(env, &again) == napi_ok) err = again;
  }
  napi_fatal_exception(env, err);
}

/* Calls the JS handler with the n frames described; returns 0 to go on, -1 to stop draining. */
static inline uint64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_REALTIME, the clock of the ring's RX timestamps. */
static inline uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A frame's wait in the ring: its kernel RX timestamp to its vector's pickup (not counted when
 * the kernel gave none, or the realtime clock stepped back). */
static inline void lat_ring_wait(afp_t *a, uint32_t sec, uint32_t nsec) {
  uint64_t ts = (uint64_t)sec * 1000000000u + nsec;
  if (sec == 0) return;
  /* Stamped after this vector's pickup time was read (it came in during the walk): it was picked
   * up now. Still later after the re-read: the realtime clock stepped back, leave it out. */
  if (ts > a->drain_rt_ns && ts > (a->drain_rt_ns = realtime_ns())) return;
  a->lat_ring[lat_bucket(a->drain_rt_ns - ts)]++;
}

/* A vector's pickup time (the drain's start, then each vector boundary after the handler
 * returned, and a recheck): the end of the ring wait of the frames collected next, and the start
 * of their pickup-to-reply time. */
static inline void pickup_now(afp_t *a) {
  a->drain_mono_ns = monotonic_ns();
  a->drain_rt_ns = realtime_ns();
}

/* Calls the handler with (count, ns): ns is the C time spent collecting these frames (the ring
 * walk and the descriptors since the drain started or the previous call returned), capped to
 * stay a small integer for V8 (no allocation). */
static int deliver(afp_t *a, uint32_t n) {
  napi_env env = a->env;
  napi_value cb = NULL, global, argv[2], result;
  a->rx_vectors++;
  if (!a->handler_ref || napi_get_reference_value(env, a->handler_ref, &cb) != napi_ok || cb == NULL) return -1;
  uint64_t called = monotonic_ns();
  uint64_t spent = called - a->mark_ns;
  napi_get_global(env, &global);
  napi_create_uint32(env, n, &argv[0]);
  napi_create_uint32(env, spent > 0x3fffffffu ? 0x3fffffffu : (uint32_t)spent, &argv[1]);
  napi_status st = napi_make_callback(env, a->actx, global, cb, 2, argv, &result);
  a->mark_ns = monotonic_ns();
  a->lat_handler[lat_bucket(a->mark_ns - called)]++;
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      a->handler_errors++;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) report_error(a, exc);
    }
  }
  return (a->close_pending || !a->polling) ? -1 : 0;
}

static inline uint32_t v3_status(const struct tpacket_block_desc *bd) {
  return __atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE);
}

/* Slots of the ring: V3 blocks, V2 frames. */
static inline uint32_t ring_slots(const afp_t *a) { return a->version == 3 ? a->block_count : a->frame_count; }

/*
 * Hands back the `unreleased` slots (V3 blocks, V2 frames) that precede cur: exactly those the
 * drain walked past, each once. `unreleased` never exceeds the ring's slot count (rx_drain walks at
 * most one lap between two calls), so no slot is returned twice and none the kernel owns.
 */
static void release_consumed(afp_t *a) {
  uint32_t total = ring_slots(a);
  if (a->unreleased > total) a->unreleased = total; /* cannot happen; never release a slot twice */
  uint32_t i = (a->cur + total - a->unreleased) % total;
  for (; a->unreleased > 0; a->unreleased--, i = (i + 1) % total) {
    if (a->version == 3) {
      struct tpacket_block_desc *bd = (void *)(a->ring + (size_t)i * a->block_size);
      __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    } else {
      size_t off = (size_t)(i / a->frames_per_block) * a->block_size + (size_t)(i % a->frames_per_block) * a->frame_size;
      struct tpacket2_hdr *h = (void *)(a->ring + off);
      __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    }
  }
}

#ifndef TP_STATUS_CSUM_VALID
#define TP_STATUS_CSUM_VALID (1 << 7)
#endif
#define RX_FLAG_CSUM_NOT_READY 1
#define RX_FLAG_CSUM_VALID 2

static inline void fill(afp_t *a, uint32_t n, size_t off, uint32_t len, uint32_t status, uint16_t tci,
                        uint16_t tpid) {
  a->d_off[n] = (uint32_t)off;
  a->d_len[n] = len;
  /* The kernel vouches for the L4 checksum of frames it generated itself (left for "hardware"
   * to fill in, CHECKSUM_PARTIAL) and of frames whose checksum a NIC verified. */
  a->d_flags[n] = (uint8_t)(((status & TP_STATUS_CSUMNOTREADY) ? RX_FLAG_CSUM_NOT_READY : 0) |
                            ((status & TP_STATUS_CSUM_VALID) ? RX_FLAG_CSUM_VALID : 0));
  if (status & TP_STATUS_VLAN_VALID) {
    a->d_tci[n] = tci;
    a->d_tpid[n] = (status & TP_STATUS_VLAN_TPID_VALID) && tpid != 0 ? tpid : ETH_P_8021Q;
  } else {
    a->d_tci[n] = 0;
    a->d_tpid[n] = 0;
  }
  a->rx_frames++;
  a->rx_bytes += len;
}

/* Whether the slot at our position holds something for us (a cheap look before a drain). */
static inline int rx_ready(const afp_t *a) {
  if (a->version == 3) {
    const struct tpacket_block_desc *bd = (const void *)(a->ring + (size_t)a->cur * a->block_size);
    return (v3_status(bd) & TP_STATUS_USER) != 0;
  }
  size_t foff = (size_t)(a->cur / a->frames_per_block) * a->block_size + (size_t)(a->cur % a->frames_per_block) * a->frame_size;
  const struct tpacket2_hdr *h = (const void *)(a->ring + foff);
  return (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}

/*
 * Drains what the kernel has handed over, in ring order. Frames are collected into the
 * descriptors; when those are full the handler runs, then every slot whose frames were all
 * delivered goes back to the kernel. Returns the number of frames read (delivered or skipped).
 *
 * Exactly once: a slot the kernel handed over stays ours (TP_STATUS_USER) until we release it,
 * so "stop at the first slot we do not own" alone does not end a drain when the ring is full:
 * after one lap the walk would reach the slots it collected itself and hand them to JS again.
 * So one drain walks at most one lap (ring_slots() slot advances; at a drain's start nothing is
 * unreleased, so `unreleased` <= advances <= slots, and release_consumed() returns each slot
 * walked past exactly once). A V3 block is read at most up to the packet count it can hold, and a
 * header that would not move forward ends the block: a corrupt block cannot replay its packets.
 * Frames that came in while the handler ran on the last vector are taken in the same wakeup (a
 * look at the next slot, no syscall; counted rxRechecks), within the same bounds.
 * What arrives after the lap, or beyond maxVectorsPerWakeup, waits for the next wakeup (the socket
 * stays readable while a slot before the kernel's position is ours: no wakeup is lost).
 *
 * The handler runs with in_rx set. It may run long (the kernel meanwhile fills only slots it
 * owns), call stop() (the drain ends after it, what it saw is released) or close() (the drain
 * ends, nothing is written to the ring again: teardown unmaps it and closes the socket after
 * on_poll returns).
 */
static uint64_t rx_drain(afp_t *a) {
  const uint32_t slots = ring_slots(a);
  /* Every V3 packet takes at least its header: an upper bound for a block's num_pkts. */
  const uint32_t max_pkts = a->block_size / TPACKET_ALIGN(sizeof(struct tpacket3_hdr));
  uint32_t n = 0, vectors = 0, advanced = 0;
  uint64_t before = a->rx_frames + a->rx_outgoing + a->rx_truncated;
  a->in_rx = 1;
  a->mark_ns = monotonic_ns();
  pickup_now(a);
  a->unreleased = 0; /* every drain ended with a release (or a close) */
again:
  while (advanced < slots) {
    if (a->version == 3) {
      struct tpacket_block_desc *bd = (void *)(a->ring + (size_t)a->cur * a->block_size);
      if (!(v3_status(bd) & TP_STATUS_USER)) break;
      uint32_t num = bd->hdr.bh1.num_pkts;
      if (num > max_pkts) num = max_pkts;
      if (a->pkt_idx == 0) a->ppd_off = bd->hdr.bh1.offset_to_first_pkt;
      while (a->pkt_idx < num) {
        if (n == a->cap) {
          if (deliver(a, n) < 0 || ++vectors >= a->max_vectors) goto out;
          n = 0;
          release_consumed(a);
          pickup_now(a);
        }
        if ((size_t)a->ppd_off + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sizeof(struct sockaddr_ll) >
            a->block_size) {
          a->rx_truncated++; /* corrupt: give the block back */
          a->pkt_idx = num;
          break;
        }
        struct tpacket3_hdr *h = (void *)((uint8_t *)bd + a->ppd_off);
        const struct sockaddr_ll *sll =
            (const void *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
        size_t off = (size_t)a->cur * a->block_size + a->ppd_off + h->tp_mac;
        if (sll->sll_pkttype == PACKET_OUTGOING) {
          a->rx_outgoing++;
        } else if (h->tp_snaplen < h->tp_len ||
                   (size_t)a->ppd_off + h->tp_mac + h->tp_snaplen > a->block_size) {
          /* Truncated, or (never from a sane kernel) running past its own block. */
          a->rx_truncated++;
        } else {
          fill(a, n++, off, h->tp_snaplen, h->tp_status, (uint16_t)h->hv1.tp_vlan_tci, h->hv1.tp_vlan_tpid);
          lat_ring_wait(a, h->tp_sec, h->tp_nsec);
        }
        a->pkt_idx++;
        if (a->pkt_idx < num && h->tp_next_offset < TPACKET_ALIGN(sizeof(struct tpacket3_hdr))) {
          a->pkt_idx = num; /* the next header would not move forward: end the block here */
          break;
        }
        a->ppd_off += h->tp_next_offset;
      }
      a->pkt_idx = 0;
      a->cur = (a->cur + 1) % a->block_count;
    } else {
      size_t foff = (size_t)(a->cur / a->frames_per_block) * a->block_size +
                    (size_t)(a->cur % a->frames_per_block) * a->frame_size;
      struct tpacket2_hdr *h = (void *)(a->ring + foff);
      uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
      if (!(status & TP_STATUS_USER)) break;
      if (n == a->cap) {
        if (deliver(a, n) < 0 || ++vectors >= a->max_vectors) goto out;
        n = 0;
        release_consumed(a);
        pickup_now(a);
      }
      const struct sockaddr_ll *sll =
          (const void *)((const uint8_t *)h + TPACKET_ALIGN(sizeof(struct tpacket2_hdr)));
      size_t off = foff + h->tp_mac;
      if (sll->sll_pkttype == PACKET_OUTGOING) {
        a->rx_outgoing++;
      } else if (h->tp_snaplen < h->tp_len || h->tp_mac + h->tp_snaplen > a->frame_size) {
        a->rx_truncated++;
      } else {
        fill(a, n++, off, h->tp_snaplen, status, h->tp_vlan_tci, h->tp_vlan_tpid);
        lat_ring_wait(a, h->tp_sec, h->tp_nsec);
      }
      a->cur = (a->cur + 1) % a->frame_count;
    }
    a->unreleased++;
    advanced++;
  }
  if (n > 0) {
    if (deliver(a, n) < 0) goto out;
    /* Frames that came in while the handler ran (it sent its replies meanwhile): take them now,
     * within this wakeup's lap and vector bound, rather than from the next epoll_wait, which
     * would return at once (the socket is level-triggered). With k RX queues each wakeup finds
     * about 1/k of the frames, so this saves a syscall and a loop turn per few frames. */
    if (++vectors < a->max_vectors && advanced < slots && rx_ready(a)) {
      n = 0;
      release_consumed(a);
      a->rx_rechecks++;
      pickup_now(a);
      goto again;
    }
  }
out:
  /* The handler has seen everything collected so far (or stopped us): hand it back, unless
   * close() was called meanwhile (the ring is about to be unmapped with the socket). */
  if (!a->close_pending) release_consumed(a);
  a->in_rx = 0;
  return a->rx_frames + a->rx_outgoing + a->rx_truncated - before;
}

static void on_idle(uv_idle_t *h);

/*
 * Polling without a syscall per frame: one loop turn may spin on the rings' status words in C for
 * up to POLL_SLICE_NS (or until a frame is there) before going back to libuv. libuv's turn costs an
 * epoll_wait(0) and Node's timer/immediate checks; in the C floor (bench/floor/echo-floor.c)
 * spinning without them answered a ping in 26 µs against 37 µs with epoll_wait(0) per turn. The
 * slice bounds how late timers can be while the ring is idle. The loop's fds (the CLI, the
 * management endpoint, other sockets, threadpool completions for fs work, worker messages, TX
 * writable) end the slice early: every 256 spins (~10 µs) a poll(0) on the loop's epoll fd, which
 * is readable when any of them has an event (rxSpinBreaks). Without it an fs.stat took ~120 µs
 * and a unix-socket round trip ~216 µs in polling mode (8 and 14 µs in interrupt mode).
 *
 * Every socket spinning on this thread (several interfaces, one loop) is on spin_head's list and
 * is watched by the one spin: the list's head spins, for all of them, and the others only look at
 * their own ring (their idle handles run in the same loop turn right after the head's).
 */
#define POLL_SLICE_NS 100000u
static __thread afp_t *spin_head;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

/* Spins until a spinning ring of this thread holds a frame (1) or the slice is over (0). */
static int spin_wait(afp_t *a, uv_loop_t *loop) {
  uint64_t until = monotonic_ns() + POLL_SLICE_NS;
  /* The loop's epoll fd is readable when any fd the loop watches has an event (a threadpool
   * completion for fs work, the CLI and management sockets, another thread's message, a TX
   * writable): the slice ends then too, looked at every 256 turns (~10 µs, a poll(0) each), so
   * that work waits ~10 µs rather than a whole slice. Timers are not fds: they wait up to a slice. */
  struct pollfd pfd = {.fd = loop != NULL ? uv_backend_fd(loop) : -1, .events = POLLIN};
  for (uint32_t i = 1;; i++) {
    for (const afp_t *s = spin_head; s != NULL; s = s->spin_next)
      if (rx_ready(s)) return 1;
    if ((i & 31) == 0) {
      if (monotonic_ns() >= until) return 0;
      if ((i & 255) == 0 && pfd.fd >= 0 && poll(&pfd, 1, 0) > 0) {
        a->rx_spin_breaks++;
        return 0;
      }
    }
    cpu_relax();
  }
}

static void spin_link(afp_t *a) {
  a->spin_next = spin_head;
  spin_head = a;
}

static void spin_unlink(afp_t *a) {
  for (afp_t **pp = &spin_head; *pp != NULL; pp = &(*pp)->spin_next) {
    if (*pp == a) {
      *pp = a->spin_next;
      break;
    }
  }
  a->spin_next = NULL;
}

/* Starts draining on every loop turn (polling, or adaptive while traffic flows); the poll handle
 * then watches only for errors. Returns a libuv error (the mode stays interrupt) or 0. */
static int spin_start(afp_t *a) {
  if (a->spinning || a->closed) return 0;
  if (!a->idle) {
    uv_loop_t *loop;
    if (napi_get_uv_event_loop(a->env, &loop) != napi_ok) return UV_EINVAL;
    uv_idle_t *h = calloc(1, sizeof *h);
    if (!h) return UV_ENOMEM;
    int r = uv_idle_init(loop, h);
    if (r != 0) {
      free(h);
      return r;
    }
    h->data = a;
    if (a->unrefd) uv_unref((uv_handle_t *)h);
    a->idle = h;
  }
  int r = uv_idle_start(a->idle, on_idle);
  if (r != 0) return r;
  a->spinning = 1;
  spin_link(a);
  a->last_frame_ns = monotonic_ns();
  a->empty_run = 0;
  apply_rx_poll(a);
  return 0;
}

/* Back to sleeping in epoll: the poll handle watches READABLE again (level-triggered, so frames
 * that arrived meanwhile wake us at once). */
static void spin_stop(afp_t *a) {
  if (!a->spinning) return;
  a->spinning = 0;
  spin_unlink(a);
  if (a->idle) uv_idle_stop(a->idle);
  if (!a->closed) apply_rx_poll(a);
}

/* What a drain started by a callback leaves to do: a close() or stop() from the handler. */
static void after_drain(afp_t *a) {
  if (a->close_pending) {
    a->close_pending = 0;
    teardown(a, 0);
  } else if (a->stop_pending && !a->polling) {
    stop_polling(a, 0);
  }
}

/* One loop turn while spinning: drain what is there, else (the list's head) spin for a slice
 * first; adaptive mode goes back to interrupts after adaptive_idle_ns without a frame (the clock
 * is read after every spun slice, else on every 16th empty poll). */
static void on_idle(uv_idle_t *h) {
  afp_t *a = h->data;
  if (a == NULL || a->closed || !a->polling || !a->spinning) return;
  a->rx_polls++;
  int spun = 0;
  if (!rx_ready(a) && a == spin_head) {
    spin_wait(a, h->loop);
    spun = 1;
  }
  if (!rx_ready(a)) {
    a->rx_empty_polls++;
    if (a->rx_mode == RX_MODE_ADAPTIVE && (spun || (++a->empty_run & 15) == 0) &&
        monotonic_ns() - a->last_frame_ns >= a->adaptive_idle_ns) {
      spin_stop(a);
      a->rx_to_interrupt++;
    }
    return;
  }
  napi_handle_scope scope;
  if (napi_open_handle_scope(a->env, &scope) != napi_ok) return;
  rx_drain(a);
  a->last_frame_ns = a->mark_ns;
  a->empty_run = 0;
  after_drain(a);
  napi_close_handle_scope(a->env, scope);
}

static int check_socket_error(afp_t *a) {
  int err = 0;
  socklen_t len = sizeof err;
  if (a->fd < 0) return 0;
  /* Reading SO_ERROR clears it, so a link that went down does not keep poll() hot. */
  if (getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) {
    a->socket_errors++;
    a->last_socket_error = err;
    if (a->onerror_ref) {
      napi_value code, msg, e;
      char text[256];
      snprintf(text, sizeof text, "AF_PACKET socket on '%s' reported %s (%s)", a->ifname, strerror(err),
               errno_name(err));
      napi_create_string_utf8(a->env, errno_name(err), NAPI_AUTO_LENGTH, &code);
      napi_create_string_utf8(a->env, text, NAPI_AUTO_LENGTH, &msg);
      napi_create_error(a->env, code, msg, &e);
      report_error(a, e);
    }
  }
  return err;
}

/*
 * The socket that sends became writable (or reported an error) while a TX watch was armed:
 * disarm (one shot: JS arms again if the kernel still refuses) and tell JS. Called from a poll
 * callback with a handle scope open; the callback may close the socket.
 */
static void tx_fire(afp_t *a) {
  a->tx_armed = 0;
  if (a->txfd >= 0) {
    if (a->txpoll) uv_poll_stop(a->txpoll);
  } else {
    apply_rx_poll(a);
  }
  a->tx_writable_wakeups++;
  napi_value cb = NULL, global, result;
  if (!a->writable_ref || napi_get_reference_value(a->env, a->writable_ref, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(a->env, &global);
  a->in_tx = 1;
  napi_status st = napi_make_callback(a->env, a->tx_actx, global, cb, 0, NULL, &result);
  a->in_tx = 0;
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(a->env, &pending);
    if (pending) {
      napi_value exc;
      a->handler_errors++;
      if (napi_get_and_clear_last_exception(a->env, &exc) == napi_ok) report_error(a, exc);
    }
  }
  if (a->closed && a->tx_actx) {
    /* close() ran inside the callback: the context it deferred can go now. */
    napi_async_destroy(a->env, a->tx_actx);
    a->tx_actx = NULL;
  }
}

/* The TX offload socket's own poll handle: only ever armed for WRITABLE. */
static void on_tx_poll(uv_poll_t *h, int status, int events) {
  afp_t *a = h->data;
  (void)events;
  if (a == NULL || a->closed || !a->tx_armed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(a->env, &scope) != napi_ok) return;
  if (status < 0 && a->txfd >= 0) {
    /* POLLERR: clear the error (reading SO_ERROR does) so the next watch does not see it again. */
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(a->txfd, SOL_SOCKET, SO_ERROR, &err, &len);
  }
  tx_fire(a);
  napi_close_handle_scope(a->env, scope);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  afp_t *a = h->data;
  if (a == NULL || a->closed) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(a->env, &scope) != napi_ok) return;
  /* Writable first: what waited for the kernel goes out before new input makes more. */
  if (a->tx_armed && a->txfd < 0 && (status < 0 || (events & UV_WRITABLE))) {
    tx_fire(a);
    if (a->closed) {
      napi_close_handle_scope(a->env, scope);
      return;
    }
  }
  if (!a->polling || (status >= 0 && !(events & UV_READABLE))) {
    if (status < 0 && !a->closed) {
      /* POLLERR while only a TX watch is armed: clear the socket error (else POLLERR comes
       * straight back), then watch what is left (libuv stopped the watcher). */
      check_socket_error(a);
      if (!a->closed) apply_rx_poll(a);
    }
    napi_close_handle_scope(a->env, scope);
    return;
  }
  a->rx_wakeups++;
  uint64_t got = rx_drain(a);
  /* adaptive: a wakeup that found frames starts polling (traffic flows) */
  if (got > 0 && a->rx_mode == RX_MODE_ADAPTIVE && !a->spinning && a->polling && !a->close_pending && status >= 0) {
    if (spin_start(a) == 0) a->rx_to_polling++;
  }
  if (!a->close_pending && a->polling && status < 0) {
    /* libuv stops the watcher on POLLERR (e.g. ENETDOWN when the link goes down).
     * Clear the socket error (reading SO_ERROR does) and watch again: the link may
     * come back. Without a socket error to clear, POLLERR would come straight back:
     * stop and say so. */
    if (check_socket_error(a)) {
      if (!a->close_pending && a->polling && !a->closed && a->poll && apply_rx_poll(a) != 0) a->polling = 0;
    } else {
      a->polling = 0;
      a->stop_pending = 1;
      a->socket_errors++;
      if (a->onerror_ref) {
        napi_value code, msg, e;
        char text[256];
        snprintf(text, sizeof text, "polling the AF_PACKET socket on '%s' failed: %s; receiving stopped",
                 a->ifname, uv_strerror(status));
        napi_create_string_utf8(a->env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
        napi_create_string_utf8(a->env, text, NAPI_AUTO_LENGTH, &msg);
        napi_create_error(a->env, code, msg, &e);
        report_error(a, e);
      }
    }
  }
  if (a->close_pending) {
    a->close_pending = 0;
    teardown(a, 0);
  } else if (a->stop_pending && !a->polling) {
    stop_polling(a, 0);
  }
  napi_close_handle_scope(a->env, scope);
}

/* ---------------------------------------------------------------- methods */

/* Creates the poll handle *hp on fd once (it follows ref()/unref()). Throws and returns -1 on failure. */
static int ensure_poll(napi_env env, afp_t *a, uv_poll_t **hp, int fd) {
  if (*hp) return 0;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, "ERR_AF_PACKET", "cannot get the event loop");
    return -1;
  }
  uv_poll_t *h = calloc(1, sizeof *h);
  if (!h) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return -1;
  }
  int r = uv_poll_init(loop, h, fd);
  if (r != 0) {
    free(h);
    throw_code(env, uv_err_name(r), 0, "uv_poll_init", uv_strerror(r));
    return -1;
  }
  h->data = a;
  if (a->unrefd) uv_unref((uv_handle_t *)h);
  *hp = h;
  return 0;
}

static napi_value m_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  void *p = NULL;
  napi_valuetype t0, t1 = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &p) != napi_ok || !p) return NULL;
  afp_t *a = p;
  if (a->closed || a->close_pending) {
    throw_code(env, "ERR_SOCKET_CLOSED", 0, NULL, "AF_PACKET socket is closed");
    return NULL;
  }
  napi_typeof(env, argv[0], &t0);
  if (argc > 1) napi_typeof(env, argv[1], &t1);
  if (argc < 1 || t0 != napi_function || (t1 != napi_undefined && t1 != napi_null && t1 != napi_function)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "start(handler: function, onError?: function)");
    return NULL;
  }
  del_ref(env, &a->handler_ref);
  del_ref(env, &a->onerror_ref);
  a->stop_pending = 0;
  NAPI_OK(napi_create_reference(env, argv[0], 1, &a->handler_ref));
  if (t1 == napi_function) NAPI_OK(napi_create_reference(env, argv[1], 1, &a->onerror_ref));
  if (!a->self_ref) NAPI_OK(napi_create_reference(env, self, 1, &a->self_ref));
  if (!a->actx) {
    napi_value name;
    NAPI_OK(napi_create_string_utf8(env, "AF_PACKET", NAPI_AUTO_LENGTH, &name));
    NAPI_OK(napi_async_init(env, self, name, &a->actx));
  }
  if (ensure_poll(env, a, &a->poll, a->fd) < 0) return NULL;
  if (!a->polling) {
    a->polling = 1;
    int r = a->rx_mode == RX_MODE_POLLING ? spin_start(a) : 0;
    if (r == 0) r = apply_rx_poll(a);
    if (r != 0) {
      a->polling = 0;
      spin_stop(a);
      throw_code(env, uv_err_name(r), 0, "uv_poll_start", uv_strerror(r));
      return NULL;
    }
  }
  return NULL;
napi_fail:
  napi_throw_error(env, "ERR_AF_PACKET", "start() failed");
  return NULL;
}

static napi_value m_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (a && !a->closed) stop_polling(a, 0);
  return NULL;
}

/* setRxMode(mode: 'interrupt'|'polling'|'adaptive', adaptiveIdleMs?: number). Takes effect at
 * once while receiving, or at the next start(). */
static napi_value m_set_rx_mode(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  afp_t *a = unwrap(env, info, &argc, argv);
  if (!a) return NULL;
  char name[16] = "";
  size_t len = 0;
  int mode = -1;
  if (argc >= 1 && napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) == napi_ok) {
    for (int i = 0; i < 3; i++)
      if (strcmp(name, rx_mode_names[i]) == 0) mode = i;
  }
  if (mode < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "setRxMode(mode: 'interrupt' | 'polling' | 'adaptive', adaptiveIdleMs?)");
    return NULL;
  }
  if (argc >= 2) {
    double ms = 0;
    napi_valuetype t;
    napi_typeof(env, argv[1], &t);
    if (t != napi_undefined) {
      if (t != napi_number || napi_get_value_double(env, argv[1], &ms) != napi_ok || !(ms > 0) || ms > 60000) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "adaptiveIdleMs must be a number of milliseconds in (0, 60000]");
        return NULL;
      }
      a->adaptive_idle_ns = (uint64_t)(ms * 1e6);
    }
  }
  if (a->closed) {
    throw_code(env, "ERR_SOCKET_CLOSED", 0, NULL, "AF_PACKET socket is closed");
    return NULL;
  }
  a->rx_mode = mode;
  if (!a->polling) return NULL; /* start() applies it */
  if (mode == RX_MODE_POLLING) {
    int r = spin_start(a);
    if (r != 0) {
      a->rx_mode = RX_MODE_INTERRUPT;
      throw_code(env, uv_err_name(r), 0, "uv_idle_start", uv_strerror(r));
    }
  } else if (mode == RX_MODE_INTERRUPT) {
    spin_stop(a);
  } else {
    /* adaptive: keep polling if we are (it stops after the idle period), else wait for traffic */
    a->last_frame_ns = monotonic_ns();
  }
  return NULL;
}

static napi_value m_ref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a) return NULL;
  a->unrefd = 0;
  if (a->poll) uv_ref((uv_handle_t *)a->poll);
  if (a->txpoll) uv_ref((uv_handle_t *)a->txpoll);
  if (a->idle) uv_ref((uv_handle_t *)a->idle);
  return NULL;
}

static napi_value m_unref(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a) return NULL;
  a->unrefd = 1;
  if (a->poll) uv_unref((uv_handle_t *)a->poll);
  if (a->txpoll) uv_unref((uv_handle_t *)a->txpoll);
  if (a->idle) uv_unref((uv_handle_t *)a->idle);
  return NULL;
}

static napi_value m_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a || a->closed) return NULL;
  if (a->in_rx) {
    /* Called from the handler: the drain loop still walks the ring; finish there. */
    stop_polling(a, 0);
    a->close_pending = 1;
    a->stop_pending = 0;
    if (a->ring_ab_ref) {
      napi_value ab;
      if (napi_get_reference_value(env, a->ring_ab_ref, &ab) == napi_ok && ab) napi_detach_arraybuffer(env, ab);
    }
    return NULL;
  }
  teardown(a, 0);
  return NULL;
}

/* The largest GSO frame the kernel takes (L2 header included): gso_max_size is 65,536 and a frame
 * of that length is already dropped. */
#define GSO_FRAME_MAX 65535u

/*
 * Fills the virtio_net_hdr of one frame for the TX socket (PACKET_VNET_HDR; fields in the
 * byte order of virtio 1.0, little-endian, which is what the kernel's vio_le() expects on a
 * little-endian host). csum_start = 0: no offload (a zero header: the frame goes as it is).
 * Otherwise the L4 header starts at csum_start and is TCP: NEEDS_CSUM with csum_offset 16 (the
 * checksum field must hold the folded pseudo-header sum, not complemented: for IPv6 the sum of
 * RFC 8200 §8.1's pseudo-header); gso_size > 0 also asks for TCP segmentation into gso_size-byte
 * payloads, GSO_TCPV4 or GSO_TCPV6 by the frame's EtherType (the kernel copies the headers,
 * advances the sequence number and the IPv4 ID, fixes the IPv4 total / IPv6 payload lengths and
 * the checksums, and keeps PSH/FIN for the last piece). For IPv6 the TCP header must follow the
 * fixed 40-byte header (we send no extension headers). Returns -1 when the frame cannot be
 * described.
 */
static int fill_vnet(struct virtio_net_hdr *h, const uint8_t *frame, uint32_t len, uint32_t cs, uint32_t gso) {
  memset(h, 0, sizeof *h);
  if (cs == 0) return gso == 0 ? 0 : -1;
  if (cs + 20 > len) return -1;
  uint32_t thl = (uint32_t)(frame[cs + 12] >> 4) * 4;
  if (thl < 20 || cs + thl > len) return -1;
  h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  h->csum_start = htole16((uint16_t)cs);
  h->csum_offset = htole16(16);
  h->hdr_len = htole16((uint16_t)(cs + thl));
  if (gso != 0 && len - cs - thl > gso) {
    /* The family from the EtherType after the MACs and any 802.1Q/802.1ad tags. */
    uint32_t p = 12;
    while (p + 2 < cs && ((frame[p] == 0x81 && frame[p + 1] == 0x00) || (frame[p] == 0x88 && frame[p + 1] == 0xa8))) p += 4;
    if (p + 2 > cs) return -1;
    if (frame[p] == 0x86 && frame[p + 1] == 0xdd) h->gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    else if (frame[p] == 0x08 && frame[p + 1] == 0x00) h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    else return -1;
    h->gso_size = htole16((uint16_t)gso);
  }
  return 0;
}

/*
 * send(buffer, offsets, lengths, count, csumStart?, gsoSize?, first?, extData?, extOff?, extLen?):
 * with extData (an array of Uint8Array | null, one per frame) and extLen[i] > 0, frame i is
 * buffer[offsets[i] .. +lengths[i]) (its headers) followed by extData[i][extOff[i] .. +extLen[i])
 * (its payload, e.g. straight from the file cache): a third iovec, so the payload is not copied in
 * JS first. Only with TX offload (the kernel then checksums and segments across the iovecs).
 */
static napi_value m_send(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10], result;
  afp_t *a = unwrap(env, info, &argc, argv);
  if (!a) return NULL;
  if (a->closed || a->close_pending) {
    throw_code(env, "ERR_SOCKET_CLOSED", 0, NULL, "AF_PACKET socket is closed");
    return NULL;
  }
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "send(buffer, offsets, lengths, count, csumStart?, gsoSize?, first?)");
    return NULL;
  }
  void *data, *offp, *lenp, *csp = NULL, *gsop = NULL;
  size_t blen, noff, nlen, ncs = 0, ngso = 0;
  uint32_t count, first = 0;
  if (get_typed(env, argv[0], napi_uint8_array, "buffer", &data, &blen) < 0) return NULL;
  if (get_typed(env, argv[1], napi_uint32_array, "offsets", &offp, &noff) < 0) return NULL;
  if (get_typed(env, argv[2], napi_uint32_array, "lengths", &lenp, &nlen) < 0) return NULL;
  if (napi_get_value_uint32(env, argv[3], &count) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "count must be a number");
    return NULL;
  }
  if (count > noff || count > nlen) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count exceeds the offsets/lengths arrays");
    return NULL;
  }
  if (argc > 6) {
    napi_valuetype t;
    napi_typeof(env, argv[6], &t);
    if (t != napi_undefined && (napi_get_value_uint32(env, argv[6], &first) != napi_ok || first > count)) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "first must be a frame index of at most count");
      return NULL;
    }
  }
  for (size_t k = 4; k < 6 && k < argc; k++) {
    napi_valuetype t;
    napi_typeof(env, argv[k], &t);
    if (t == napi_undefined || t == napi_null) continue;
    if (get_typed(env, argv[k], napi_uint16_array, k == 4 ? "csumStart" : "gsoSize", k == 4 ? &csp : &gsop,
                  k == 4 ? &ncs : &ngso) < 0)
      return NULL;
    if ((k == 4 ? ncs : ngso) < count) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count exceeds the csumStart/gsoSize arrays");
      return NULL;
    }
  }
  napi_value ext_arr = NULL;
  const uint32_t *ext_off = NULL, *ext_len = NULL;
  if (argc > 9) {
    napi_valuetype t;
    napi_typeof(env, argv[7], &t);
    if (t != napi_undefined && t != napi_null) {
      bool is_array = false;
      void *eo, *el;
      size_t neo, nel;
      uint32_t alen = 0;
      if (napi_is_array(env, argv[7], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[7], &alen) != napi_ok ||
          alen < count) {
        napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "extData must be an array with an entry per frame");
        return NULL;
      }
      if (get_typed(env, argv[8], napi_uint32_array, "extOff", &eo, &neo) < 0) return NULL;
      if (get_typed(env, argv[9], napi_uint32_array, "extLen", &el, &nel) < 0) return NULL;
      if (neo < count || nel < count) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "count exceeds the extOff/extLen arrays");
        return NULL;
      }
      if (!a->tx_offload) {
        throw_code(env, "ERR_TX_OFFLOAD", 0, NULL, "external payloads need TX offload (txOffload is off)");
        return NULL;
      }
      ext_arr = argv[7];
      ext_off = eo;
      ext_len = el;
    }
  }
  if ((csp != NULL || gsop != NULL) && !a->tx_offload) {
    throw_code(env, "ERR_TX_OFFLOAD", 0, NULL, "TX offload is not available on this socket (txOffload is off)");
    return NULL;
  }
  const uint16_t *css = csp, *gsos = gsop;
  const int vnet = a->tx_offload;
  const int fd = vnet ? a->txfd : a->fd;
  const uint32_t *offs = offp, *lens = lenp;
  uint32_t sent = 0, i = first, stop = count;
  a->tx_stop = 0;
  while (i < count) {
    /* Build up to TX_BATCH_MAX messages, skipping frames that lie outside the buffer. */
    uint32_t m = 0;
    while (i < count && m < TX_BATCH_MAX) {
      uint64_t o = offs[i], l = lens[i];
      uint32_t cs = css ? css[i] : 0, gso = gsos ? gsos[i] : 0;
      i++;
      if (l == 0 || o + l > blen) {
        a->tx_invalid++;
        a->tx_errors++;
        continue;
      }
      a->msg_frame[m] = i - 1;
      struct iovec *iov = &a->iovs[3 * m];
      uint8_t *ext = NULL;
      uint64_t el = ext_len ? ext_len[i - 1] : 0;
      if (el > 0) {
        /* The payload lives in another buffer (external). */
        napi_value v;
        void *p = NULL;
        size_t plen = 0;
        napi_typedarray_type tt;
        if (napi_get_element(env, ext_arr, i - 1, &v) != napi_ok ||
            napi_get_typedarray_info(env, v, &tt, &plen, &p, NULL, NULL) != napi_ok || tt != napi_uint8_array ||
            (uint64_t)ext_off[i - 1] + el > plen) {
          a->tx_invalid++;
          a->tx_errors++;
          continue;
        }
        ext = (uint8_t *)p + ext_off[i - 1];
      }
      if (vnet && gso != 0 && l + el > GSO_FRAME_MAX) {
        /* The kernel silently drops a GSO frame whose skb->len reaches gso_max_size (65,536 on
         * veth, macvlan and most NICs), L2 header included: refuse it here, where it is counted. */
        a->tx_gso_too_big++;
        a->tx_errors++;
        continue;
      }
      if (vnet) {
        /* Headers (up to the end of TCP's) must lie in the first part; the lengths count both. */
        if ((cs != 0 && cs + 20 > l) || (cs != 0 && cs + (uint32_t)(((uint8_t *)data)[o + cs + 12] >> 4) * 4 > l) ||
            fill_vnet(&a->vnet[m], (uint8_t *)data + o, (uint32_t)(l + el), cs, gso) < 0) {
          a->tx_invalid++;
          a->tx_errors++;
          continue;
        }
        iov[0].iov_base = &a->vnet[m];
        iov[0].iov_len = sizeof a->vnet[m];
        iov[1].iov_base = (uint8_t *)data + o;
        iov[1].iov_len = (size_t)l;
        iov[2].iov_base = ext;
        iov[2].iov_len = (size_t)el;
        a->msgs[m].msg_hdr.msg_iov = iov;
        a->msgs[m].msg_hdr.msg_iovlen = el > 0 ? 3 : 2;
      } else {
        iov[1].iov_base = (uint8_t *)data + o;
        iov[1].iov_len = (size_t)l;
        a->msgs[m].msg_hdr.msg_iov = &iov[1];
        a->msgs[m].msg_hdr.msg_iovlen = 1;
      }
      m++;
    }
    uint32_t j = 0;
    while (j < m) {
      int r = sendmmsg(fd, &a->msgs[j], m - j, MSG_DONTWAIT);
      if (r > 0) {
        for (int k = 0; k < r; k++) {
          /* Frame bytes: the first part, and the external payload if there is one. */
          const struct iovec *fi = &a->iovs[3 * (j + k)];
          a->tx_bytes += fi[1].iov_len + (a->msgs[j + k].msg_hdr.msg_iovlen == 3 ? fi[2].iov_len : 0);
          if (vnet) {
            const struct virtio_net_hdr *h = &a->vnet[j + k];
            if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) a->tx_csum_offloaded++;
            if (h->gso_type != VIRTIO_NET_HDR_GSO_NONE) a->tx_gso_frames++;
          }
        }
        j += (uint32_t)r;
        sent += (uint32_t)r;
        a->tx_frames += (uint64_t)r;
        continue;
      }
      int e = r < 0 ? errno : EIO;
      if (e == EINTR) continue;
      a->last_tx_errno = e;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        /* The socket buffer (EAGAIN) or the device queue (ENOBUFS: the qdisc or a stopped driver
         * queue dropped it) is full: stop at this frame, the caller keeps it and the rest. */
        if (e == ENOBUFS)
          a->tx_enobufs++;
        else
          a->tx_eagain++;
        a->tx_stop = e == EWOULDBLOCK ? EAGAIN : e;
        stop = a->msg_frame[j];
        i = count;
        break;
      }
      /* This frame is bad (EMSGSIZE, EINVAL from a vnet header, ENETDOWN, ...): count it, go on. */
      a->tx_other++;
      a->tx_errors++;
      j++;
    }
  }
  a->tx_accepted = sent;
  a->tx_stop_at = stop;
  if (a->in_rx && sent > 0) a->lat_reply[lat_bucket(monotonic_ns() - a->drain_mono_ns)]++;
  napi_create_uint32(env, sent, &result);
  return result;
}

/* .txStopAt: index (in the arrays of the last send()) of the first frame not handed to the kernel
 * because it refused it for now (txStop); the count passed when it did not stop. */
static napi_value m_tx_stop_at(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value r;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a) return NULL;
  napi_create_uint32(env, a->tx_stop_at, &r);
  return r;
}

/* .txStop: why the last send() stopped early: "EAGAIN", "ENOBUFS", or "" (it did not). */
static napi_value m_tx_stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value r;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a) return NULL;
  napi_create_string_utf8(env, a->tx_stop ? errno_name(a->tx_stop) : "", NAPI_AUTO_LENGTH, &r);
  return r;
}

/* .txAccepted: frames the kernel took in the last send(). */
static napi_value m_tx_accepted(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value r;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a) return NULL;
  napi_create_uint32(env, a->tx_accepted, &r);
  return r;
}

/* onWritable(fn | null): the function the writable watch calls (no arguments). */
static napi_value m_on_writable(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  void *p = NULL;
  napi_valuetype t = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &p) != napi_ok || !p) return NULL;
  afp_t *a = p;
  if (argc > 0) napi_typeof(env, argv[0], &t);
  if (t != napi_function && t != napi_null) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "onWritable(callback: function | null)");
    return NULL;
  }
  if (a->closed) return NULL;
  del_ref(env, &a->writable_ref);
  if (t == napi_null) return NULL;
  if (napi_create_reference(env, argv[0], 1, &a->writable_ref) != napi_ok) goto fail;
  if (!a->tx_actx) {
    napi_value name;
    if (napi_create_string_utf8(env, "AF_PACKET_TX", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_async_init(env, self, name, &a->tx_actx) != napi_ok)
      goto fail;
  }
  return NULL;
fail:
  napi_throw_error(env, "ERR_AF_PACKET", "onWritable() failed");
  return NULL;
}

/*
 * watchWritable(on: boolean): arms (or disarms) the one-shot writable watch on the socket that
 * sends: txfd when TX offload is on, else the RX fd (its poll handle then watches
 * READABLE|WRITABLE). Armed only while JS holds frames the kernel refused: a packet socket is
 * writable whenever less than half its SO_SNDBUF is in flight, so an always-on watch would
 * wake the loop on every turn.
 */
static napi_value m_watch_writable(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on = false;
  afp_t *a = unwrap(env, info, &argc, argv);
  if (!a) return NULL;
  if (argc < 1 || napi_get_value_bool(env, argv[0], &on) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "watchWritable(on: boolean)");
    return NULL;
  }
  if (a->closed || a->close_pending) {
    if (!on) return NULL;
    throw_code(env, "ERR_SOCKET_CLOSED", 0, NULL, "AF_PACKET socket is closed");
    return NULL;
  }
  if ((int)on == a->tx_armed) return NULL;
  int r;
  if (a->txfd >= 0) {
    if (on && ensure_poll(env, a, &a->txpoll, a->txfd) < 0) return NULL;
    a->tx_armed = on;
    r = on ? uv_poll_start(a->txpoll, UV_WRITABLE, on_tx_poll) : (a->txpoll ? uv_poll_stop(a->txpoll) : 0);
  } else {
    if (on && ensure_poll(env, a, &a->poll, a->fd) < 0) return NULL;
    a->tx_armed = on;
    r = apply_rx_poll(a);
  }
  if (r != 0) {
    a->tx_armed = 0;
    throw_code(env, uv_err_name(r), 0, "uv_poll_start", uv_strerror(r));
  }
  return NULL;
}

static void read_kernel_stats(afp_t *a) {
  if (a->fd < 0) return;
  if (a->version == 3) {
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (getsockopt(a->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      a->k_packets += st.tp_packets;
      a->k_drops += st.tp_drops;
      a->k_freezes += st.tp_freeze_q_cnt;
    }
  } else {
    struct tpacket_stats st;
    socklen_t len = sizeof st;
    memset(&st, 0, sizeof st);
    if (getsockopt(a->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
      a->k_packets += st.tp_packets;
      a->k_drops += st.tp_drops;
    }
  }
}

/* A latency histogram as an array of LAT_BUCKETS counts (see lat_bucket). */
static void set_hist(napi_env env, napi_value o, const char *name, const uint64_t *h) {
  napi_value arr, v;
  if (napi_create_array_with_length(env, LAT_BUCKETS, &arr) != napi_ok) return;
  for (uint32_t k = 0; k < LAT_BUCKETS; k++)
    if (napi_create_double(env, (double)h[k], &v) == napi_ok) napi_set_element(env, arr, k, v);
  napi_set_named_property(env, o, name, arr);
}

/*
 * The two counters the liveness check samples once a second, written into a Float64Array of at
 * least 2: [0] the frames the kernel saw (tp_packets, drops included), [1] the frames userspace
 * took out of the ring (read, own output skipped, truncated). stats() builds an object of ~45
 * properties for the same two figures: 2.5 ms a call on a noisy VM when it runs once a second cold.
 */
static napi_value m_ring_counters(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  afp_t *a = unwrap(env, info, &argc, argv);
  if (!a) return NULL;
  napi_typedarray_type t;
  size_t len = 0;
  void *data = NULL;
  bool is = false;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[0], &t, &len, &data, NULL, NULL) != napi_ok || t != napi_float64_array || len < 2) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "ringCounters(out): out must be a Float64Array of at least 2");
    return NULL;
  }
  read_kernel_stats(a); /* the kernel resets its counters on every read: accumulate */
  double *out = data;
  out[0] = (double)a->k_packets;
  out[1] = (double)(a->rx_frames + a->rx_outgoing + a->rx_truncated);
  return NULL;
}

static napi_value m_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value o;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a) return NULL;
  read_kernel_stats(a); /* the kernel resets its counters on every read: accumulate */
  if (napi_create_object(env, &o) != napi_ok) return NULL;
  /* tp_packets counts every frame the socket saw, including those it dropped. */
  set_num(env, o, "kernelPackets", (double)(a->k_packets - a->k_drops));
  set_num(env, o, "kernelSeen", (double)a->k_packets);
  set_num(env, o, "kernelDrops", (double)a->k_drops);
  set_num(env, o, "kernelFreezes", (double)a->k_freezes);
  set_num(env, o, "rxFrames", (double)a->rx_frames);
  set_num(env, o, "rxBytes", (double)a->rx_bytes);
  set_num(env, o, "rxVectors", (double)a->rx_vectors);
  set_num(env, o, "rxWakeups", (double)a->rx_wakeups);
  set_num(env, o, "rxRechecks", (double)a->rx_rechecks);
  set_num(env, o, "rxOutgoingSkipped", (double)a->rx_outgoing);
  set_num(env, o, "rxTruncated", (double)a->rx_truncated);
  set_str(env, o, "rxMode", rx_mode_names[a->rx_mode]);
  set_bool(env, o, "rxPolling", a->spinning);
  set_num(env, o, "rxPolls", (double)a->rx_polls);
  set_num(env, o, "rxEmptyPolls", (double)a->rx_empty_polls);
  set_num(env, o, "rxSpinBreaks", (double)a->rx_spin_breaks);
  set_num(env, o, "rxToPolling", (double)a->rx_to_polling);
  set_num(env, o, "rxToInterrupt", (double)a->rx_to_interrupt);
  set_num(env, o, "txFrames", (double)a->tx_frames);
  set_num(env, o, "txBytes", (double)a->tx_bytes);
  set_num(env, o, "txErrors", (double)a->tx_errors);
  set_num(env, o, "txEagain", (double)a->tx_eagain);
  set_num(env, o, "txNobufs", (double)a->tx_enobufs);
  set_num(env, o, "txInvalid", (double)a->tx_invalid);
  set_num(env, o, "txOther", (double)a->tx_other);
  set_num(env, o, "txCsumOffloaded", (double)a->tx_csum_offloaded);
  set_num(env, o, "txGsoFrames", (double)a->tx_gso_frames);
  set_num(env, o, "txGsoTooBig", (double)a->tx_gso_too_big);
  set_num(env, o, "txWritableWakeups", (double)a->tx_writable_wakeups);
  set_num(env, o, "txSendBuffer", (double)a->sndbuf);
  set_str(env, o, "txLastError", a->last_tx_errno ? errno_name(a->last_tx_errno) : "");
  set_num(env, o, "socketErrors", (double)a->socket_errors);
  set_str(env, o, "socketLastError", a->last_socket_error ? errno_name(a->last_socket_error) : "");
  set_num(env, o, "handlerErrors", (double)a->handler_errors);
  set_hist(env, o, "latRingWait", a->lat_ring);
  set_hist(env, o, "latHandler", a->lat_handler);
  set_hist(env, o, "latReply", a->lat_reply);
  return o;
}

/* ---------------------------------------------------------------- constructor */

/*
 * RX queues of one interface: several sockets in one PACKET_FANOUT_HASH group, the kernel deals
 * each frame to one of them by its flow hash (symmetric on addresses and ports, the same for
 * every frame of a flow; frames without ports hash on addresses only). The group's id must be
 * unique: two dataplanes on one device that picked the same fixed id would join one group and
 * silently share its frames. So the first socket passes id 0 with PACKET_FANOUT_FLAG_UNIQUEID
 * (Linux 4.3+), the kernel chooses a free id, read back with getsockopt(PACKET_FANOUT); the
 * other queues join that id without the flag (the kernel drops it from the group's flags).
 */
static int join_fanout(napi_env env, afp_t *a) {
  const char *ifn = a->ifname;
  int val;
  if (a->fanout_mode == FANOUT_NEW) {
    val = (int)((PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16);
  } else {
    if (a->fanout_id > 0xffff) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "fanoutId must be 0..65535");
      return -1;
    }
    val = (int)(a->fanout_id | (PACKET_FANOUT_HASH << 16));
  }
  if (setsockopt(a->fd, SOL_PACKET, PACKET_FANOUT, &val, sizeof val) < 0) {
    int e = errno;
    char what[160];
    if (a->fanout_mode == FANOUT_NEW)
      snprintf(what, sizeof what, "cannot create a PACKET_FANOUT_HASH group with a unique id (needs Linux 4.3+)");
    else
      snprintf(what, sizeof what, "cannot join PACKET_FANOUT_HASH group %u (it must exist on this device, same type)",
               a->fanout_id);
    throw_errno(env, e, "setsockopt(PACKET_FANOUT)", ifn, what);
    return -1;
  }
  int got = 0;
  socklen_t glen = sizeof got;
  if (getsockopt(a->fd, SOL_PACKET, PACKET_FANOUT, &got, &glen) < 0) {
    throw_errno(env, errno, "getsockopt(PACKET_FANOUT)", ifn, "cannot read the fanout group id");
    return -1;
  }
  a->fanout_id = (uint32_t)got & 0xffff;
  return 0;
}

static int setup_socket(napi_env env, afp_t *a, int qdisc_bypass, int promisc, uint32_t sndbuf, int *bypass_on,
                        int *ignore_on) {
  const char *ifn = a->ifname;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    if (e == EPERM || e == EACCES) {
      char msg[768];
      snprintf(msg, sizeof msg,
               "cannot open an AF_PACKET socket for '%s': socket() failed with %s (%s). "
               "An AF_PACKET socket needs CAP_NET_RAW: run as root, give the node binary the file "
               "capability (setcap cap_net_raw+ep \"$(readlink -f \"$(command -v node)\")\"), or start it "
               "with the ambient capability (setpriv --inh-caps=+net_raw --ambient-caps=+net_raw ...); "
               "in Kubernetes add NET_RAW to the container's capabilities and use the file capability",
               ifn, errno_name(e), strerror(e));
      throw_code(env, "EPERM", e, "socket", msg);
    } else {
      throw_errno(env, e, "socket(AF_PACKET, SOCK_RAW)", ifn, "cannot open an AF_PACKET socket");
    }
    return -1;
  }
  a->fd = fd;

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, ifn, strlen(ifn));
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
    int e = errno;
    if (e == ENODEV) {
      char msg[256];
      snprintf(msg, sizeof msg, "interface '%s' not found in this network namespace", ifn);
      throw_code(env, "ENODEV", e, "ioctl(SIOCGIFINDEX)", msg);
    } else {
      throw_errno(env, e, "ioctl(SIOCGIFINDEX)", ifn, "cannot look up the interface");
    }
    return -1;
  }
  a->ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
    throw_errno(env, errno, "ioctl(SIOCGIFHWADDR)", ifn, "cannot read the MAC address");
    return -1;
  }
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER && ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK) {
    char msg[256];
    snprintf(msg, sizeof msg, "interface '%s' is not an Ethernet interface (ARPHRD type %u)", ifn,
             (unsigned)ifr.ifr_hwaddr.sa_family);
    throw_code(env, "EPROTONOSUPPORT", 0, "ioctl(SIOCGIFHWADDR)", msg);
    return -1;
  }
  memcpy(a->mac, ifr.ifr_hwaddr.sa_data, 6);
  if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) {
    throw_errno(env, errno, "ioctl(SIOCGIFMTU)", ifn, "cannot read the MTU");
    return -1;
  }
  a->mtu = ifr.ifr_mtu;

  int v = a->version == 3 ? TPACKET_V3 : TPACKET_V2;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) {
    throw_errno(env, errno, "setsockopt(PACKET_VERSION)", ifn, "cannot select the ring version");
    return -1;
  }
  if (a->version == 3) {
    struct tpacket_req3 req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = a->block_size;
    req.tp_block_nr = a->block_count;
    req.tp_frame_size = a->frame_size;
    req.tp_frame_nr = a->frame_count;
    req.tp_retire_blk_tov = a->retire_ms;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
      throw_errno(env, errno, "setsockopt(PACKET_RX_RING)", ifn, "cannot create the TPACKET_V3 RX ring");
      return -1;
    }
  } else {
    struct tpacket_req req;
    memset(&req, 0, sizeof req);
    req.tp_block_size = a->block_size;
    req.tp_block_nr = a->block_count;
    req.tp_frame_size = a->frame_size;
    req.tp_frame_nr = a->frame_count;
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) {
      throw_errno(env, errno, "setsockopt(PACKET_RX_RING)", ifn, "cannot create the TPACKET_V2 RX ring");
      return -1;
    }
  }
  void *ring = mmap(NULL, a->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) {
    throw_errno(env, errno, "mmap", ifn, "cannot map the RX ring");
    return -1;
  }
  a->map = malloc(sizeof *a->map);
  if (!a->map) {
    munmap(ring, a->ring_len);
    throw_errno(env, ENOMEM, "malloc", ifn, "out of memory");
    return -1;
  }
  a->map->addr = ring;
  a->map->len = a->ring_len;
  a->map->refs = 1;
  a->ring = ring;

  int one = 1;
  *bypass_on = 0;
  if (qdisc_bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0) *bypass_on = 1;
  /* Never see our own (or this host's) output as input; older kernels lack the option,
   * the RX path also skips PACKET_OUTGOING frames. */
  *ignore_on = setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0;
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0) {
    throw_errno(env, errno, "setsockopt(SO_SNDBUF)", ifn, "cannot set the send buffer size");
    return -1;
  }

  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = a->receive ? htons(ETH_P_ALL) : 0;
  sll.sll_ifindex = a->ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    throw_errno(env, errno, "bind", ifn, "cannot bind the AF_PACKET socket");
    return -1;
  }
  if (a->fanout_mode != FANOUT_NONE && join_fanout(env, a) < 0) return -1;
  if (promisc) {
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = a->ifindex;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) < 0) {
      throw_errno(env, errno, "setsockopt(PACKET_ADD_MEMBERSHIP)", ifn, "cannot enable promiscuous mode");
      return -1;
    }
    a->promisc = 1;
  }
  return 0;
}

/*
 * The TX offload socket: a second AF_PACKET socket used only for sending, bound to the
 * interface with protocol 0 (so the kernel never queues a received frame on it), with
 * PACKET_VNET_HDR: every frame is preceded by a struct virtio_net_hdr, which lets the kernel
 * complete TCP checksums (CHECKSUM_PARTIAL) and take TCPv4 and TCPv6 super-frames of up to 64 KiB that it
 * segments in software or hands to a device that does (veth, macvlan pass them on whole). A
 * separate socket because PACKET_VNET_HDR must be set before any ring and must not change how
 * the RX ring is read. Best effort: any failure leaves txfd = -1 and TX on the main socket.
 */
static void setup_tx_offload(afp_t *a, int qdisc_bypass, uint32_t sndbuf) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) {
    close(fd);
    return;
  }
  if (qdisc_bypass) setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  /* Super-frames are up to 64 KiB each: ask for room for a batch of them. SO_SNDBUF, not
   * SO_SNDBUFFORCE: that needs CAP_NET_ADMIN, which a pod does not have, so root would get a
   * buffer the pod never sees. The kernel caps the request at net.core.wmem_max and doubles it
   * (bookkeeping overhead); what it granted is read back and reported (sendBufferSize). */
  int want = sndbuf > 0 ? (int)sndbuf : TX_OFFLOAD_SNDBUF;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = 0;
  sll.sll_ifindex = a->ifindex;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    close(fd);
    return;
  }
  a->txfd = fd;
  a->tx_offload = 1;
}

static napi_value m_construct(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], self, target;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_get_new_target(env, info, &target) != napi_ok || target == NULL) {
    napi_throw_type_error(env, "ERR_CONSTRUCT_CALL_REQUIRED", "AfPacketSocket must be called with new");
    return NULL;
  }
  if (argc < 7) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "new AfPacketSocket(ifname, options, offset, length, vlanTpid, vlanTci, flags)");
    return NULL;
  }
  afp_t *a = calloc(1, sizeof *a);
  if (!a) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  a->env = env;
  a->fd = -1;
  a->txfd = -1;
  a->rx_mode = RX_MODE_INTERRUPT;
  a->adaptive_idle_ns = 20000000u; /* 20 ms, see setRxMode */

  size_t nlen = 0;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_string || napi_get_value_string_utf8(env, argv[0], NULL, 0, &nlen) != napi_ok || nlen == 0 ||
      nlen >= IFNAMSIZ) {
    free(a);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          "ifname must be a non-empty interface name of at most 15 bytes");
    return NULL;
  }
  napi_get_value_string_utf8(env, argv[0], a->ifname, sizeof a->ifname, &nlen);
  if (strlen(a->ifname) != nlen || strchr(a->ifname, '/') != NULL) {
    free(a);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "ifname contains a NUL byte or '/'");
    return NULL;
  }
  napi_typeof(env, argv[1], &t);
  if (t != napi_object) {
    free(a);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "options must be an object");
    return NULL;
  }
  uint32_t ver, bs, bc, fs, rt, mv, sndbuf, fmode, fid;
  int qb, promisc, txo, recv;
  if (opt_u32(env, argv[1], "ringVersion", 2, &ver) || opt_u32(env, argv[1], "blockSize", 256 * 1024, &bs) ||
      opt_u32(env, argv[1], "blockCount", 64, &bc) || opt_u32(env, argv[1], "frameSize", 2048, &fs) ||
      opt_u32(env, argv[1], "retireTimeoutMs", 1, &rt) || opt_u32(env, argv[1], "maxVectorsPerWakeup", 16, &mv) ||
      opt_u32(env, argv[1], "sendBufferSize", 0, &sndbuf) || opt_bool(env, argv[1], "qdiscBypass", 1, &qb) ||
      opt_bool(env, argv[1], "promiscuous", 0, &promisc) || opt_bool(env, argv[1], "txOffload", 1, &txo) ||
      opt_bool(env, argv[1], "receive", 1, &recv) || opt_u32(env, argv[1], "fanout", FANOUT_NONE, &fmode) ||
      opt_u32(env, argv[1], "fanoutId", 0, &fid)) {
    free(a);
    return NULL;
  }
  long page = sysconf(_SC_PAGESIZE);
  const char *bad = NULL;
  if (ver != 2 && ver != 3) bad = "ringVersion must be 2 or 3";
  else if (bs == 0 || bs % (uint32_t)page != 0) bad = "blockSize must be a positive multiple of the page size";
  else if (bc == 0) bad = "blockCount must be positive";
  else if (fs < TPACKET_ALIGNMENT * 8 || fs % TPACKET_ALIGNMENT != 0 || fs > bs)
    bad = "frameSize must be a multiple of 16, at least 128 and at most blockSize";
  else if ((uint64_t)bs * bc > 0xffffffffull) bad = "the ring (blockSize * blockCount) must be smaller than 4 GiB";
  else if (rt == 0) bad = "retireTimeoutMs must be at least 1";
  else if (mv == 0) bad = "maxVectorsPerWakeup must be at least 1";
  else if (fmode > FANOUT_JOIN) bad = "fanout must be 0 (none), 1 (new group, unique id) or 2 (join fanoutId)";
  else if (fmode != FANOUT_NONE && !recv) bad = "a send-only socket (receive: false) cannot be in a fanout group";
  if (bad) {
    free(a);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", bad);
    return NULL;
  }
  a->version = (int)ver;
  a->block_size = bs;
  a->block_count = bc;
  a->frame_size = fs;
  a->frames_per_block = bs / fs;
  a->frame_count = a->frames_per_block * bc;
  a->retire_ms = rt;
  a->max_vectors = mv;
  a->ring_len = (size_t)bs * bc;
  a->receive = recv;
  a->fanout_mode = (int)fmode;
  a->fanout_id = fid;

  /* descriptors: pinned for the life of the socket, data pointers taken once */
  void *dp[5];
  size_t dl[5];
  static const char *names[5] = {"offset", "length", "vlanTpid", "vlanTci", "flags"};
  static const napi_typedarray_type types[5] = {napi_uint32_array, napi_uint32_array, napi_uint16_array,
                                                napi_uint16_array, napi_uint8_array};
  for (int i = 0; i < 5; i++) {
    if (get_typed(env, argv[2 + i], types[i], names[i], &dp[i], &dl[i]) < 0) {
      free(a);
      return NULL;
    }
  }
  a->cap = (uint32_t)dl[0];
  for (int i = 1; i < 5; i++)
    if (dl[i] < a->cap) a->cap = (uint32_t)dl[i];
  if (a->cap == 0) {
    free(a);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "descriptor arrays must not be empty");
    return NULL;
  }
  a->d_off = dp[0];
  a->d_len = dp[1];
  a->d_tpid = dp[2];
  a->d_tci = dp[3];
  a->d_flags = dp[4];

  a->msgs = calloc(TX_BATCH_MAX, sizeof *a->msgs);
  a->iovs = calloc(3 * TX_BATCH_MAX, sizeof *a->iovs);
  a->vnet = calloc(TX_BATCH_MAX, sizeof *a->vnet);
  a->msg_frame = calloc(TX_BATCH_MAX, sizeof *a->msg_frame);
  if (!a->msgs || !a->iovs || !a->vnet || !a->msg_frame) {
    free(a->msgs);
    free(a->iovs);
    free(a->vnet);
    free(a->msg_frame);
    free(a);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }

  /* From here on the finalizer owns `a`. */
  if (napi_wrap(env, self, a, afp_finalize, NULL, NULL) != napi_ok) {
    free(a->msgs);
    free(a->iovs);
    free(a->vnet);
    free(a->msg_frame);
    free(a);
    napi_throw_error(env, "ERR_AF_PACKET", "napi_wrap failed");
    return NULL;
  }
  for (int i = 0; i < 5; i++) {
    if (napi_create_reference(env, argv[2 + i], 1, &a->desc_ref[i]) != napi_ok) {
      teardown(a, 0);
      return NULL;
    }
  }
  if (napi_add_env_cleanup_hook(env, env_cleanup, a) == napi_ok) a->cleanup_hook = 1;

  int bypass_on = 0, ignore_on = 0;
  if (setup_socket(env, a, qb, promisc, sndbuf, &bypass_on, &ignore_on) < 0) {
    teardown(a, 0);
    return NULL;
  }
  if (txo) setup_tx_offload(a, qb, sndbuf);
  {
    /* The send buffer of the socket that sends, as granted (not as asked). */
    int granted = 0;
    socklen_t glen = sizeof granted;
    if (getsockopt(a->txfd >= 0 ? a->txfd : a->fd, SOL_SOCKET, SO_SNDBUF, &granted, &glen) == 0) a->sndbuf = granted;
  }

  /* The ring, once, as an external ArrayBuffer. It holds its own reference to the mapping. */
  napi_value ab, macbuf;
  a->map->refs++;
  if (napi_create_external_arraybuffer(env, a->ring, a->ring_len, ring_ab_finalize, a->map, &ab) != napi_ok) {
    a->map->refs--;
    teardown(a, 0);
    napi_throw_error(env, "ERR_AF_PACKET", "cannot expose the RX ring as an ArrayBuffer");
    return NULL;
  }
  napi_create_reference(env, ab, 0, &a->ring_ab_ref);
  napi_set_named_property(env, self, "ring", ab);
  void *macp;
  if (napi_create_buffer_copy(env, 6, a->mac, &macp, &macbuf) == napi_ok) napi_set_named_property(env, self, "mac", macbuf);
  set_str(env, self, "ifname", a->ifname);
  set_u32(env, self, "ifindex", (uint32_t)a->ifindex);
  set_u32(env, self, "mtu", (uint32_t)a->mtu);
  set_u32(env, self, "ringVersion", (uint32_t)a->version);
  set_u32(env, self, "blockSize", a->block_size);
  set_u32(env, self, "blockCount", a->block_count);
  set_u32(env, self, "frameSize", a->frame_size);
  set_u32(env, self, "frameCount", a->frame_count);
  set_u32(env, self, "retireTimeoutMs", a->version == 3 ? a->retire_ms : 0);
  set_u32(env, self, "vectorSize", a->cap);
  set_u32(env, self, "maxVectorsPerWakeup", a->max_vectors);
  set_bool(env, self, "qdiscBypass", bypass_on);
  set_bool(env, self, "ignoreOutgoing", ignore_on);
  set_bool(env, self, "promiscuous", a->promisc);
  set_bool(env, self, "txOffload", a->tx_offload);
  set_u32(env, self, "sendBufferSize", (uint32_t)a->sndbuf);
  set_bool(env, self, "receive", a->receive);
  if (a->fanout_mode != FANOUT_NONE) set_u32(env, self, "fanoutId", a->fanout_id);
  return self;
}

/* multicast(mac: Uint8Array(6), join: boolean): joins or leaves an Ethernet multicast group on the
 * socket's interface. A macvlan delivers multicast only for groups joined on it (its mc_filter),
 * so IPv6 Neighbor Discovery for addresses the kernel does not own needs the solicited-node
 * groups joined here. The kernel counts joins per socket; each join needs one leave, and all
 * memberships go when the socket closes. */
static napi_value m_multicast(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  afp_t *a = unwrap(env, info, &argc, argv);
  if (!a) return NULL;
  void *data = NULL;
  size_t len = 0;
  napi_typedarray_type t;
  bool is = false, join = false;
  if (argc < 2 || napi_is_typedarray(env, argv[0], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[0], &t, &len, &data, NULL, NULL) != napi_ok || t != napi_uint8_array || len != 6 ||
      napi_get_value_bool(env, argv[1], &join) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "multicast(mac: 6-byte Uint8Array, join: boolean)");
    return NULL;
  }
  if (a->fd < 0) {
    napi_throw_error(env, "ERR_SOCKET_CLOSED", "the AF_PACKET socket is closed");
    return NULL;
  }
  struct packet_mreq mr;
  memset(&mr, 0, sizeof mr);
  mr.mr_ifindex = a->ifindex;
  mr.mr_type = PACKET_MR_MULTICAST;
  mr.mr_alen = 6;
  memcpy(mr.mr_address, data, 6);
  if (setsockopt(a->fd, SOL_PACKET, join ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr) < 0) {
    throw_errno(env, errno, join ? "setsockopt(PACKET_ADD_MEMBERSHIP)" : "setsockopt(PACKET_DROP_MEMBERSHIP)", a->ifname,
                join ? "cannot join the multicast group" : "cannot leave the multicast group");
    return NULL;
  }
  return NULL;
}

static napi_value m_closed(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  napi_value r;
  afp_t *a = unwrap(env, info, &argc, NULL);
  if (!a) return NULL;
  napi_get_boolean(env, a->closed || a->close_pending, &r);
  return r;
}

/*
 * setThreadAffinity(cpu) -> 0 or an errno name: pins the calling thread (a worker_thread is one
 * OS thread: sched_setaffinity with pid 0 acts on the caller only) to one CPU. A CPU that does
 * not exist or lies outside the process's allowed set (a container's cpuset) gives EINVAL and
 * leaves the affinity as it was.
 */
static napi_value f_set_thread_affinity(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  uint32_t cpu;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_get_value_uint32(env, argv[0], &cpu) != napi_ok || cpu >= CPU_SETSIZE) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "setThreadAffinity(cpu): cpu must be an integer 0..1023");
    return NULL;
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int rc = sched_setaffinity(0, sizeof set, &set);
  napi_create_string_utf8(env, rc == 0 ? "" : errno_name(errno), NAPI_AUTO_LENGTH, &r);
  return r;
}

/* threadId() -> the calling thread's kernel id (LWP, as `show threads` prints it). */
static napi_value f_thread_id(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, (int32_t)syscall(SYS_gettid), &r);
  return r;
}

/* threadCpu() -> the CPU the calling thread runs on now (sched_getcpu), -1 if unknown. */
static napi_value f_thread_cpu(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value r;
  napi_create_int32(env, sched_getcpu(), &r);
  return r;
}

/* ---------------------------------------------------------------- byte helpers for the data path */

/* A Uint8Array (Buffer) argument: its bytes (byte offset applied) and length. */
static int u8_arg(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  napi_typedarray_type t;
  void *p = NULL;
  if (napi_get_typedarray_info(env, v, &t, len, &p, NULL, NULL) != napi_ok || t != napi_uint8_array) return -1;
  *data = p;
  return 0;
}

static int u32_arg(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok ? 0 : -1;
}

/*
 * copyBytes(dst, dstOff, src, srcOff, len): memmove between two Uint8Arrays, bounds checked.
 * Buffer#copy of a sub-range makes a Uint8Array view per call on Node 20 (garbage for the
 * scavenger on every TCP segment); this makes none.
 */
static napi_value m_copy_bytes(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  uint8_t *dst, *src;
  size_t dlen, slen;
  uint32_t doff, soff, n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 5 || u8_arg(env, argv[0], &dst, &dlen) || u32_arg(env, argv[1], &doff) || u8_arg(env, argv[2], &src, &slen) ||
      u32_arg(env, argv[3], &soff) || u32_arg(env, argv[4], &n)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "copyBytes(dst: Uint8Array, dstOff, src: Uint8Array, srcOff, len)");
    return NULL;
  }
  if ((uint64_t)doff + n > dlen || (uint64_t)soff + n > slen) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "copyBytes: range outside the buffer");
    return NULL;
  }
  memmove(dst + doff, src + soff, n);
  return NULL;
}

/*
 * sum16(buf, off, len, initial): the Internet checksum's one's complement sum (RFC 1071) of the
 * 16-bit big-endian words of buf[off .. off+len) (an odd last byte padded with zero) plus
 * `initial`, folded to 16 bits but not complemented: what wire/checksum.ts's sumWords returns,
 * folded. Summed 32 bits at a time into 64 bits, in host order; swapped once at the end.
 */
static napi_value m_sum16(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], r;
  uint8_t *b;
  size_t blen;
  uint32_t off, len;
  double initial = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3 || u8_arg(env, argv[0], &b, &blen) || u32_arg(env, argv[1], &off) || u32_arg(env, argv[2], &len) ||
      (argc > 3 && napi_get_value_double(env, argv[3], &initial) != napi_ok)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "sum16(buf: Uint8Array, off, len, initial?)");
    return NULL;
  }
  if ((uint64_t)off + len > blen) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "sum16: range outside the buffer");
    return NULL;
  }
  const uint8_t *p = b + off;
  uint64_t sum = 0;
  uint32_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint32_t w0, w1;
    memcpy(&w0, p + i, 4);
    memcpy(&w1, p + i + 4, 4);
    sum += (uint64_t)w0 + w1;
  }
  for (; i + 2 <= len; i += 2) {
    uint16_t w;
    memcpy(&w, p + i, 2);
    sum += w;
  }
  if (i < len) {
    uint16_t w = 0;
    memcpy(&w, p + i, 1); /* the byte goes first in memory: the high byte of a big-endian word */
    sum += w;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t folded = (uint16_t)sum;
  folded = ntohs(folded); /* summed in host order: one swap gives the big-endian sum */
  uint64_t total = (uint64_t)folded + (initial > 0 ? (uint64_t)initial : 0);
  while (total >> 16) total = (total & 0xffff) + (total >> 16);
  napi_create_uint32(env, (uint32_t)total, &r);
  return r;
}

/*
 * vnetHeader(frame, csumStart, gsoSize): the struct virtio_net_hdr that send() would put before
 * this frame, as {flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset} in host order, or null
 * when send() would refuse the frame (fill_vnet returns -1). For unit tests: the fields are
 * checked against include/uapi/linux/virtio_net.h without a socket.
 */
static napi_value m_vnet_header(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], r, v;
  uint8_t *b;
  size_t blen;
  uint32_t cs, gso;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 3 || u8_arg(env, argv[0], &b, &blen) || u32_arg(env, argv[1], &cs) || u32_arg(env, argv[2], &gso) ||
      cs > 0xffff || gso > 0xffff || blen > 0xffffffffu) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "vnetHeader(frame: Uint8Array, csumStart, gsoSize)");
    return NULL;
  }
  struct virtio_net_hdr h;
  if (fill_vnet(&h, b, (uint32_t)blen, cs, gso) < 0) {
    napi_get_null(env, &r);
    return r;
  }
  napi_create_object(env, &r);
  napi_create_uint32(env, h.flags, &v);
  napi_set_named_property(env, r, "flags", v);
  napi_create_uint32(env, h.gso_type, &v);
  napi_set_named_property(env, r, "gsoType", v);
  napi_create_uint32(env, le16toh(h.hdr_len), &v);
  napi_set_named_property(env, r, "hdrLen", v);
  napi_create_uint32(env, le16toh(h.gso_size), &v);
  napi_set_named_property(env, r, "gsoSize", v);
  napi_create_uint32(env, le16toh(h.csum_start), &v);
  napi_set_named_property(env, r, "csumStart", v);
  napi_create_uint32(env, le16toh(h.csum_offset), &v);
  napi_set_named_property(env, r, "csumOffset", v);
  return r;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"start", NULL, m_start, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, m_stop, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, m_send, NULL, NULL, NULL, napi_default, NULL},
      {"stats", NULL, m_stats, NULL, NULL, NULL, napi_default, NULL},
      {"ringCounters", NULL, m_ring_counters, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, m_close, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, m_ref, NULL, NULL, NULL, napi_default, NULL},
      {"unref", NULL, m_unref, NULL, NULL, NULL, napi_default, NULL},
      {"closed", NULL, NULL, m_closed, NULL, NULL, napi_default, NULL},
      {"txStop", NULL, NULL, m_tx_stop, NULL, NULL, napi_default, NULL},
      {"txAccepted", NULL, NULL, m_tx_accepted, NULL, NULL, napi_default, NULL},
      {"txStopAt", NULL, NULL, m_tx_stop_at, NULL, NULL, napi_default, NULL},
      {"onWritable", NULL, m_on_writable, NULL, NULL, NULL, napi_default, NULL},
      {"watchWritable", NULL, m_watch_writable, NULL, NULL, NULL, napi_default, NULL},
      {"multicast", NULL, m_multicast, NULL, NULL, NULL, napi_default, NULL},
      {"setRxMode", NULL, m_set_rx_mode, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, v;
  if (napi_define_class(env, "AfPacketSocket", NAPI_AUTO_LENGTH, m_construct, NULL, sizeof props / sizeof props[0],
                        props, &cls) != napi_ok)
    return NULL;
  napi_set_named_property(env, exports, "AfPacketSocket", cls);
  napi_create_uint32(env, TX_BATCH_MAX, &v);
  napi_set_named_property(env, exports, "TX_BATCH_MAX", v);
  napi_value fn;
  if (napi_create_function(env, "setThreadAffinity", NAPI_AUTO_LENGTH, f_set_thread_affinity, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "setThreadAffinity", fn);
  if (napi_create_function(env, "threadId", NAPI_AUTO_LENGTH, f_thread_id, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "threadId", fn);
  if (napi_create_function(env, "threadCpu", NAPI_AUTO_LENGTH, f_thread_cpu, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "threadCpu", fn);
  if (napi_create_function(env, "copyBytes", NAPI_AUTO_LENGTH, m_copy_bytes, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "copyBytes", fn);
  if (napi_create_function(env, "sum16", NAPI_AUTO_LENGTH, m_sum16, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "sum16", fn);
  if (napi_create_function(env, "vnetHeader", NAPI_AUTO_LENGTH, m_vnet_header, NULL, &fn) == napi_ok)
    napi_set_named_property(env, exports, "vnetHeader", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
