/* loadgen: the benchmark's WebSocket load generator (bench/scenarios.py builds and runs it).
 *
 * One thread, one epoll loop, no libraries. It opens the sockets described on stdin
 * (RFC 6455 client: HTTP/1.1 upgrade, masked client frames with a zero mask key, unmasked
 * server frames with 7/16/64-bit lengths, pings answered, close codes recorded), lets the
 * sending sockets send text messages, and prints one JSON object on stdout at the end.
 *
 * stdin: "key value" lines, then one "conn USER TOKEN DST" line per socket (DST > 0: this
 * socket sends to DST with `cmd`; 0: it only receives). Keys (defaults in `cfg`):
 *   port P, path /chat, since S (-1: none), cmd 10|11, window W (unacked per sender),
 *   rate R (messages/s over all senders, 0: as fast as the window allows), count N (per
 *   sender, 0: no limit), duration D and warmup T (seconds: measure [T, T+D] after the
 *   first send; 0: count mode), expect E (message frames each receiver must get),
 *   conc C (handshakes at once), naddr A (source addresses 127.0.0.1 ..), size Z (content
 *   characters), hold 1 (after connecting print "#ready" and wait for a stdin line),
 *   allow_close 1 (a close by the server is counted, not fatal), timeout S, drain S.
 * The send time (CLOCK_MONOTONIC ns) travels in the content ("t=NS s=SEQ ..."); latency is
 * taken on receipt. Lines starting with '#' on stdout are progress marks for the driver:
 * "#measure" at the start and "#end" at the end of the measured window.
 * Exit status 1 with {"error": ...} on a protocol error, a refused frame (cmd 13), a failed
 * handshake, an unexpected close or a timeout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSED };

typedef struct {
    int fd, state, user, dst;
    char *token;
    char *in; size_t in_len;           /* leftover of a partial frame / header */
    char *out; size_t out_len, out_cap; /* bytes not yet taken by the kernel */
    int dirty;                         /* on the flush list */
    int64_t seq, acked, inflight, acked_win, recv, recv_win, recv_ids_bad, gaps, disorder;
    int64_t last_seq, last_id, t_done;
    int close_code;
} conn_t;

static struct {
    int port, since, cmd, window, count, expect, conc, naddr, size, hold, allow_close;
    double rate, duration, warmup, timeout, drain;
    char path[256];
} cfg = {8088, -1, 10, 16, 0, 0, 200, 8, 64, 0, 0, 0, 0, 0, 120, 10, "/chat"};

static conn_t *conns;
static int nconns, nsenders, *senders, epfd;
static int *flush_list, nflush;
static char *rbuf;
#define RBUF (4 << 20)
static int64_t t_start, t_connected, t_send, t_win0, t_win1, t_lastrecv;
static uint32_t *lat; static size_t nlat, caplat; /* microseconds, measured deliveries */
static int64_t closes[5000], close_other, connected, opened_total, hs_inflight, next_conn;
static int64_t total_sent, total_acked, total_recv, total_recv_win, total_acked_win, nrecv_done, nreceivers;
static int64_t refused;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '"') *p = '\''; else if (*p == '\\' || (unsigned char)*p < 32) *p = ' ';
    printf("{\"error\": \"%s\", \"connected\": %ld, \"sent\": %ld, \"acked\": %ld, \"received\": %ld}\n",
           msg, (long)connected, (long)total_sent, (long)total_acked, (long)total_recv);
    fflush(stdout);
    exit(1);
}

static void out_append(conn_t *c, const char *data, size_t n) {
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2 + 256;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out) fail("out of memory");
    }
    memcpy(c->out + c->out_len, data, n);
    c->out_len += n;
    if (!c->dirty) { c->dirty = 1; flush_list[nflush++] = (int)(c - conns); }
}

/* A masked client frame; the mask key is 0, so the payload goes as it is (RFC 6455 5.3
 * only asks that a key be there). */
