/*
 * echo-floor: the wake-up floor of a userspace ICMP responder on an AF_PACKET socket, for the
 * bench's ping rows (docs/bench.md). It answers ARP requests and ICMP echo requests for one IPv4
 * address, with a TPACKET_V2 RX ring as our dataplane uses, and nothing else: no graph, no JS.
 * What it measures is what any userspace dataplane pays on this machine and our code does not
 * control: the kernel waking a thread blocked in epoll (interrupt) or a spinning thread seeing
 * the ring (polling), the reply's sendto, and waking the pinging process.
 *
 *   echo-floor IFNAME IPv4 interrupt|polling|polling-syscall
 *     interrupt        epoll_wait(-1) on the socket, then drain the ring (our interrupt mode)
 *     polling          spin on the ring's status word, no syscall while idle (VPP's polling)
 *     polling-syscall  spin with epoll_wait(0) every turn (our polling mode: libuv's idle handle)
 * Runs until SIGTERM/SIGINT; prints the number of replies.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static uint16_t csum(const uint8_t *p, size_t n) {
  uint32_t s = 0;
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s IFNAME IPv4 interrupt|polling|polling-syscall\n", argv[0]);
    return 2;
  }
  const int mode = strcmp(argv[3], "interrupt") == 0 ? 0 : strcmp(argv[3], "polling") == 0 ? 1 : 2;
  struct in_addr me;
  if (inet_pton(AF_INET, argv[2], &me) != 1) return 2;
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) { perror("socket"); return 1; }
  int v = TPACKET_V2;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) { perror("PACKET_VERSION"); return 1; }
  struct tpacket_req req = { .tp_block_size = 1 << 16, .tp_block_nr = 16, .tp_frame_size = 2048, .tp_frame_nr = 16 * 32 };
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { perror("PACKET_RX_RING"); return 1; }
  v = 1;
  setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &v, sizeof v);
  uint8_t *ring = mmap(NULL, (size_t)req.tp_block_size * req.tp_block_nr, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) { perror("mmap"); return 1; }
  struct ifreq ifr = { 0 };
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", argv[1]);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) { perror("SIOCGIFHWADDR"); return 1; }
  uint8_t mac[6];
  memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)if_nametoindex(argv[1]) };
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); return 1; }
  int ep = epoll_create1(0);
  struct epoll_event ev = { .events = EPOLLIN }, out;
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  unsigned long replies = 0;
  uint32_t cur = 0;
  uint8_t tx[2048];
  while (!stop) {
    struct tpacket2_hdr *h = (void *)(ring + (size_t)cur * req.tp_frame_size);
    if (!(__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
      if (mode == 0) epoll_wait(ep, &out, 1, 200);
      else if (mode == 2) epoll_wait(ep, &out, 1, 0);
      else __builtin_ia32_pause();
      continue;
    }
    const struct sockaddr_ll *from = (const void *)((uint8_t *)h + TPACKET_ALIGN(sizeof *h));
    uint8_t *f = (uint8_t *)h + h->tp_mac;
    uint32_t len = h->tp_snaplen;
    if (from->sll_pkttype != PACKET_OUTGOING && len >= 42 && (memcmp(f, mac, 6) == 0 || f[0] == 0xff)) {
      uint16_t type = (uint16_t)(f[12] << 8 | f[13]);
      if (type == ETH_P_ARP && f[21] == 1 && memcmp(f + 38, &me, 4) == 0) {
        memcpy(tx, f, 42);
        memcpy(tx, f + 6, 6);
        memcpy(tx + 6, mac, 6);
        tx[21] = 2;
        memcpy(tx + 32, f + 22, 10); /* target = the asker */
        memcpy(tx + 22, mac, 6);
        memcpy(tx + 28, &me, 4);
        send(fd, tx, 42, MSG_DONTWAIT);
      } else if (type == ETH_P_IP && len >= 14 + 20 + 8 && f[23] == 1 && memcmp(f + 30, &me, 4) == 0) {
        uint32_t ihl = (uint32_t)(f[14] & 15) * 4, tot = (uint32_t)(f[16] << 8 | f[17]);
        /* Every length from the wire is checked before use: a header of 20-60 bytes, an ICMP
         * header after it within the total length, the total within the frame and our TX buffer. */
        if (ihl < 20 || tot < ihl + 8 || 14 + tot > len || 14 + tot > sizeof tx) goto next;
        uint8_t *icmp = f + 14 + ihl;
        if (icmp[0] == 8) {
          memcpy(tx, f + 6, 6);
          memcpy(tx + 6, mac, 6);
          memcpy(tx + 12, f + 12, 14 + tot - 12);
          memcpy(tx + 26, f + 30, 4);
          memcpy(tx + 30, f + 26, 4);
          tx[22] = 64;
          tx[24] = tx[25] = 0;
          uint16_t c = csum(tx + 14, ihl);
          tx[24] = (uint8_t)(c >> 8);
          tx[25] = (uint8_t)c;
          uint8_t *ri = tx + 14 + ihl;
          ri[0] = 0;
          ri[2] = ri[3] = 0;
          c = csum(ri, tot - ihl);
          ri[2] = (uint8_t)(c >> 8);
          ri[3] = (uint8_t)c;
          if (send(fd, tx, 14 + tot, MSG_DONTWAIT) > 0) replies++;
        }
      }
    }
  next:
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    cur = (cur + 1) % req.tp_frame_nr;
  }
  printf("%lu replies\n", replies);
  return 0;
}
