/* radload: a closed-loop RADIUS load generator cheap enough per request not to hold back the server it measures.
 *
 * Same behaviour as bench/loadgen.py (the Python generator, kept for comparison), in one thread of C:
 *   - N slots, one UDP socket (source port) per slot, one request outstanding per slot, identifier rotated
 *     per socket, so FreeRADIUS never sees a conflicting packet;
 *   - auth: PAP Access-Request (User-Name, User-Password, NAS-IP-Address, NAS-Port, Message-Authenticator),
 *     a random user per request, a fresh Request Authenticator; every reply's Response Authenticator checked,
 *     every 997th also its Message-Authenticator and Mikrotik-Rate-Limit;
 *   - acct: sessions Start -> Interim-Update -> Stop per slot, retransmitted --retries times like a NAS;
 *   - latency from CLOCK_MONOTONIC (the clock of Python's time.monotonic), CPU from getrusage, both over the
 *     measured window only.
 *
 * Driven by bench/cloadgen.py: it prints "ready" once its sockets are open, reads the start time (monotonic
 * seconds) on stdin, runs, writes the window's latencies (float64 seconds) to --latencies and one JSON line of
 * counts on stdout. The NAS secret comes in the environment (RADLOAD_SECRET), never on the command line.
 *
 *   RADLOAD_SECRET=s bench/radload --mode auth --port 1812 --users users.tsv --slots 32 --seconds 10
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/md5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ACCESS_REQUEST = 1, ACCESS_ACCEPT = 2, ACCESS_REJECT = 3, ACCOUNTING_REQUEST = 4, ACCOUNTING_RESPONSE = 5 };
enum { START = 1, STOP = 2, INTERIM = 3 };
enum { MAX_SLOTS = 1024, PKT_MAX = 4096, CHECK_EVERY = 997 };

typedef struct { char *name, *password; size_t name_len, password_len; } user_t;

typedef struct {
    int fd;
    int busy;              /* a request is outstanding */
    int idle;              /* acct: finished, sends nothing more */
    uint8_t ident;
    uint8_t vector[16];
    uint8_t packet[PKT_MAX];
    size_t len;
    double sent_at;
    int tries;
    /* accounting */
    long session;
    int step;              /* 0 Start, 1 Interim, 2 Stop */
    int acked_any;
    size_t user;
} slot_t;

static struct {
    const char *mode, *host, *users_path, *latencies_path, *label;
    int port, slots, retries;
    double warmup, seconds, timeout;
} opt = {"auth", "127.0.0.1", NULL, NULL, "bench", 0, 32, 0, 1.0, 10.0, 2.0};

static struct {
    long sent, replies, answered_total, accepts, rejects, other, timeouts, stale, forged;
    long checked, missing_ma, missing_rate_limit, retransmits, abandoned;
    long acked[4], sessions_acked, sessions_sent, sessions_stopped;
    double cpu_seconds;
} res;