static void send_frame(conn_t *c, int opcode, const char *payload, size_t n) {
    unsigned char h[14];
    size_t hl = 2;
    h[0] = 0x80 | opcode;
    if (n < 126) h[1] = 0x80 | n;
    else if (n < 65536) { h[1] = 0x80 | 126; h[2] = n >> 8; h[3] = n & 255; hl = 4; }
    else { h[1] = 0x80 | 127; for (int i = 0; i < 8; i++) h[2 + i] = (n >> (56 - 8 * i)) & 255; hl = 10; }
    memset(h + hl, 0, 4);
    out_append(c, (char *)h, hl + 4);
    out_append(c, payload, n);
}

static void flush_conn(conn_t *c) {
    while (c->out_len) {
        ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) break;
            if (cfg.allow_close) { c->out_len = 0; break; }
            fail("send to socket of user %d: %s", c->user, strerror(errno));
        }
        memmove(c->out, c->out + w, c->out_len - w);
        c->out_len -= w;
    }
    struct epoll_event ev = {.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0), .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush_all(void) {
    for (int i = 0; i < nflush; i++) {
        conn_t *c = &conns[flush_list[i]];
        c->dirty = 0;
        if (c->state == ST_OPEN || c->state == ST_HANDSHAKE) flush_conn(c);
    }
    nflush = 0;
}

static void send_message(conn_t *c) {
    char p[8192];
    int64_t t = now_ns();
    int n = snprintf(p, sizeof p, "{\"cmd\":%d,\"dstid\":%d,\"media\":1,\"content\":\"t=%ld s=%ld ", cfg.cmd,
                     c->dst, (long)t, (long)c->seq);
    int pad = cfg.size - (n - (int)(strstr(p, "t=") - p));
    for (int i = 0; i < pad && n < (int)sizeof p - 64; i++) p[n++] = 'x';
    n += snprintf(p + n, sizeof p - n, "\",\"cmid\":\"%d-%ld\"}", (int)(c - conns), (long)c->seq);
    c->seq++;
    c->inflight++;
    total_sent++;
    send_frame(c, 1, p, n);
}

static int in_window(int64_t t) { return cfg.duration <= 0 || (t >= t_win0 && t < t_win1); }

static int sending_done(conn_t *c) { return cfg.count && c->seq >= cfg.count; }

static void fill_window(conn_t *c) {
    if (cfg.rate > 0 || c->state != ST_OPEN) return;
    if (cfg.duration > 0 && t_win1 && now_ns() >= t_win1) return;
    while (c->inflight < cfg.window && !sending_done(c)) send_message(c);
}

/* The value after "key": (optional spaces), or -1: chatd writes orjson ("cmd":12), the
 * relay stdlib json ("cmd": 12). */
