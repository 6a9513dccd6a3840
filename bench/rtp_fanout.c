/*
 * The senders and receivers of the forwarding benchmark (bench/forward.ts), in one process of
 * their own, so that what they cost does not depend on the server under test and both servers
 * get the same traffic: S senders send plain RTP VP8 at a real-time pace (frames of a fixed
 * number of packets, a keyframe every 2 s and on a PLI), R receivers take what reaches them.
 * Every packet carries, at the end of its payload, the sender's index, a packet counter and
 * the send time (CLOCK_MONOTONIC), so that a receiver matches it whatever the server did to
 * its RTP header (SSRC, sequence number, header extensions).
 *
 * Commands on stdin, one per line (bench/forward.ts writes them):
 *   open S R                      opens S sender and R receiver sockets on 127.0.0.1 and
 *                                 prints "ports s1 .. sS | r1 .. rR"
 *   server PORT                   the server's UDP port, for binds
 *   dest I PORT                   sender I sends its RTP to 127.0.0.1:PORT
 *   ssrc I SSRC                   sender I's SSRC
 *   bind s|r I MEDIAKEY MEETINGID the socket binds to its seat with MEET-BIND (our server)
 *   run WARMUP_S WINDOW_S FPS PACKETS_PER_FRAME PAYLOAD_BYTES
 * On `run` it binds what it was told to (and renews every 2.5 s), sends for WARMUP_S +
 * WINDOW_S, prints "window" when the window starts and "end" when it ends, waits 0.5 s for
 * the window's last packets, and prints one JSON line: packets sent in the window, received
 * by each receiver, and their delay (receive time - send time) percentiles in microseconds.
 *
 * Build: gcc -O2 -o rtp_fanout bench/rtp_fanout.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SENDERS 16
#define MAX_RECEIVERS 256
#define BATCH 64
#define SLOT 2048
#define MAGIC 0x464e4f54u /* "FNOT" */
#define TAIL 20
#define HIST_US 1000000 /* delays up to 1 s, 1 us buckets */

typedef struct {
  int fd;
  int port;
  char key[80], meeting[80], nonce[80];
  int bind; /* 0 none, 1 asked, 2 bound */
} sock_t;

static sock_t senders[MAX_SENDERS], receivers[MAX_RECEIVERS];
static int n_senders, n_receivers, server_port;
static int dest_port[MAX_SENDERS];
static uint32_t ssrc[MAX_SENDERS];
static int want_keyframe[MAX_SENDERS];
static uint32_t *hist; /* delay histogram of the window's packets */
static uint64_t sent_in_window[MAX_SENDERS];
static uint64_t received[MAX_RECEIVERS][MAX_SENDERS];
static uint64_t window_start_ns, window_end_ns;
static uint64_t late; /* delays over 1 s */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int open_socket(int *port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int size = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) return -1;
  socklen_t len = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &len);
  *port = ntohs(a.sin_port);
  return fd;
}

static void send_to(int fd, const void *bytes, size_t len, int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sendto(fd, bytes, len, 0, (struct sockaddr *)&a, sizeof a);
}

static void send_bind(sock_t *s) {
  char text[300];
  int n = s->nonce[0]
              ? snprintf(text, sizeof text, "MEET-BIND %s %s %s", s->key, s->meeting, s->nonce)
              : snprintf(text, sizeof text, "MEET-BIND %s %s", s->key, s->meeting);
  send_to(s->fd, text, n, server_port);
  if (s->bind == 0) s->bind = 1;
}

/* A MEET-CHECK or MEET-BOUND answer: keep the nonce; answer a check. */
static void on_text(sock_t *s, const char *bytes, int len) {
  char text[300];
  if (len >= (int)sizeof text) return;
  memcpy(text, bytes, len);
  text[len] = 0;
  if (strncmp(text, "MEET-CHECK ", 11) == 0) {
    snprintf(s->nonce, sizeof s->nonce, "%.79s", text + 11);
    send_bind(s);
  } else if (strncmp(text, "MEET-BOUND ", 11) == 0) {
    const char *space = strchr(text + 11, ' ');
    if (space) snprintf(s->nonce, sizeof s->nonce, "%.79s", space + 1);
    s->bind = 2;
  }
}

