/* The C client as the benchmarks drive it (issue 18): `micro_client_call` (asynchronous, its
 * callback on a dispatch thread) with C calls in flight, each starting from the callback of
 * the one before it, against Greeter.Hello at ADDR (no registry, no retries); or, with
 * `--sync`, `micro_client_call_sync` from C threads. Prints one JSON line in loadgen's
 * format: requests, errors, seconds, rate, p50_us, p99_us, p999_us over the calls that
 * started after the warm-up.
 *
 * Usage: client --addr H:P [--c 1] [--d 2] [--warmup 0.5] [--sync]
 * Build: cc -O2 -Iinclude bench/c/client.c -LDIR -lmicro -lpthread -o client */
#define _POSIX_C_SOURCE 200809L
#include <micro.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SAMPLES (1 << 23)
#define BODY "{\"name\":\"bench\"}"
#define WANT "\"message\":\"Hello bench\""

static micro_client *cli;
static micro_call_options *opts;
static double t_start, t_end;
static uint32_t *lat_ns;           /* one per timed call */
static atomic_size_t n_lat;        /* samples taken */
static atomic_long n_err;          /* timed calls that failed or answered wrong */
static atomic_int live;            /* async chains still running */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int good(const micro_message *m) {
    micro_bytes b = micro_message_body(m);
    const char *want = WANT;
    size_t w = strlen(want);
    for (size_t i = 0; i + w <= b.len; i++)
        if (memcmp(b.ptr + i, want, w) == 0) return 1;
    return 0;
}

static void record(double began, int ok) {
    if (began < t_start) return;
    size_t k = atomic_fetch_add(&n_lat, 1);
    if (k < MAX_SAMPLES) lat_ns[k] = (uint32_t)((now() - began) * 1e9);
    if (!ok) atomic_fetch_add(&n_err, 1);
}

/* One chain of calls: each call's callback records it and starts the next. */
typedef struct { double began; } chain;

static int start_call(chain *ch);

static void on_done(void *ud, micro_status st, const micro_message *rsp, const micro_error *err) {
    (void)err;
    chain *ch = ud;
    record(ch->began, st == MICRO_STATUS_OK && good(rsp));
    if (start_call(ch) != 0) {
        pthread_mutex_lock(&mu);
        if (atomic_fetch_sub(&live, 1) == 1) pthread_cond_signal(&all_done);
        pthread_mutex_unlock(&mu);
    }
}

/* Starts ch's next call; nonzero when the run is over (or the call could not start). */
static int start_call(chain *ch) {
    ch->began = now();
    if (ch->began >= t_end) return 1;
    micro_bytes body = {(const uint8_t *)BODY, strlen(BODY)};
    if (micro_client_call(cli, "greeter", "Greeter.Hello", body, opts, NULL, on_done, ch) != MICRO_STATUS_OK) {
        atomic_fetch_add(&n_err, 1);
        return 1;
    }
    return 0;
}

static void *sync_worker(void *arg) {
    (void)arg;
    micro_bytes body = {(const uint8_t *)BODY, strlen(BODY)};
    for (;;) {
        double began = now();
        if (began >= t_end) return NULL;
        micro_message *rsp = NULL;
        micro_error *err = NULL;
        micro_status st = micro_client_call_sync(cli, "greeter", "Greeter.Hello", body, opts, &rsp, &err);
        record(began, st == MICRO_STATUS_OK && good(rsp));
        micro_message_free(rsp);
        micro_error_free(err);
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *addr = NULL;
    int c = 1, sync = 0;
    double d = 2, warmup = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sync")) sync = 1;
        else if (i + 1 < argc && !strcmp(argv[i], "--addr")) addr = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--c")) c = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--d")) d = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--warmup")) warmup = atof(argv[++i]);
        else { fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
    }
    if (!addr || c < 1) { fprintf(stderr, "usage: client --addr H:P [--c N] [--d S] [--warmup S] [--sync]\n"); return 2; }
    lat_ns = malloc(sizeof *lat_ns * MAX_SAMPLES);
    micro_runtime *rt = NULL; micro_registry *reg = NULL; micro_client_options *co = NULL; micro_error *err = NULL;
    if (!lat_ns || micro_runtime_new(NULL, &rt, &err) != MICRO_STATUS_OK ||
        micro_registry_new(rt, "memory", &reg, &err) != MICRO_STATUS_OK) {
        fprintf(stderr, "setup failed: %s\n", err ? micro_error_detail(err).ptr : "out of memory");
        return 1;
    }
    co = micro_client_options_new(); /* the default pool (100 idle connections) */
    if (micro_client_new(rt, reg, co, &cli, &err) != MICRO_STATUS_OK) {
        fprintf(stderr, "client: %s\n", micro_error_detail(err).ptr);
        return 1;
    }
    opts = micro_call_options_new();
    micro_call_options_add_address(opts, addr);
    micro_call_options_set_retries(opts, 0);
    double t0 = now();
    t_start = t0 + warmup;
    t_end = t_start + d;
    if (sync) {
        pthread_t *th = calloc((size_t)c, sizeof *th);
        for (int i = 0; i < c; i++) pthread_create(&th[i], NULL, sync_worker, NULL);
        for (int i = 0; i < c; i++) pthread_join(th[i], NULL);
        free(th);
    } else {
        chain *chains = calloc((size_t)c, sizeof *chains);
        atomic_store(&live, c);
        pthread_mutex_lock(&mu);
        for (int i = 0; i < c; i++)
            if (start_call(&chains[i]) != 0) atomic_fetch_sub(&live, 1);
        while (atomic_load(&live) > 0) pthread_cond_wait(&all_done, &mu);
        pthread_mutex_unlock(&mu);
        free(chains);
    }
    size_t n = atomic_load(&n_lat);
    if (n > MAX_SAMPLES) n = MAX_SAMPLES;
    qsort(lat_ns, n, sizeof *lat_ns, cmp_u32);
#define PCT(p) (n ? lat_ns[(size_t)((double)(n - 1) * (p))] / 1e3 : 0.0)
    printf("{\"requests\":%zu,\"errors\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"p50_us\":%.3f,\"p99_us\":%.3f,\"p999_us\":%.3f}\n",
           n, atomic_load(&n_err), d, (double)n / d, PCT(0.5), PCT(0.99), PCT(0.999));
    micro_call_options_free(opts);
    micro_client_options_free(co);
    micro_client_free(cli);
    micro_registry_free(reg);
    micro_runtime_shutdown(rt, 2000);
    micro_runtime_free(rt);
    free(lat_ns);
    return 0;
}