static int64_t json_int(const char *p, size_t n, const char *key, size_t keylen) {
    const char *q = memmem(p, n, key, keylen);
    if (!q) return -1;
    q += keylen;
    const char *end = p + n;
    while (q < end && (*q == ' ' || *q == ':')) q++;
    if (q >= end || *q < '0' || *q > '9') return -1;
    int64_t v = 0;
    while (q < end && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
    return v;
}

static void on_text(conn_t *c, const char *p, size_t n) {
    int64_t cmd = json_int(p, n, "\"cmd\"", 5);
    int64_t t = now_ns();
    if (cmd == 12) {
        c->acked++; c->inflight--; total_acked++;
        if (in_window(t)) { c->acked_win++; total_acked_win++; }
        fill_window(c);
    } else if (cmd == 13) {
        refused++;
        fail("server refused a frame of user %d: %.*s", c->user, (int)(n > 300 ? 300 : n), p);
    } else if (cmd == 10 || cmd == 11) {
        int64_t sent = json_int(p, n, "t=", 2), seq = json_int(p, n, "s=", 2), id = json_int(p, n, "\"id\"", 4);
        if (sent < 0 || seq < 0) return; /* not ours (a system message) */
        if (id >= 0) {
            if (id <= c->last_id) c->recv_ids_bad++;
            c->last_id = id;
        }
        if (seq != c->last_seq + 1) {
            if (seq <= c->last_seq) c->disorder++; else c->gaps++;
        }
        if (seq > c->last_seq) c->last_seq = seq;
        c->recv++; total_recv++; t_lastrecv = t;
        if (in_window(t)) {
            c->recv_win++; total_recv_win++;
            if (nlat == caplat) {
                caplat = caplat ? caplat * 2 : 1 << 16;
                lat = realloc(lat, caplat * sizeof *lat);
                if (!lat) fail("out of memory");
            }
            int64_t us = (t - sent) / 1000;
            lat[nlat++] = us > 0xffffffffLL ? 0xffffffffU : (uint32_t)us;
        }
        if (cfg.expect && c->recv == cfg.expect) { c->t_done = t; nrecv_done++; }
    }
}

static void conn_closed(conn_t *c, int code, const char *why) {
    if (c->state == ST_CLOSED) return;
    if (!cfg.allow_close)
        fail("server closed the socket of user %d (code %d, %s) after %ld messages received", c->user, code, why,
             (long)c->recv);
    c->state = ST_CLOSED;
    c->close_code = code;
    if (code >= 0 && code < 5000) closes[code]++; else close_other++;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    connected--;
}

/* Parse whole frames from p[0..n); returns how many bytes were used. */
static size_t parse_frames(conn_t *c, char *p, size_t n) {
    size_t off = 0;
    while (n - off >= 2 && c->state == ST_OPEN) {
        unsigned char *h = (unsigned char *)p + off;
        int op = h[0] & 15;
        uint64_t len = h[1] & 127;
        size_t hl = 2;
        if (h[1] & 0x80) fail("server frame is masked (user %d)", c->user);
        if (len == 126) { if (n - off < 4) break; len = (h[2] << 8) | h[3]; hl = 4; }
        else if (len == 127) {
            if (n - off < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = (len << 8) | h[2 + i];
            hl = 10;
        }
        if (len > RBUF / 2) fail("server frame of %lu bytes is too large", (unsigned long)len);
        if (n - off < hl + len) break;
        char *pl = p + off + hl;
        if (!(h[0] & 0x80) || op == 0) fail("fragmented server frame (user %d): not supported", c->user);
        if (op == 1 || op == 2) on_text(c, pl, len);
        else if (op == 9) send_frame(c, 10, pl, len);
        else if (op == 8) {
            int code = len >= 2 ? ((unsigned char)pl[0] << 8) | (unsigned char)pl[1] : 1005;
            char why[128];
            snprintf(why, sizeof why, "%.*s", len > 2 ? (int)(len - 2 > 100 ? 100 : len - 2) : 0, pl + 2);
            conn_closed(c, code, why);
        }
        off += hl + len;
    }
    return off;
}

static void start_connect(int i) {
    conn_t *c = &conns[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) fail("socket(): %s (connection %d)", strerror(errno), i);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001 + i % cfg.naddr)};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) fail("bind 127.0.0.%d: %s", 1 + i % cfg.naddr, strerror(errno));
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons(cfg.port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS)
        fail("connect (connection %d): %s", i, strerror(errno));
    c->fd = fd;
    c->state = ST_CONNECTING;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    hs_inflight++;
}