/* An RTCP PLI (PT 206, FMT 1) to a sender: its next frame is a keyframe. */
static void on_sender_datagram(int i, const uint8_t *b, int len) {
  if (len >= 4 && b[0] == 'M') {
    on_text(&senders[i], (const char *)b, len);
    return;
  }
  int at = 0;
  while (at + 4 <= len) {
    int words = (b[at + 2] << 8) | b[at + 3];
    if ((b[at] >> 6) != 2) break;
    if (b[at + 1] == 206 && (b[at] & 0x1f) == 1) want_keyframe[i] = 1;
    at += 4 * (words + 1);
  }
}

static void on_receiver_datagram(int r, const uint8_t *b, int len, uint64_t now) {
  if (len >= 4 && b[0] == 'M') {
    on_text(&receivers[r], (const char *)b, len);
    return;
  }
  if (len < 12 + TAIL || (b[0] >> 6) != 2) return;
  int pt = b[1] & 0x7f;
  if (pt >= 64 && pt <= 95) return; /* RTCP */
  const uint8_t *t = b + len - TAIL;
  uint32_t magic, index;
  uint64_t sent;
  memcpy(&magic, t, 4);
  if (magic != MAGIC) return;
  memcpy(&index, t + 4, 4);
  memcpy(&sent, t + 12, 8);
  if (index >= (uint32_t)n_senders || sent < window_start_ns || sent >= window_end_ns) return;
  received[r][index]++;
  uint64_t us = (now - sent) / 1000;
  if (us < HIST_US) hist[us]++;
  else late++;
}

static struct mmsghdr msgs[BATCH];
static struct iovec iovs[BATCH];
static uint8_t slots[BATCH][SLOT];