static user_t *users;
static size_t n_users;
static uint8_t secret[256];
static size_t secret_len;
static MD5_CTX secret_ctx, hmac_inner, hmac_outer;  /* MD5 states with the secret (or HMAC pads) absorbed */
static double *lat;
static size_t lat_len, lat_cap;
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void) {  /* xorshift64*: a fresh authenticator per request, not a secret */
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what) {
    fprintf(stderr, "radload: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(2);
}

static void hmac_md5(const uint8_t *data, size_t len, uint8_t out[16]) {
    MD5_CTX c = hmac_inner;
    uint8_t inner[16];
    MD5_Update(&c, data, len);
    MD5_Final(inner, &c);
    c = hmac_outer;
    MD5_Update(&c, inner, 16);
    MD5_Final(out, &c);
}

static void setup_secret(void) {
    const char *s = getenv("RADLOAD_SECRET");
    uint8_t key[64] = {0}, pad[64];
    if (!s || !*s || strlen(s) > sizeof secret) { errno = 0; die("RADLOAD_SECRET must hold the NAS secret"); }
    secret_len = strlen(s);
    memcpy(secret, s, secret_len);
    MD5_Init(&secret_ctx);
    MD5_Update(&secret_ctx, secret, secret_len);
    if (secret_len > 64) MD5(secret, secret_len, key); else memcpy(key, secret, secret_len);
    for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x36;
    MD5_Init(&hmac_inner); MD5_Update(&hmac_inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = key[i] ^ 0x5c;
    MD5_Init(&hmac_outer); MD5_Update(&hmac_outer, pad, 64);
}

static void load_users(void) {
    FILE *f = fopen(opt.users_path, "r");
    char *line = NULL;
    size_t cap = 0, alloc = 1024;
    ssize_t n;
    if (!f) die("cannot open --users");
    users = malloc(alloc * sizeof *users);
    while ((n = getline(&line, &cap, f)) > 0) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        if (line[n - 1] == '\n') line[--n] = 0;
        *tab = 0;
        if (n_users == alloc) users = realloc(users, (alloc *= 2) * sizeof *users);
        users[n_users].name = strdup(line);
        users[n_users].password = strdup(tab + 1);
        users[n_users].name_len = strlen(line);
        users[n_users].password_len = strlen(tab + 1);
        if (users[n_users].name_len > 253 || users[n_users].password_len > 128) { errno = 0; die("user too long"); }
        n_users++;
    }
    free(line);
    fclose(f);
    if (!n_users) { errno = 0; die("--users holds no user (one 'name<TAB>password' a line)"); }
}

static uint8_t *attr(uint8_t *p, int type, const void *value, size_t len) {
    p[0] = (uint8_t)type; p[1] = (uint8_t)(len + 2);
    memcpy(p + 2, value, len);
    return p + 2 + len;
}

static uint8_t *attr_int(uint8_t *p, int type, uint32_t value) {
    uint32_t be = htonl(value);
    return attr(p, type, &be, 4);
}

static void set_length(uint8_t *pkt, size_t len) { pkt[2] = (uint8_t)(len >> 8); pkt[3] = (uint8_t)len; }

/* RFC 2865: PAP Access-Request with a valid Message-Authenticator (RFC 3579; Blast-RADIUS-strict servers) */
static void build_access_request(slot_t *s, int slot) {
    const user_t *u = &users[rnd() % n_users];
    uint8_t *pkt = s->packet, *p = pkt + 20, hidden[128], *ma;
    uint64_t r1 = rnd(), r2 = rnd();
    size_t plen = u->password_len ? (u->password_len + 15) / 16 * 16 : 16;
    uint32_t nas_ip = htonl(INADDR_LOOPBACK);
    memcpy(s->vector, &r1, 8); memcpy(s->vector + 8, &r2, 8);
    memset(hidden, 0, plen);
    memcpy(hidden, u->password, u->password_len);
    for (size_t i = 0; i < plen; i += 16) {  /* RFC 2865 5.2: b1 = MD5(S + RA), b(i) = MD5(S + c(i-1)) */
        MD5_CTX c = secret_ctx;
        uint8_t key[16];
        MD5_Update(&c, i ? hidden + i - 16 : s->vector, 16);
        MD5_Final(key, &c);
        for (int k = 0; k < 16; k++) hidden[i + k] ^= key[k];
    }
    s->ident++;
    pkt[0] = ACCESS_REQUEST; pkt[1] = s->ident;
    memcpy(pkt + 4, s->vector, 16);
    p = attr(p, 1, u->name, u->name_len);
    p = attr(p, 2, hidden, plen);
    p = attr(p, 4, &nas_ip, 4);
    p = attr_int(p, 5, (uint32_t)slot);
    ma = p + 2;
    p = attr(p, 80, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    s->len = (size_t)(p - pkt);
    set_length(pkt, s->len);
    hmac_md5(pkt, s->len, ma);
}

/* RFC 2866: Request Authenticator = MD5(Code+Identifier+Length+16 zero octets+attributes+secret) */
static void build_accounting_request(slot_t *s, int slot) {
    static const int status_of[3] = {START, INTERIM, STOP};
    int status = status_of[s->step];
    uint8_t *pkt = s->packet, *p = pkt + 20;
    uint32_t nas_ip = htonl(INADDR_LOOPBACK), framed = htonl(0x0A000000u + (uint32_t)(slot % 0xFFFFFF));
    char session_id[128];
    int sid_len = snprintf(session_id, sizeof session_id, "%s-0-%d-%ld", opt.label, slot, s->session);
    const user_t *u = &users[s->user];
    MD5_CTX c;
    s->ident++;
    pkt[0] = ACCOUNTING_REQUEST; pkt[1] = s->ident;
    p = attr_int(p, 40, (uint32_t)status);
    p = attr(p, 1, u->name, u->name_len);
    p = attr(p, 44, session_id, (size_t)sid_len);
    p = attr(p, 4, &nas_ip, 4);
    p = attr_int(p, 5, (uint32_t)slot);
    p = attr(p, 8, &framed, 4);
    p = attr_int(p, 55, (uint32_t)time(NULL));
    if (status != START) {
        p = attr_int(p, 46, (uint32_t)(s->step * 60));
        p = attr_int(p, 42, (uint32_t)(s->step * 1000000));
        p = attr_int(p, 43, (uint32_t)(s->step * 4000000));
    }
    if (status == STOP) p = attr_int(p, 49, 1);  /* User-Request */
    s->len = (size_t)(p - pkt);
    set_length(pkt, s->len);
    memset(pkt + 4, 0, 16);
    MD5_Init(&c);
    MD5_Update(&c, pkt, s->len);
    MD5_Update(&c, secret, secret_len);
    MD5_Final(s->vector, &c);
    memcpy(pkt + 4, s->vector, 16);
}

static int response_authentic(const uint8_t *r, size_t len, const uint8_t vector[16]) {
    MD5_CTX c;
    uint8_t digest[16];
    MD5_Init(&c);
    MD5_Update(&c, r, 4);
    MD5_Update(&c, vector, 16);
    MD5_Update(&c, r + 20, len - 20);
    MD5_Update(&c, secret, secret_len);
    MD5_Final(digest, &c);
    return memcmp(digest, r + 4, 16) == 0;
}

/* every CHECK_EVERY-th reply: a valid Message-Authenticator, and an Accept carries Mikrotik-Rate-Limit */
static void check_reply(const uint8_t *r, size_t len, const uint8_t vector[16]) {
    uint8_t copy[PKT_MAX], mac[16];
    int ma_ok = 0, rate = 0;
    res.checked++;
    memcpy(copy, r, len);
    memcpy(copy + 4, vector, 16);
    for (size_t i = 20; i + 2 <= len && r[i + 1] >= 2; i += r[i + 1]) {
        if (r[i] == 80 && r[i + 1] == 18 && i + 18 <= len) {
            memset(copy + i + 2, 0, 16);
            hmac_md5(copy, len, mac);
            ma_ok = memcmp(mac, r + i + 2, 16) == 0;
        } else if (r[i] == 26 && r[i + 1] >= 8 && i + 8 <= len) {
            uint32_t vendor = (uint32_t)r[i + 2] << 24 | r[i + 3] << 16 | r[i + 4] << 8 | r[i + 5];
            rate |= vendor == 14988 && r[i + 6] == 8;
        }
    }
    res.missing_ma += !ma_ok;
    res.missing_rate_limit += r[0] == ACCESS_ACCEPT && !rate;
}

static void keep_latency(double seconds) {
    if (lat_len == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
        lat = realloc(lat, lat_cap * sizeof *lat);
        if (!lat) die("out of memory");
    }
    lat[lat_len++] = seconds;
}

static slot_t *slots;
static int active;
static double measure_from, measure_to;

static void send_slot(slot_t *s) {
    s->sent_at = now();
    s->busy = 1;
    res.sent++;
    if (send(s->fd, s->packet, s->len, 0) < 0 && errno != ECONNREFUSED && errno != EAGAIN) die("send");
}

static void acct_fire(slot_t *s, int i, int new_packet) {
    if (new_packet) {
        if (s->step == 0) {
            static long sessions;
            s->session = ++sessions;
            s->acked_any = 0;
            s->user = rnd() % n_users;
            res.sessions_sent++;
        }
        build_accounting_request(s, i);
        s->tries = 0;
    } else {
        s->tries++;
        res.retransmits++;
    }
    send_slot(s);
}

static void finish(slot_t *s) { s->busy = 0; s->idle = 1; active--; }

/* acct: after an answer (or giving up), the slot's next packet; a bounded drain once the window is over */
static void acct_advance(slot_t *s, int i, double t) {
    s->step = (s->step + 1) % 3;
    if (t < measure_to || s->step != 0) {
        if (t >= measure_to + opt.timeout * (opt.retries + 1) * 3) { finish(s); return; }
        acct_fire(s, i, 1);
    } else {
        finish(s);
    }
}

static void on_reply(slot_t *s, int i, const uint8_t *r, size_t len, double t) {
    int auth = opt.mode[1] == 'u';
    if (!s->busy || s->idle || len < 20 || r[1] != s->ident || (size_t)(r[2] << 8 | r[3]) != len) {
        res.stale++;
        return;
    }
    if (!auth && r[0] != ACCOUNTING_RESPONSE) { res.stale++; return; }
    if (!response_authentic(r, len, s->vector)) { res.forged++; return; }
    res.answered_total++;
    s->busy = 0;
    int in_window = t >= measure_from && t < measure_to;
    if (in_window) keep_latency(t - s->sent_at);
    if (auth) {
        if (in_window) {
            if (r[0] == ACCESS_ACCEPT) res.accepts++;
            else if (r[0] == ACCESS_REJECT) res.rejects++;
            else res.other++;
            if (lat_len % CHECK_EVERY == 1) check_reply(r, len, s->vector);
        }
        if (t < measure_to) { build_access_request(s, i); send_slot(s); } else finish(s);
        return;
    }
    static const int status_of[3] = {START, INTERIM, STOP};
    res.acked[status_of[s->step]]++;
    if (!s->acked_any) { s->acked_any = 1; res.sessions_acked++; }
    if (s->step == 2) res.sessions_stopped++;
    acct_advance(s, i, t);
}

static void scan_timeouts(double t) {
    int auth = opt.mode[1] == 'u';
    for (int i = 0; i < opt.slots; i++) {
        slot_t *s = &slots[i];
        if (!s->busy || s->idle || t - s->sent_at <= opt.timeout) continue;
        if (auth) {
            if (t >= measure_from && t < measure_to + opt.timeout) res.timeouts++;
            if (t < measure_to) { build_access_request(s, i); send_slot(s); } else finish(s);
        } else {
            res.timeouts++;
            if (s->tries < opt.retries) { acct_fire(s, i, 0); continue; }
            res.abandoned++;
            s->step = 2;  /* give up on this session; the next one starts */
            acct_advance(s, i, t);
        }
    }
}

static int open_slot(int epfd, int i) {
    struct sockaddr_in local = {.sin_family = AF_INET}, remote = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (fd < 0) die("socket");
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    remote.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &remote.sin_addr) != 1) { errno = 0; die("--host must be an IPv4 address"); }
    if (bind(fd, (struct sockaddr *)&local, sizeof local) || connect(fd, (struct sockaddr *)&remote, sizeof remote))
        die("bind/connect");
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev)) die("epoll_ctl");
    return fd;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *sorted, size_t n, double q) {
    if (!n) return -1;
    size_t k = (size_t)(q * n);
    return sorted[k < n ? k : n - 1];
}