static void send_handshake(conn_t *c) {
    char req[1024];
    char since[32] = "";
    if (cfg.since >= 0) snprintf(since, sizeof since, "&since=%d", cfg.since);
    int n = snprintf(req, sizeof req,
                     "GET %s?id=%d%s%s%s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     cfg.path, c->user, c->token[0] ? "&token=" : "", c->token, since, cfg.port);
    c->state = ST_HANDSHAKE;
    out_append(c, req, n);
}

static void on_open(conn_t *c) {
    c->state = ST_OPEN;
    connected++;
    opened_total++;
    hs_inflight--;
}

static void on_readable(conn_t *c) {
    for (;;) {
        size_t have = c->in_len;
        if (have) memcpy(rbuf, c->in, have);
        ssize_t r = recv(c->fd, rbuf + have, RBUF - have, 0);
        if (r == 0) {
            if (c->state == ST_HANDSHAKE) fail("server closed the connection during the handshake (user %d)", c->user);
            conn_closed(c, 1006, "EOF without a close frame");
            return;
        }
        if (r < 0) {
            if (errno == EAGAIN) return;
            if (c->state == ST_HANDSHAKE || c->state == ST_CONNECTING)
                fail("connection %d (user %d): %s", (int)(c - conns), c->user, strerror(errno));
            conn_closed(c, 1006, strerror(errno));
            return;
        }
        size_t n = have + r, used = 0;
        if (c->state == ST_HANDSHAKE) {
            char *end = memmem(rbuf, n, "\r\n\r\n", 4);
            if (!end) goto keep;
            if (n < 12 || memcmp(rbuf, "HTTP/1.1 101", 12) != 0) {
                char *eol = memchr(rbuf, '\r', n);
                fail("handshake of user %d refused: %.*s", c->user, (int)(eol ? eol - rbuf : 40), rbuf);
            }
            used = end + 4 - rbuf;
            on_open(c);
        }
        used += parse_frames(c, rbuf + used, n - used);
        if (c->state == ST_CLOSED) return;
    keep:
        c->in_len = n - used;
        if (c->in_len) {
            c->in = realloc(c->in, c->in_len);
            memcpy(c->in, rbuf + used, c->in_len);
        } else {
            free(c->in);
            c->in = NULL;
        }
        if ((size_t)r < RBUF - have) return; /* drained the socket */
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}
static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}
static double pct_u32(uint32_t *v, size_t n, double q) {
    if (!n) return -1;
    size_t r = (size_t)(q / 100 * n + 0.5);
    if (r < 1) r = 1;
    if (r > n) r = n;
    return v[r - 1] / 1000.0;
}

static void read_config(void) {
    char line[4096], key[64], a[512], b[200];
    int cap = 1024;
    conns = calloc(cap, sizeof *conns);
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "%63s", key) != 1) continue;
        if (!strcmp(key, "go")) break;
        if (!strcmp(key, "conn")) {
            int user, dst;
            a[0] = 0;
            if (sscanf(line, "conn %d %511s %d", &user, a, &dst) != 3) fail("bad conn line: %s", line);
            if (nconns == cap) { cap *= 2; conns = realloc(conns, cap * sizeof *conns); }
            conn_t *c = &conns[nconns++];
            memset(c, 0, sizeof *c);
            c->user = user; c->dst = dst; c->fd = -1; c->last_seq = -1;
            c->token = strdup(strcmp(a, "-") ? a : "");
            continue;
        }
        if (sscanf(line, "%*s %199s", b) != 1) fail("bad config line: %s", line);
        double v = atof(b);
        if (!strcmp(key, "port")) cfg.port = v; else if (!strcmp(key, "since")) cfg.since = v;
        else if (!strcmp(key, "cmd")) cfg.cmd = v; else if (!strcmp(key, "window")) cfg.window = v;
        else if (!strcmp(key, "rate")) cfg.rate = v; else if (!strcmp(key, "count")) cfg.count = v;
        else if (!strcmp(key, "duration")) cfg.duration = v; else if (!strcmp(key, "warmup")) cfg.warmup = v;
        else if (!strcmp(key, "expect")) cfg.expect = v; else if (!strcmp(key, "conc")) cfg.conc = v;
        else if (!strcmp(key, "naddr")) cfg.naddr = v; else if (!strcmp(key, "size")) cfg.size = v;
        else if (!strcmp(key, "hold")) cfg.hold = v; else if (!strcmp(key, "allow_close")) cfg.allow_close = v;
        else if (!strcmp(key, "timeout")) cfg.timeout = v; else if (!strcmp(key, "drain")) cfg.drain = v;
        else if (!strcmp(key, "path")) snprintf(cfg.path, sizeof cfg.path, "%s", b);
        else fail("unknown config key %s", key);
    }
    if (!nconns) fail("no conn lines on stdin");
    senders = malloc(nconns * sizeof *senders);
    for (int i = 0; i < nconns; i++) {
        if (conns[i].dst) senders[nsenders++] = i;
        else nreceivers++;
    }
}

static void raise_nofile(void) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = nconns + 64;
    if (rl.rlim_max < want) { /* root (CAP_SYS_RESOURCE) may raise the hard limit too */
        struct rlimit up = {want, want};
        if (setrlimit(RLIMIT_NOFILE, &up) == 0) return;
    }
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_max < want) fail("RLIMIT_NOFILE hard limit %lu is below the %d sockets asked for", (unsigned long)rl.rlim_max, nconns);
}