static void drain(sock_t *s, int index, int is_sender) {
  for (;;) {
    for (int i = 0; i < BATCH; i++) {
      iovs[i].iov_base = slots[i];
      iovs[i].iov_len = SLOT;
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = NULL;
      msgs[i].msg_hdr.msg_namelen = 0;
    }
    int n = recvmmsg(s->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    uint64_t now = now_ns();
    for (int i = 0; i < n; i++) {
      if (is_sender) on_sender_datagram(index, slots[i], msgs[i].msg_len);
      else on_receiver_datagram(index, slots[i], msgs[i].msg_len, now);
    }
    if (n < BATCH) return;
  }
}

/* One frame of sender i: PACKETS packets of PAYLOAD bytes, the last with the marker. */
static void send_frame(int i, int packets, int payload, uint16_t *seq, uint32_t timestamp,
                       uint32_t *counter, int keyframe) {
  static uint8_t packet[SLOT];
  for (int p = 0; p < packets; p++) {
    int len = 12 + payload;
    memset(packet, 0, len);
    packet[0] = 0x80;
    packet[1] = 96 | (p == packets - 1 ? 0x80 : 0);
    packet[2] = *seq >> 8;
    packet[3] = *seq & 0xff;
    (*seq)++;
    uint32_t ts = htonl(timestamp), ss = htonl(ssrc[i]);
    memcpy(packet + 4, &ts, 4);
    memcpy(packet + 8, &ss, 4);
    uint8_t *vp8 = packet + 12;
    vp8[0] = p == 0 ? 0x10 : 0x00; /* payload descriptor: S bit on the first packet */
    if (p == 0) {
      vp8[1] = keyframe ? 0x00 : 0x01; /* frame tag: bit 0 clear = keyframe */
      if (keyframe) {
        vp8[4] = 0x9d, vp8[5] = 0x01, vp8[6] = 0x2a; /* start code */
        vp8[7] = 0x80, vp8[8] = 0x02, vp8[9] = 0x68, vp8[10] = 0x01; /* 640 x 360 */
      }
    }
    uint8_t *t = packet + len - TAIL;
    uint32_t magic = MAGIC, index = i;
    uint64_t sent = now_ns();
    memcpy(t, &magic, 4);
    memcpy(t + 4, &index, 4);
    memcpy(t + 8, counter, 4);
    memcpy(t + 12, &sent, 8);
    (*counter)++;
    send_to(senders[i].fd, packet, len, dest_port[i]);
    if (sent >= window_start_ns && sent < window_end_ns) sent_in_window[i]++;
  }
}

static double percentile(uint64_t total, double q) {
  if (total == 0) return -1;
  uint64_t want = (uint64_t)(q * (double)total), seen = 0;
  for (int us = 0; us < HIST_US; us++) {
    seen += hist[us];
    if (seen > want) return us;
  }
  return HIST_US;
}

static double cpu_ms(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000.0 +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1000.0;
}

static void run(double warmup_s, double window_s, int fps, int packets, int payload) {
  if (payload < TAIL + 12) payload = TAIL + 12;
  if (payload > SLOT - 12) payload = SLOT - 12;
  hist = calloc(HIST_US, sizeof *hist);
  struct pollfd fds[MAX_SENDERS + MAX_RECEIVERS];
  int nfds = 0;
  for (int i = 0; i < n_senders; i++) fds[nfds++] = (struct pollfd){senders[i].fd, POLLIN, 0};
  for (int r = 0; r < n_receivers; r++) fds[nfds++] = (struct pollfd){receivers[r].fd, POLLIN, 0};

  /* Binds first (our server), with a deadline of 10 s. */
  uint64_t start = now_ns(), last_try = 0;
  for (;;) {
    int pending = 0;
    for (int i = 0; i < n_senders; i++) pending += senders[i].bind == 1;
    for (int r = 0; r < n_receivers; r++) pending += receivers[r].bind == 1;
    if (!pending) break;
    if (now_ns() - start > 10000000000ull) {
      printf("{\"error\":\"%d sockets not bound in 10 s\"}\n", pending);
      fflush(stdout);
      exit(1);
    }
    if (now_ns() - last_try > 500000000ull) { /* ask again what got no answer */
      last_try = now_ns();
      for (int i = 0; i < n_senders; i++)
        if (senders[i].bind == 1) send_bind(&senders[i]);
      for (int r = 0; r < n_receivers; r++)
        if (receivers[r].bind == 1) send_bind(&receivers[r]);
    }
    poll(fds, nfds, 20);
    for (int i = 0; i < n_senders; i++) drain(&senders[i], i, 1);
    for (int r = 0; r < n_receivers; r++) drain(&receivers[r], r, 0);
  }

  uint64_t t0 = now_ns();
  window_start_ns = t0 + (uint64_t)(warmup_s * 1e9);
  window_end_ns = window_start_ns + (uint64_t)(window_s * 1e9);
  uint64_t stop = window_end_ns + 500000000ull;
  uint64_t frame_ns = 1000000000ull / fps, next_renew = t0 + 2500000000ull;
  uint64_t next_frame[MAX_SENDERS];
  uint16_t seq[MAX_SENDERS];
  uint32_t counter[MAX_SENDERS], frames[MAX_SENDERS];
  for (int i = 0; i < n_senders; i++) {
    next_frame[i] = t0 + frame_ns * i / n_senders; /* spread over a frame interval */
    seq[i] = (uint16_t)(i * 1000);
    counter[i] = 0;
    frames[i] = 0;
    want_keyframe[i] = 1;
  }
  int said_window = 0, said_end = 0;
  double cpu0 = 0, cpu1 = 0;
  for (;;) {
    uint64_t now = now_ns();
    if (!said_window && now >= window_start_ns) {
      said_window = 1;
      cpu0 = cpu_ms();
      printf("window\n");
      fflush(stdout);
    }
    if (!said_end && now >= window_end_ns) {
      said_end = 1;
      cpu1 = cpu_ms();
      printf("end\n");
      fflush(stdout);
    }
    if (now >= stop) break;
    if (now >= next_renew) {
      next_renew += 2500000000ull;
      for (int i = 0; i < n_senders; i++)
        if (senders[i].bind) send_bind(&senders[i]);
      for (int r = 0; r < n_receivers; r++)
        if (receivers[r].bind) send_bind(&receivers[r]);
    }
    uint64_t soonest = stop;
    for (int i = 0; i < n_senders; i++) {
      if (now >= next_frame[i] && now < window_end_ns) {
        int key = want_keyframe[i] || frames[i] % (uint32_t)(2 * fps) == 0;
        want_keyframe[i] = 0;
        send_frame(i, packets, payload, &seq[i], frames[i] * (90000 / fps), &counter[i], key);
        frames[i]++;
        next_frame[i] += frame_ns;
      }
      if (next_frame[i] < soonest) soonest = next_frame[i];
    }
    uint64_t wait = soonest > now ? soonest - now : 0;
    struct timespec timeout = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
    if (ppoll(fds, nfds, &timeout, NULL) > 0) {
      for (int k = 0; k < nfds; k++) {
        if (!(fds[k].revents & POLLIN)) continue;
        if (k < n_senders) drain(&senders[k], k, 1);
        else drain(&receivers[k - n_senders], k - n_senders, 0);
      }
    }
  }

  uint64_t sent = 0, got = 0, total = late;
  for (int i = 0; i < n_senders; i++) sent += sent_in_window[i];
  for (int us = 0; us < HIST_US; us++) total += hist[us];
  printf("{\"windowSeconds\":%.3f,\"sent\":%llu,\"expected\":%llu,\"received\":[", window_s,
         (unsigned long long)sent, (unsigned long long)(sent * n_receivers));
  for (int r = 0; r < n_receivers; r++) {
    uint64_t sum = 0;
    for (int i = 0; i < n_senders; i++) sum += received[r][i];
    got += sum;
    printf("%s%llu", r ? "," : "", (unsigned long long)sum);
  }
  printf("],\"receivedTotal\":%llu,\"delayUs\":{\"p50\":%.0f,\"p99\":%.0f,\"p999\":%.0f,"
         "\"over1s\":%llu},\"harnessCpuMs\":%.1f}\n",
         (unsigned long long)got, percentile(total, 0.5), percentile(total, 0.99),
         percentile(total, 0.999), (unsigned long long)late, cpu1 - cpu0);
  fflush(stdout);
}

int main(void) {
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char kind[8], key[80], meeting[80];
    int a, b, c;
    double x, y;
    unsigned int u;
    if (sscanf(line, "open %d %d", &a, &b) == 2) {
      if (a < 1 || a > MAX_SENDERS || b < 1 || b > MAX_RECEIVERS) {
        fprintf(stderr, "open: 1-%d senders, 1-%d receivers\n", MAX_SENDERS, MAX_RECEIVERS);
        return 2;
      }
      n_senders = a;
      n_receivers = b;
      printf("ports");
      for (int i = 0; i < a; i++) {
        senders[i].fd = open_socket(&senders[i].port);
        printf(" %d", senders[i].port);
      }
      printf(" |");
      for (int r = 0; r < b; r++) {
        receivers[r].fd = open_socket(&receivers[r].port);
        printf(" %d", receivers[r].port);
      }
      printf("\n");
      fflush(stdout);
    } else if (sscanf(line, "server %d", &a) == 1) {
      server_port = a;
    } else if (sscanf(line, "dest %d %d", &a, &b) == 2 && a >= 0 && a < n_senders) {
      dest_port[a] = b;
    } else if (sscanf(line, "ssrc %d %u", &a, &u) == 2 && a >= 0 && a < n_senders) {
      ssrc[a] = u;
    } else if (sscanf(line, "bind %7s %d %79s %79s", kind, &a, key, meeting) == 4) {
      sock_t *s = kind[0] == 's' ? (a >= 0 && a < n_senders ? &senders[a] : NULL)
                                 : (a >= 0 && a < n_receivers ? &receivers[a] : NULL);
      if (!s) continue;
      snprintf(s->key, sizeof s->key, "%s", key);
      snprintf(s->meeting, sizeof s->meeting, "%s", meeting);
      send_bind(s);
    } else if (sscanf(line, "run %lf %lf %d %d %d", &x, &y, &a, &b, &c) == 5) {
      run(x, y, a < 1 ? 1 : a, b < 1 ? 1 : b, c);
      return 0;
    }
  }
  return 0;
}