static void report(void) {
    if (opt.latencies_path) {
        FILE *f = fopen(opt.latencies_path, "wb");
        if (!f || fwrite(lat, sizeof *lat, lat_len, f) != lat_len || fclose(f)) die("cannot write --latencies");
    }
    qsort(lat, lat_len, sizeof *lat, cmp_double);
    res.replies = (long)lat_len;
    printf("{\"sent\":%ld,\"replies\":%ld,\"answered_total\":%ld,\"accepts\":%ld,\"rejects\":%ld,\"other\":%ld,"
           "\"timeouts\":%ld,\"stale\":%ld,\"forged\":%ld,\"checked\":%ld,\"missing_ma\":%ld,"
           "\"missing_rate_limit\":%ld,\"retransmits\":%ld,\"abandoned\":%ld,\"acked_start\":%ld,"
           "\"acked_interim\":%ld,\"acked_stop\":%ld,\"sessions_acked\":%ld,\"sessions_sent\":%ld,"
           "\"sessions_stopped\":%ld,\"cpu_seconds\":%.6f,\"rate\":%.1f,\"p50_ms\":%.3f,\"p95_ms\":%.3f,"
           "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           res.sent, res.replies, res.answered_total, res.accepts, res.rejects, res.other, res.timeouts, res.stale,
           res.forged, res.checked, res.missing_ma, res.missing_rate_limit, res.retransmits, res.abandoned,
           res.acked[START], res.acked[INTERIM], res.acked[STOP], res.sessions_acked, res.sessions_sent,
           res.sessions_stopped, res.cpu_seconds, lat_len / opt.seconds, pct(lat, lat_len, .50) * 1e3,
           pct(lat, lat_len, .95) * 1e3, pct(lat, lat_len, .99) * 1e3, pct(lat, lat_len, 1.0) * 1e3);
}