static void event_loop_until(int (*done)(void), int64_t deadline, const char *what) {
    struct epoll_event evs[1024];
    int64_t next_tick = now_ns();
    double gap_ns = cfg.rate > 0 ? 1e9 / cfg.rate : 0;
    int rr = 0;
    while (!done()) {
        int64_t t = now_ns();
        if (t > deadline) fail("timed out %s", what);
        /* rate mode: one message every 1/rate s, round robin over the senders */
        if (gap_ns && t_send && what[0] == 's') {
            while (next_tick <= t && !(cfg.duration > 0 && t >= t_win1)) {
                conn_t *c = &conns[senders[rr++ % nsenders]];
                if (c->state == ST_OPEN && c->inflight < cfg.window && !sending_done(c)) send_message(c);
                next_tick += (int64_t)gap_ns;
            }
        }
        /* bounded concurrent handshakes */
        while (next_conn < nconns && hs_inflight < cfg.conc) start_connect(next_conn++);
        flush_all();
        int timeout_ms = 50;
        if (gap_ns && t_send) {
            /* rounded up: a send up to 1 ms late costs nothing (its time is taken when it
             * goes), a busy loop would cost this process's CPU share */
            int64_t ms = (next_tick - now_ns() + 999999) / 1000000;
            timeout_ms = ms < 0 ? 0 : ms > 50 ? 50 : (int)ms;
        }
        int n = epoll_wait(epfd, evs, 1024, timeout_ms);
        for (int k = 0; k < n; k++) {
            conn_t *c = &conns[evs[k].data.u32];
            if (c->state == ST_CLOSED) continue;
            if (c->state == ST_CONNECTING && (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0; socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) fail("connect (connection %d, user %d): %s", (int)(c - conns), c->user, strerror(err));
                send_handshake(c);
            }
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
            if (c->state != ST_CLOSED && (evs[k].events & EPOLLOUT) && c->out_len && !c->dirty) {
                c->dirty = 1; flush_list[nflush++] = (int)(c - conns);
            }
        }
        flush_all();
        int64_t t2 = now_ns();
        if (cfg.duration > 0 && t_send) {
            static int marked0, marked1;
            if (!marked0 && t2 >= t_win0) { marked0 = 1; printf("#measure\n"); fflush(stdout); }
            if (!marked1 && t2 >= t_win1) { marked1 = 1; printf("#end\n"); fflush(stdout); }
        }
    }
}

static int all_open(void) { return opened_total == nconns; }
static int sends_done(void) {
    int64_t t = now_ns();
    if (cfg.duration > 0) {
        if (t < t_win1) return 0;
        if (t >= t_win1 + (int64_t)(cfg.drain * 1e9)) return 1; /* leftovers still in flight */
        for (int i = 0; i < nsenders; i++)
            if (conns[senders[i]].inflight && conns[senders[i]].state == ST_OPEN) return 0;
        return 1;
    }
    for (int i = 0; i < nsenders; i++) {
        conn_t *c = &conns[senders[i]];
        if (c->state == ST_OPEN && (c->acked < cfg.count || !cfg.count)) return 0;
    }
    if (cfg.expect) {
        int64_t live = 0;
        for (int i = 0; i < nconns; i++)
            if (!conns[i].dst && conns[i].state == ST_OPEN && conns[i].recv < cfg.expect) live++;
        if (live) return 0;
    }
    return 1;
}