static void parse(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { errno = 0; die("every option takes a value"); }
        i++;
        if (!strcmp(k, "--mode")) opt.mode = v;
        else if (!strcmp(k, "--host")) opt.host = v;
        else if (!strcmp(k, "--port")) opt.port = atoi(v);
        else if (!strcmp(k, "--users")) opt.users_path = v;
        else if (!strcmp(k, "--slots")) opt.slots = atoi(v);
        else if (!strcmp(k, "--warmup")) opt.warmup = atof(v);
        else if (!strcmp(k, "--seconds")) opt.seconds = atof(v);
        else if (!strcmp(k, "--timeout")) opt.timeout = atof(v);
        else if (!strcmp(k, "--retries")) opt.retries = atoi(v);
        else if (!strcmp(k, "--label")) opt.label = v;
        else if (!strcmp(k, "--latencies")) opt.latencies_path = v;
        else if (!strcmp(k, "--seed")) rng_state ^= strtoull(v, NULL, 10) * 0x9E3779B97F4A7C15ull;
        else { errno = 0; fprintf(stderr, "radload: unknown option %s\n", k); exit(2); }
    }
    errno = 0;
    if (strcmp(opt.mode, "auth") && strcmp(opt.mode, "acct")) die("--mode is auth or acct");
    if (opt.port <= 0 || opt.port > 65535 || !opt.users_path) die("--port and --users are required");
    if (opt.slots < 1 || opt.slots > MAX_SLOTS) die("--slots must be in [1, 1024]");
    if (opt.seconds <= 0 || opt.warmup < 0 || opt.timeout <= 0 || opt.retries < 0) die("bad timing option");
}