int main(void) {
    read_config();
    raise_nofile();
    rbuf = malloc(RBUF);
    flush_list = malloc(nconns * sizeof *flush_list);
    epfd = epoll_create1(0);
    int64_t deadline = now_ns() + (int64_t)(cfg.timeout * 1e9);
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    t_start = now_ns();
    event_loop_until(all_open, deadline, "connecting");
    t_connected = now_ns();
    if (cfg.hold) {
        char line[64];
        printf("#ready\n");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin)) {}
        deadline = now_ns() + (int64_t)(cfg.timeout * 1e9);
    }
    int64_t cpu_conn = 0;
    {
        struct rusage r; getrusage(RUSAGE_SELF, &r);
        cpu_conn = (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000LL + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
    }
    t_send = now_ns();
    if (cfg.duration > 0) {
        t_win0 = t_send + (int64_t)(cfg.warmup * 1e9);
        t_win1 = t_win0 + (int64_t)(cfg.duration * 1e9);
    }
    if (nsenders || cfg.expect) {
        for (int i = 0; i < nsenders; i++) fill_window(&conns[senders[i]]);
        event_loop_until(sends_done, deadline, "sending and receiving");
    }
    int64_t t_end = now_ns();
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    double cpu_send = cpu - (cpu_conn - ((ru0.ru_utime.tv_sec + ru0.ru_stime.tv_sec) * 1000000LL + ru0.ru_utime.tv_usec + ru0.ru_stime.tv_usec)) / 1e6;

    qsort(lat, nlat, sizeof *lat, cmp_u32);
    int64_t *per = malloc((nconns + 1) * sizeof *per);
    int np = 0;
    for (int i = 0; i < nsenders; i++) per[np++] = conns[senders[i]].acked_win;
    qsort(per, np, sizeof *per, cmp_i64);
    double win = cfg.duration > 0 ? cfg.duration : (t_end - t_send) / 1e9;
    double s_min = np ? per[0] / win : 0, s_med = np ? per[np / 2] / win : 0, s_max = np ? per[np - 1] / win : 0;
    int64_t gaps = 0, disorder = 0, ids_bad = 0, complete = 0, rmin = -1, t_done_max = 0;
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (c->dst) continue;
        gaps += c->gaps; disorder += c->disorder; ids_bad += c->recv_ids_bad;
        if (cfg.expect && c->recv >= cfg.expect) complete++;
        if (rmin < 0 || c->recv_win < rmin) rmin = c->recv_win;
        if (c->t_done > t_done_max) t_done_max = c->t_done;
    }
    printf("{\"conns\": %d, \"senders\": %d, \"connect_s\": %.4f, \"send_s\": %.4f, \"window_s\": %.3f, ",
           nconns, nsenders, (t_connected - t_start) / 1e9, (t_end - t_send) / 1e9, win);
    printf("\"sent\": %ld, \"acked\": %ld, \"acked_win\": %ld, \"received\": %ld, \"received_win\": %ld, ",
           (long)total_sent, (long)total_acked, (long)total_acked_win, (long)total_recv, (long)total_recv_win);
    printf("\"lat_n\": %zu, \"lat_p50_ms\": %.3f, \"lat_p90_ms\": %.3f, \"lat_p99_ms\": %.3f, \"lat_max_ms\": %.3f, ",
           nlat, pct_u32(lat, nlat, 50), pct_u32(lat, nlat, 90), pct_u32(lat, nlat, 99), nlat ? lat[nlat - 1] / 1000.0 : -1);
    printf("\"sender_rate_min\": %.2f, \"sender_rate_median\": %.2f, \"sender_rate_max\": %.2f, ", s_min, s_med, s_max);
    printf("\"receiver_win_min\": %ld, \"gaps\": %ld, \"disorder\": %ld, \"ids_not_ascending\": %ld, ",
           (long)rmin, (long)gaps, (long)disorder, (long)ids_bad);
    printf("\"receivers\": %ld, \"receivers_complete\": %ld, \"complete_s\": %.4f, \"last_receive_s\": %.4f, ",
           (long)nreceivers, (long)complete, t_done_max ? (t_done_max - t_send) / 1e9 : -1.0,
           t_lastrecv ? (t_lastrecv - t_send) / 1e9 : -1.0);
    printf("\"since_connect_start_s\": %.4f, ", t_done_max ? (t_done_max - t_start) / 1e9 : -1.0);
    printf("\"open_at_end\": %ld, \"closes\": {", (long)connected);
    int first = 1;
    for (int k = 0; k < 5000; k++)
        if (closes[k]) { printf("%s\"%d\": %ld", first ? "" : ", ", k, (long)closes[k]); first = 0; }
    if (close_other) printf("%s\"other\": %ld", first ? "" : ", ", (long)close_other);
    printf("}, \"cpu_s\": %.3f, \"cpu_send_s\": %.3f, \"wall_s\": %.3f}\n", cpu, cpu_send, (t_end - t_start) / 1e9);
    fflush(stdout);
    return 0;
}