int main(int argc, char **argv) {
    struct epoll_event events[MAX_SLOTS];
    uint8_t buf[PKT_MAX];
    double start_at = 0, next_scan, cpu_start = -1;
    char line[64];
    int epfd, auth;
    parse(argc, argv);
    auth = opt.mode[1] == 'u';
    setup_secret();
    load_users();
    if ((epfd = epoll_create1(0)) < 0) die("epoll_create1");
    slots = calloc((size_t)opt.slots, sizeof *slots);
    for (int i = 0; i < opt.slots; i++) slots[i].fd = open_slot(epfd, i);
    printf("ready\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin)) { errno = 0; die("no start time on stdin"); }
    start_at = atof(line);
    measure_from = start_at + opt.warmup;
    measure_to = measure_from + opt.seconds;
    while (now() < start_at) usleep(1000);
    for (int i = 0; i < opt.slots; i++) {
        if (auth) build_access_request(&slots[i], i); else acct_fire(&slots[i], i, 1);
        if (auth) send_slot(&slots[i]);
    }
    active = opt.slots;
    next_scan = now() + 0.05;
    while (active > 0) {
        int n = epoll_wait(epfd, events, opt.slots, 50);
        double t = now();
        if (n < 0 && errno != EINTR) die("epoll_wait");
        if (cpu_start < 0 && t >= measure_from) cpu_start = cpu_now();
        for (int e = 0; e < n; e++) {
            int i = (int)events[e].data.u32;
            ssize_t len;
            while ((len = recv(slots[i].fd, buf, sizeof buf, 0)) >= 0) on_reply(&slots[i], i, buf, (size_t)len, t);
        }
        if (t >= next_scan) { next_scan = t + 0.05; scan_timeouts(t); }
        if (cpu_start >= 0 && t >= measure_to && res.cpu_seconds == 0) res.cpu_seconds = cpu_now() - cpu_start;
    }
    if (cpu_start >= 0 && res.cpu_seconds == 0) res.cpu_seconds = cpu_now() - cpu_start;
    report();
    return 0;
}
